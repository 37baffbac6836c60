"""Saving and resuming training: ``Checkpoint``, ``TrainEndCheckpoint``, ``LoadInitState``.

Each save is one atomic set: the files are written into a fresh version directory
and a manifest naming the epoch, the files and their checksums is switched into
place last (see :mod:`sktorch._checkpoint_store`). Loading verifies the set and
never mixes files of different saves; a crash at any moment leaves the previous set.
"""

from __future__ import annotations

import io
import os
import warnings
from typing import Any, Callable, Union

from sktorch._checkpoint_store import CheckpointStore, LoadedCheckpoint
from sktorch._divergence import weights_finite
from sktorch._param_files import decode_history, read_bytes
from sktorch.callbacks.base import Callback
from sktorch.callbacks.training import check_monitor_has_data, noop, read_monitor
from sktorch.exceptions import SktorchWarning

__all__ = ["Checkpoint", "TrainEndCheckpoint", "LoadInitState"]

_FILE_KEYS = ("f_params", "f_optimizer", "f_criterion", "f_history", "f_pickle")
Target = Union[str, os.PathLike, Any, None]


def _is_file(f: Any) -> bool:
    return hasattr(f, "write") or hasattr(f, "read")


class _FileSaver(Callback):
    """File naming, argument checks, saving and reading shared by the checkpoint callbacks."""

    event_name: str | None = None
    _extra_keys: tuple = ()

    def _set_extra_files(self, kwargs: dict) -> None:
        """Store ``f_<name>=...`` arguments (any fitted attribute ``<name>_``)."""
        for key, value in kwargs.items():
            if not key.startswith("f_"):
                raise TypeError(
                    f"{type(self).__name__} got an unexpected argument {key!r}. Files to "
                    f"save are named f_<attribute>, e.g. f_{key}=... saves the net's {key}_."
                )
            setattr(self, key, value)
        self._extra_keys = tuple(kwargs)

    def get_params(self, deep: bool = True) -> dict:
        params = super().get_params(deep=deep)
        params.update({key: getattr(self, key) for key in self._extra_keys})
        return params

    def set_params(self, **params) -> Any:
        extra = {k: v for k, v in params.items() if k.startswith("f_") and (
            k not in self._get_param_names())}
        for key, value in extra.items():
            setattr(self, key, value)
            if key not in self._extra_keys:
                self._extra_keys = (*self._extra_keys, key)
        return super().set_params(**{k: v for k, v in params.items() if k not in extra})

    def _file_keys(self) -> tuple:
        return _FILE_KEYS + tuple(k for k in self._extra_keys if k not in _FILE_KEYS)

    def _targets(self) -> dict[str, Target]:
        return {k: getattr(self, k) for k in self._file_keys() if getattr(self, k) is not None}

    def _check_arguments(self) -> None:
        """skorch's checks of the file arguments, with messages that say what to write."""
        owner = type(self).__name__
        for key, f in self._targets().items():
            if not isinstance(f, (str, os.PathLike)) and not _is_file(f):
                raise TypeError(
                    f"{owner}({key}={f!r}): expected a file name, a path, a file object or "
                    f"None, got {type(f).__name__}."
                )
            if _is_file(f) and self.dirname:
                raise ValueError(
                    f"{owner} got dirname={self.dirname!r} together with a file object for "
                    f"{key}; dirname only applies to file names. Pass file names (e.g. "
                    f"{key}='params.pt'), or leave dirname='' when saving to file objects."
                )

    def initialize(self) -> Any:
        self._check_arguments()
        self._log_ = None  # where the history log continues (appends only new epochs)
        return self

    def on_train_begin(self, net, **kwargs) -> None:
        for key in self._extra_keys:  # unknown f_<name>: fail now, not after an epoch
            if getattr(self, key) is not None:
                net._part(key)

    def _store(self) -> CheckpointStore:
        return CheckpointStore(self.dirname, self.fn_prefix)

    def _join(self, f: Target, row: dict, net: Any) -> Target:
        if f is None or _is_file(f):
            return f
        name = self.fn_prefix + os.fspath(f)
        if "{" in name:
            batches = row.get("batches") or [{}]
            try:
                name = name.format(last_epoch=row, last_batch=batches[-1], net=net)
            except (KeyError, IndexError) as exc:
                raise ValueError(
                    f"{type(self).__name__} cannot fill in the file name {name!r}: the "
                    f"history has no {exc} for it. Load the history first (e.g. "
                    "net.load_params(f_history=...)) or use a name without format fields."
                ) from None
        return os.path.join(self.dirname, name) if self.dirname else name

    def _history_rows(self, net: Any) -> list:
        """The net's history, or the saved one when the net has none yet (a fresh net)."""
        if net is not None and len(net.history):
            return list(net.history)
        if self.f_history is None or _is_file(self.f_history):
            return []
        store = self._store()
        if store.exists():
            loaded = store.load(keys=("f_history",))
            return loaded.history or []
        f = self.f_history
        if "{" not in self.fn_prefix + os.fspath(f):  # a directory skorch (or we) wrote
            path = self._join(f, {}, net)
            if os.path.exists(path):
                return decode_history(read_bytes(path, "history"), path)
        return []

    def _checkpoint_row(self, net: Any) -> dict:
        """The history row of the latest checkpoint (the last row if none is marked)."""
        rows = self._history_rows(net)
        if self.event_name is not None:
            for row in reversed(rows):
                if row.get(self.event_name):
                    return row
        return rows[-1] if rows else {}

    def get_formatted_files(self, net: Any) -> dict[str, Target]:
        """Paths (or file objects) of the latest checkpoint's files, ``None`` where unused.

        The keys are ``f_params``, ``f_optimizer``, ``f_criterion``, ``f_history``,
        ``f_pickle`` and any ``f_<name>``. The paths are the plain-named links to the
        newest saved set; ``net.load_params(checkpoint=cp)`` reads the set itself,
        verified, through the manifest.
        """
        row = self._checkpoint_row(net)
        return {key: self._join(getattr(self, key), row, net) for key in self._file_keys()}

    def save_model(self, net: Any) -> None:
        """Write the net's files now, as one atomic set."""
        targets = self._targets()
        row = net.history[-1] if len(net.history) else {}
        paths = {k: self._join(f, row, net) for k, f in targets.items() if not _is_file(f)}
        objects = {k: f for k, f in targets.items() if _is_file(f)}
        # Serialize everything before writing anything (a value that cannot be saved,
        # e.g. an object in the history, fails here and leaves the old files).
        encode = [k for k in targets if k != "f_history" or k in objects]
        parts = net._encode_parts(encode, self.use_safetensors)
        if paths:
            history = net.history if "f_history" in paths else None
            epoch = int(row.get("epoch", len(net.history))) if row else 0
            self._log_ = self._store().save(
                {k: (p, parts[k]) for k, p in paths.items() if k != "f_history"},
                history, getattr(self, "_log_", None), net._data_attributes(), epoch,
                self.use_safetensors, history_view=paths.get("f_history"))
        for key, f in objects.items():  # file objects: overwritten from the start
            f.seek(0)
            f.truncate()
            data = parts[key]
            f.write(data.decode() if isinstance(f, io.TextIOBase) else data)
            if hasattr(f, "flush"):
                f.flush()

    def read_checkpoint(self, net: Any, keys: Any = None) -> LoadedCheckpoint | None:
        """The newest complete saved set (``None`` when nothing was saved yet).

        Files in the checkpoint directory are read through its manifest and verified
        against their checksums; file objects are read from their start.
        """
        targets = {k: f for k, f in self._targets().items() if keys is None or k in keys}
        paths = {k for k, f in targets.items() if not _is_file(f)}
        loaded = None
        if paths:
            loaded = self._store().load(keys=paths)
            if loaded is None:
                loaded = self._read_plain_files(net, paths)
        for key, f in targets.items():
            if not _is_file(f):
                continue
            f.seek(0)
            data = f.read()
            if not data:
                continue  # nothing saved into it yet
            loaded = loaded or LoadedCheckpoint(0, {}, {}, None, {})
            if key == "f_history":
                loaded.history = decode_history(data, f)
            else:
                loaded.files[key] = data if isinstance(data, bytes) else data.encode()
                loaded.paths[key] = f
        if loaded is not None and "f_params" in targets and "f_params" not in loaded.files:
            return None  # e.g. an empty file object: no weights were saved yet
        return loaded

    def _read_plain_files(self, net: Any, keys: set) -> LoadedCheckpoint | None:
        """Files without a manifest (written by skorch): read as they are, unverified."""
        names = [getattr(self, k) for k in keys]
        if any(isinstance(f, str) and "{" in f for f in names) and not (
                self._checkpoint_row(net)):
            return None  # the names need a saved history, and there is none
        files = self.get_formatted_files(net)
        if "f_params" in keys and not os.path.exists(files["f_params"]):
            return None
        loaded = LoadedCheckpoint(0, {}, {}, None, {}, use_safetensors=self.use_safetensors)
        for key in keys:
            path = files[key]
            if not os.path.exists(path):
                continue
            if key == "f_history":
                loaded.history = decode_history(read_bytes(path, "history"), path)
            elif key != "f_pickle":
                loaded.files[key] = read_bytes(path, key)
                loaded.paths[key] = path
        return loaded if (loaded.files or loaded.history is not None) else None

    def _weights_finite(self, net: Any) -> bool:
        """False, with a warning, when the weights are NaN or infinite (nothing is written)."""
        if weights_finite(net.module_):
            return True
        warnings.warn(
            f"{type(self).__name__} did not save: the module's weights are NaN or "
            "infinite. The files it wrote before are kept.",
            SktorchWarning,
            stacklevel=4,
        )
        return False

    def _sink(self, text: str, verbose: Any) -> None:
        if verbose:
            self.sink(text)


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
    set is kept as a fallback, older ones are removed. The weights, optimizer,
    criterion and pickle files also appear under their plain names
    (``params.pt``, ...; hard links to the newest set), as in skorch. The history
    is kept as an append-only log in the store, so a save costs the new epochs
    only; ``net.load_params(f_history='<dirname>/history.json')`` still finds it.

    **Parallel fits.** Files go where ``dirname``, ``fn_prefix`` and the ``f_*``
    names say, as in skorch, so clones of one net (``GridSearchCV(n_jobs=2)``,
    ``cross_val_score``) share one checkpoint. Saves into one directory take turns
    (a file lock, where the platform has ``fcntl``) and each is a whole set, but the
    last writer wins. To keep each candidate's checkpoint, give it its own place,
    e.g. put ``callbacks__checkpoint__dirname`` in the parameter grid, or
    checkpoint only the final refit.

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
        loaded = self.read_checkpoint(net, keys=keys)
        if loaded is None or not loaded.files:
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
        loaded = self.checkpoint.read_checkpoint(net)
        if loaded is None:
            return  # nothing saved yet: train from scratch
        if self.use_safetensors and not loaded.from_manifest:
            loaded.use_safetensors = True  # plain files: the format cannot be read from them
        net._check_same_data(loaded.attributes, f"The checkpoint in "
                             f"{getattr(self.checkpoint, 'dirname', '')!r}")
        net._load_checkpoint(loaded, {})
