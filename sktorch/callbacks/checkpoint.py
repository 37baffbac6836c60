"""Saving and resuming training: ``Checkpoint``, ``TrainEndCheckpoint``, ``LoadInitState``.

Every file is written atomically (to a temporary file beside the target, then
renamed into place), so a crash or a concurrent writer never leaves a half-written
checkpoint file.
"""

from __future__ import annotations

import json
import os
import pickle
import warnings
from pathlib import Path
from typing import Any, Callable, Union

from sktorch._divergence import weights_finite
from sktorch.callbacks.base import Callback
from sktorch.callbacks.training import check_monitor_has_data, noop, read_monitor
from sktorch.exceptions import SktorchWarning
from sktorch.persistence import atomic_write

__all__ = ["Checkpoint", "TrainEndCheckpoint", "LoadInitState"]

_FILE_KEYS = ("f_params", "f_optimizer", "f_criterion", "f_history", "f_pickle")
Target = Union[str, os.PathLike, Any, None]


class _FileSaver(Callback):
    """File naming and saving shared by the checkpoint callbacks."""

    event_name: str | None = None

    def _join(self, f: Target, row: dict, net: Any) -> Target:
        if f is None or hasattr(f, "write") or hasattr(f, "read"):
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
        f = self.f_history
        if isinstance(f, (str, os.PathLike)) and "{" not in self.fn_prefix + os.fspath(f):
            path = self._join(f, {}, net)
            if os.path.exists(path):
                return json.loads(Path(path).read_text())
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

        The keys are ``f_params``, ``f_optimizer``, ``f_criterion``, ``f_history`` and
        ``f_pickle``; ``net.load_params(checkpoint=cp)`` reads them.
        """
        row = self._checkpoint_row(net)
        return {key: self._join(getattr(self, key), row, net) for key in _FILE_KEYS}

    def save_model(self, net: Any) -> None:
        """Write the net's files now (each one atomically)."""
        files = self.get_formatted_files(net)
        # Weights may use safetensors; the optimizer's state always uses torch's format.
        net.save_params(f_params=files["f_params"], f_criterion=files["f_criterion"],
                        use_safetensors=self.use_safetensors)
        net.save_params(f_optimizer=files["f_optimizer"], f_history=files["f_history"])
        f_pickle = files["f_pickle"]
        if f_pickle is not None:
            if hasattr(f_pickle, "write"):
                pickle.dump(net, f_pickle)
            else:
                with atomic_write(f_pickle) as handle:
                    pickle.dump(net, handle)

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
    optimizer's and criterion's state and the history are written (each file
    atomically), and ``event_name`` records ``True`` or ``False`` in the history.
    ``net.load_params(checkpoint=cp)`` loads the latest checkpoint again.

    Parameters
    ----------
    monitor : str, callable or None, default='valid_loss_best'
        A history key holding a bool (``'valid_loss_best'``, ``'train_loss_best'``,
        ``'<score>_best'``), ``monitor(net) -> bool``, or ``None`` to save every epoch.
    f_params, f_optimizer, f_criterion, f_history : str, path, file or None
        Where to save the weights, the optimizer state, the criterion state and the
        history (JSON); ``None`` skips that part. Names may contain format fields
        filled in from the last history row and the net, e.g.
        ``'params_{last_epoch[epoch]}.pt'``.
    f_pickle : str, path, file or None, default=None
        Also pickle the whole net there.
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
    **Parallel fits.** Files go exactly where ``dirname``, ``fn_prefix`` and the
    ``f_*`` names say, as in skorch, so clones of one net (``GridSearchCV(n_jobs=2)``,
    ``cross_val_score``) share the same files. Each file is replaced atomically, so
    no fit ever reads or leaves a half-written or interleaved file, but the last
    writer wins, and a set of files may then come from different clones. To keep
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

    def initialize(self) -> Checkpoint:
        self.n_saved_ = 0
        return self

    def on_train_begin(self, net, **kwargs) -> None:
        check_monitor_has_data(net, self.monitor, "Checkpoint")

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
        files = self.get_formatted_files(net)
        if files["f_params"] is None and files["f_criterion"] is None:
            return
        self._sink("Loading the best checkpoint's weights after training.", net.verbose)
        net.load_params(f_params=files["f_params"], f_criterion=files["f_criterion"],
                        use_safetensors=self.use_safetensors)


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

    def on_train_end(self, net, **kwargs) -> None:
        if getattr(net, "module_", None) is None or not self._weights_finite(net):
            return  # e.g. training diverged: the last good files stay
        self.save_model(net)
        self._sink("The final model was saved.", net.verbose)


class LoadInitState(Callback):
    """Start training from a checkpoint's saved state, when it exists.

    At the beginning of a fit, if the checkpoint's weights file exists, the
    weights, optimizer and criterion state and the history are loaded, so training
    continues where the checkpoint left off: the history keeps the old epochs and
    the new epochs continue their numbering. Without the files, training starts
    from scratch. It loads once per fit (not again in ``partial_fit``).

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
        names = [getattr(self.checkpoint, k) for k in _FILE_KEYS]
        templated = any(isinstance(f, str) and "{" in f for f in names)
        if templated and not self.checkpoint._checkpoint_row(net):
            return  # the names need a saved history, and there is none: nothing to resume
        files = self.checkpoint.get_formatted_files(net)
        if not _exists(files["f_params"]):
            return

        def existing(key: str) -> Any:
            return files[key] if _exists(files[key]) else None

        net.load_params(
            f_params=files["f_params"], f_optimizer=existing("f_optimizer"),
            f_criterion=existing("f_criterion"), f_history=existing("f_history"),
            use_safetensors=self.use_safetensors or getattr(
                self.checkpoint, "use_safetensors", False),
        )


def _exists(f: Target) -> bool:
    if f is None:
        return False
    if hasattr(f, "read"):
        return True
    return os.path.exists(f)
