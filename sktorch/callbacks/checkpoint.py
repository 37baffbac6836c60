"""Saving and resuming training: ``Checkpoint``, ``TrainEndCheckpoint``, ``LoadInitState``.

Each save is one atomic set: the files are written into a fresh version directory
and a manifest naming the epoch, the files and their checksums is switched into
place last (see :mod:`sktorch._checkpoint_store`). Loading verifies the set and
never mixes files of different saves; a crash at any moment leaves the previous set.
"""

from __future__ import annotations

import os
from typing import Any, Callable, Union

from sktorch._warnings import warn_user
from sktorch.callbacks._file_saver import Target, _FileSaver
from sktorch.callbacks.base import Callback
from sktorch.callbacks.training import check_monitor_has_data, noop, read_monitor
from sktorch.exceptions import SktorchWarning

__all__ = ["Checkpoint", "TrainEndCheckpoint", "LoadInitState"]


class Checkpoint(_FileSaver):
    """Save the model whenever the monitored value is true, e.g. at each best epoch.

    After each epoch, if ``monitor`` is true for it, the module's weights, the
    optimizer's and criterion's state and the history are written as one atomic
    set, and ``event_name`` records ``True`` or ``False`` in the history.
    ``net.load_params(checkpoint=cp)`` and :class:`LoadInitState` load the newest
    complete set, verified against its checksums, also after a crash at any moment.

    Parameters
    ----------
    monitor : str, callable or None, default='valid_loss_best'
        A history key holding a bool (``'valid_loss_best'``, ``'train_loss_best'``,
        ``'<score>_best'``), ``monitor(net) -> bool``, or ``None`` to save every epoch.
    f_params, f_optimizer, f_criterion, f_history : str, path, file or None
        Where to save the weights, the optimizer state, the criterion state and the
        history; ``None`` skips that part. Names may contain format fields
        filled in from the last history row and the net, e.g.
        ``'params_{last_epoch[epoch]}.pt'``. A file object is overwritten from its
        start at each save (and is not part of the atomic set); with file objects
        leave ``dirname=''``.
    f_pickle : str, path, file or None, default=None
        Also pickle the whole net there.
    **kwargs
        ``f_<name>=...`` saves any other fitted attribute ``<name>_`` that has a
        ``state_dict`` (e.g. ``f_module2='module2.pt'`` for ``module2_``).
    fn_prefix : str, default=''
        Prefix of every file name.
    dirname : str, default=''
        Directory of the files (created when needed); ``''`` is the working directory.
    event_name : str or None, default='event_cp'
        History key recording whether a checkpoint was saved in each epoch.
    sink : callable, default=noop
        Receives a message at each save when the net is verbose (e.g. ``print``).
    load_best : bool, default=False
        At the end of training, load the weights (module and criterion) of the last
        checkpoint, i.e. of the best epoch with the default ``monitor``. The history
        and optimizer are kept as they are.
    use_safetensors : bool, default=False
        Save weights in the safetensors format (the optimizer state keeps torch's
        format, read back with ``weights_only=True``).

    Notes
    -----
    **Layout.** A save writes its files into a fresh directory under
    ``dirname/.sktorch/`` and then replaces ``dirname/<fn_prefix>manifest.json``,
    which names the epoch, the files and their SHA-256 checksums; the previous
    set is kept as a fallback, older ones are removed. The files also appear
    under their plain names (``params.pt``, ...; hard links to the newest set),
    as in skorch, and :meth:`get_formatted_files` names them. The history is kept
    as an append-only log in the store; its plain ``history.json`` (a JSON list)
    grows by the new epochs at each save, so a save costs the new epochs only.
    ``net.load_params(f_history='<dirname>/history.json')`` reads the store's copy.

    **Sharing a directory.** Checkpoints of one net may share a directory and
    prefix when their weights files differ (e.g. ``f_params='best.pt'`` with the
    default monitor and ``f_params='last.pt'`` with ``monitor=None``): the manifest
    keeps each one's sets apart. Two that would write the same weights file fail
    before training, asking for their own ``fn_prefix`` or ``dirname``.

    **Parallel fits.** Files go where ``dirname``, ``fn_prefix`` and the ``f_*``
    names say, as in skorch, so clones of one net (``GridSearchCV(n_jobs=2)``,
    ``cross_val_score``) share one checkpoint. Saves into one directory take turns
    (a file lock, where the platform has ``fcntl``) and each is a whole set, but the
    last writer wins: a fit warns when another saved into its files meanwhile, and
    ``load_best`` loads only its own fit's set (or warns that it is gone). To keep
    each candidate's checkpoint, give it its own place, e.g. put
    ``callbacks__checkpoint__dirname`` in the parameter grid, or checkpoint only
    the final refit.

    Examples
    --------
    >>> import os, tempfile, numpy as np
    >>> from sktorch import NeuralNetRegressor
    >>> from sktorch.callbacks import Checkpoint
    >>> X = np.random.RandomState(0).randn(60, 3).astype('float32'); y = X[:, 0]
    >>> cp = Checkpoint(dirname=tempfile.mkdtemp(), f_params='params_{last_epoch[epoch]}.pt')
    >>> net = NeuralNetRegressor(max_epochs=3, verbose=0, callbacks=[cp]).fit(X, y)
    >>> sum(net.history[:, 'event_cp']) >= 1
    True
    >>> os.path.exists(cp.get_formatted_files(net)['f_params'])
    True
    """

    def __init__(
        self,
        monitor: Union[str, Callable, None] = "valid_loss_best",
        f_params: Target = "params.pt",
        f_optimizer: Target = "optimizer.pt",
        f_criterion: Target = "criterion.pt",
        f_history: Target = "history.json",
        f_pickle: Target = None,
        fn_prefix: str = "",
        dirname: str = "",
        event_name: str | None = "event_cp",
        sink: Callable = noop,
        load_best: bool = False,
        use_safetensors: bool = False,
        **kwargs: Target,
    ):
        self.monitor = monitor
        self.f_params = f_params
        self.f_optimizer = f_optimizer
        self.f_criterion = f_criterion
        self.f_history = f_history
        self.f_pickle = f_pickle
        self.fn_prefix = fn_prefix
        self.dirname = dirname
        self.event_name = event_name
        self.sink = sink
        self.load_best = load_best
        self.use_safetensors = use_safetensors
        self._set_extra_files(kwargs)

    def initialize(self) -> Checkpoint:
        super().initialize()
        if not (self.monitor is None or isinstance(self.monitor, str) or callable(self.monitor)):
            raise TypeError(
                f"Checkpoint(monitor={self.monitor!r}): expected a history key (e.g. "
                "'valid_loss_best'), a callable monitor(net) -> bool, or None to save every "
                f"epoch; got {type(self.monitor).__name__}."
            )
        self.n_saved_ = 0
        return self

    def on_train_begin(self, net, **kwargs) -> None:
        check_monitor_has_data(net, self.monitor, "Checkpoint")
        super().on_train_begin(net, **kwargs)

    def on_epoch_end(self, net, **kwargs) -> None:
        if self.monitor is None:
            do_save = True
        else:
            do_save = bool(read_monitor(net, self.monitor, "Checkpoint"))
        # With on_nan='raise' a diverged last step shows only in the next epoch's loss:
        # never replace a saved checkpoint by non-finite weights meanwhile.
        do_save = do_save and self._weights_finite(net)
        if self.event_name is not None:  # before saving, so the saved history has it
            net.history.record(self.event_name, do_save)
        if do_save:
            self.save_model(net)
            self.n_saved_ += 1
            self._sink(f"A checkpoint was saved at epoch {len(net.history)}.", net.verbose)

    def on_train_end(self, net, **kwargs) -> None:
        if not self.load_best or self.monitor is None or not self.n_saved_:
            return
        keys = ("f_params", "f_criterion")
        loaded = self.read_checkpoint(net, keys=keys, owner=getattr(self, "_owner_", None))
        if loaded is None or not loaded.files:
            if self._place() is None or not isinstance(self.f_params, (str, os.PathLike)):
                return  # nothing in a manifest to find
            warn_user(
                f"Checkpoint(load_best=True, dirname={self.dirname!r}) did not load the "
                "best weights: another fit saved into the same checkpoint files since, and "
                "this fit's sets are gone. The net keeps its last epoch's weights. Give "
                "each fit its own dirname (or fn_prefix).",
                SktorchWarning,
            )
            return
        self._sink("Loading the best checkpoint's weights after training.", net.verbose)
        net._load_checkpoint(loaded, {})


class TrainEndCheckpoint(_FileSaver):
    """Save the model once, when training ends.

    Parameters are as for :class:`Checkpoint` (without ``monitor``, ``event_name``
    and ``load_best``); file names get the prefix ``'train_end_'`` by default.

    Examples
    --------
    >>> import os, tempfile, numpy as np
    >>> from sktorch import NeuralNetRegressor
    >>> from sktorch.callbacks import TrainEndCheckpoint
    >>> X = np.random.RandomState(0).randn(60, 3).astype('float32'); y = X[:, 0]
    >>> cp = TrainEndCheckpoint(dirname=tempfile.mkdtemp())
    >>> net = NeuralNetRegressor(max_epochs=2, verbose=0, callbacks=[cp]).fit(X, y)
    >>> os.path.basename(cp.get_formatted_files(net)['f_params'])
    'train_end_params.pt'
    """

    def __init__(
        self,
        f_params: Target = "params.pt",
        f_optimizer: Target = "optimizer.pt",
        f_criterion: Target = "criterion.pt",
        f_history: Target = "history.json",
        f_pickle: Target = None,
        fn_prefix: str = "train_end_",
        dirname: str = "",
        use_safetensors: bool = False,
        sink: Callable = noop,
        **kwargs: Target,
    ):
        self.f_params = f_params
        self.f_optimizer = f_optimizer
        self.f_criterion = f_criterion
        self.f_history = f_history
        self.f_pickle = f_pickle
        self.fn_prefix = fn_prefix
        self.dirname = dirname
        self.use_safetensors = use_safetensors
        self.sink = sink
        self._set_extra_files(kwargs)

    def on_train_end(self, net, **kwargs) -> None:
        if getattr(net, "module_", None) is None or not self._weights_finite(net):
            return  # e.g. training diverged: the last good files stay
        self.save_model(net)
        self._sink("The final model was saved.", net.verbose)


class LoadInitState(Callback):
    """Start training from a checkpoint's saved state, when it exists.

    At the beginning of a fit, if the checkpoint has saved a set, its weights,
    optimizer and criterion state, history and data attributes are loaded, so
    training continues where the checkpoint left off: the history keeps the old
    epochs and the new epochs continue their numbering. Only a complete set,
    verified against the checksums in its manifest, is loaded: after a crash
    mid-save the previous set is; a set that cannot be verified raises instead of
    being mixed with another. Without a saved set, training starts from scratch
    (a directory written by skorch, without a manifest, is read as it is). It
    loads once per fit (not again in ``partial_fit``).

    Parameters
    ----------
    checkpoint : Checkpoint or TrainEndCheckpoint
        Names the files to load (typically the same instance that saves them).
    use_safetensors : bool, default=False
        Read weights in the safetensors format (also when the checkpoint says so).

    Examples
    --------
    >>> import tempfile, numpy as np
    >>> from sktorch import NeuralNetRegressor
    >>> from sktorch.callbacks import Checkpoint, LoadInitState
    >>> X = np.random.RandomState(0).randn(60, 3).astype('float32'); y = X[:, 0]
    >>> cp = Checkpoint(monitor=None, dirname=tempfile.mkdtemp())
    >>> def make_net():
    ...     return NeuralNetRegressor(max_epochs=2, verbose=0, random_state=0,
    ...                               callbacks=[cp, LoadInitState(cp)])
    >>> make_net().fit(X, y).history[:, 'epoch']
    [1, 2]
    >>> make_net().fit(X, y).history[:, 'epoch']
    [1, 2, 3, 4]
    """

    def __init__(self, checkpoint: Any, use_safetensors: bool = False):
        self.checkpoint = checkpoint
        self.use_safetensors = use_safetensors

    def initialize(self) -> LoadInitState:
        self.did_load_ = False
        return self

    def on_train_begin(self, net, **kwargs) -> None:
        if self.did_load_:
            return
        self.did_load_ = True
        if "f_params" not in self.checkpoint._targets():
            # Its history and optimizer state would continue on untrained weights.
            owner = type(self.checkpoint).__name__
            raise ValueError(
                f"LoadInitState needs the checkpoint's weights, but {owner} has "
                "f_params=None: resuming would continue its history and "
                "optimizer state with freshly initialized weights. Save the weights (e.g. "
                "f_params='params.pt'); to restore a whole pickled net, use "
                "pickle.load on its f_pickle file instead."
            )
        self.checkpoint._check_directories()  # it may come after this callback
        loaded = self.checkpoint.read_checkpoint(net)
        if loaded is None:
            return  # nothing saved yet: train from scratch
        if self.use_safetensors and not loaded.from_manifest:
            loaded.use_safetensors = True  # plain files: the format cannot be read from them
        net._check_same_data(loaded.attributes, f"The checkpoint in "
                             f"{getattr(self.checkpoint, 'dirname', '')!r}")
        net._load_checkpoint(loaded, {})
