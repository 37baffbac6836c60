"""Experiment trackers: ``TensorBoard`` and ``MlflowLogger``.

Both import their package only when they need it; without it, constructing
them raises an ``ImportError`` that names what to install.
"""

from __future__ import annotations

import importlib.util
import os
import tempfile
from collections.abc import Iterable
from typing import Any, Callable

import torch

from sktorch.callbacks.base import Callback

__all__ = ["TensorBoard", "MlflowLogger", "rename_tensorboard_key"]


def _require(package: str, owner: str, alternative: str) -> None:
    if importlib.util.find_spec(package) is None:
        raise ImportError(
            f"{owner} needs the {package} package; install it with `pip install {package}` "
            f"(or `pip install sktorch[{package}]`), or {alternative}."
        )


def _loggable(row: dict, ignored: set) -> Iterable[tuple[str, float]]:
    """Numeric values of a history row, without bookkeeping keys."""
    for key, value in row.items():
        if (key in ignored or key in ("epoch", "batches") or key.endswith(("_best", "_batch_count"))
                or key.startswith("event_") or isinstance(value, bool)):
            continue
        if isinstance(value, torch.Tensor) and value.numel() == 1:
            value = value.item()
        if isinstance(value, (int, float)):
            yield key, value


def _as_set(keys: Any) -> set:
    return {keys} if isinstance(keys, str) else set(keys or ())


class _ScalarLogger(Callback):
    """What the loggers share: which rows they log, when, and under which names.

    A subclass sets ``log_on_batch_end``, ``log_on_epoch_end``, ``batch_suffix``,
    ``epoch_suffix`` and ``keys_ignored`` (its parameters, or class attributes where
    it has none) and implements :meth:`_send`, which passes one value to its tracker.
    """

    log_on_batch_end: bool = False
    log_on_epoch_end: bool = True
    batch_suffix: str | None = None
    epoch_suffix: str | None = None
    keys_ignored: Any = None

    def initialize(self) -> _ScalarLogger:
        both = self.log_on_batch_end and self.log_on_epoch_end
        self.batch_suffix_ = self.batch_suffix or ("_batch" if both else "")
        self.epoch_suffix_ = self.epoch_suffix or ("_epoch" if both else "")
        self.keys_ignored_ = _as_set(self.keys_ignored)
        self.batch_count_ = 0
        return self

    def _send(self, name: str, value: float, step: int, kind: str) -> None:
        """Log ``value`` under ``name`` at ``step``; ``kind`` is ``'batch'`` or ``'epoch'``."""
        raise NotImplementedError

    def _log(self, row: dict, kind: str, step: int) -> None:
        suffix = self.batch_suffix_ if kind == "batch" else self.epoch_suffix_
        for key, value in _loggable(row, self.keys_ignored_):
            self._send(key + suffix, value, step, kind)

    def on_batch_end(self, net, **kwargs) -> None:
        if self.log_on_batch_end:
            self.batch_count_ += 1
            self._log(net.history[-1]["batches"][-1], "batch", self.batch_count_)

    def on_epoch_end(self, net, **kwargs) -> None:
        if self.log_on_epoch_end:
            self._log(net.history[-1], "epoch", len(net.history))


def rename_tensorboard_key(key: str) -> str:
    """Group losses under ``Loss/`` in TensorBoard (``'valid_loss'`` -> ``'Loss/valid_loss'``).

    Examples
    --------
    >>> rename_tensorboard_key('train_loss'), rename_tensorboard_key('accuracy')
    ('Loss/train_loss', 'accuracy')
    """
    if key.startswith(("train", "valid")) and "loss" in key:
        return f"Loss/{key}"
    return key


class TensorBoard(Callback):
    """Log each epoch's scores to TensorBoard.

    Parameters
    ----------
    writer : SummaryWriter, str or path
        A ``torch.utils.tensorboard.SummaryWriter`` (or any object with
        ``add_scalar`` and ``close``), or a log directory for a new SummaryWriter.
    close_after_train : bool, default=True
        Close the writer when training ends.
    keys_ignored : str or sequence of str, optional
        History keys not to log (``'epoch'``, ``'batches'``, ``*_best`` and
        ``event_*`` keys are never logged).
    key_mapper : callable, default=rename_tensorboard_key
        Maps a history key to a TensorBoard tag.

    Raises
    ------
    ImportError
        When ``writer`` is a directory and tensorboard is not installed.

    Examples
    --------
    >>> class PrintWriter:
    ...     def add_scalar(self, tag, value, global_step=None):
    ...         print(tag, global_step)
    ...     def close(self):
    ...         pass
    >>> import numpy as np
    >>> from sktorch import NeuralNetRegressor
    >>> X = np.random.RandomState(0).randn(40, 3).astype('float32'); y = X[:, 0]
    >>> _ = NeuralNetRegressor(max_epochs=1, verbose=0, callbacks=[
    ...     TensorBoard(PrintWriter(), keys_ignored='dur')]).fit(X, y)
    Loss/train_loss 1
    Loss/valid_loss 1
    """

    def __init__(
        self,
        writer: Any,
        close_after_train: bool = True,
        keys_ignored: Any = None,
        key_mapper: Callable[[str], str] = rename_tensorboard_key,
    ):
        if not hasattr(writer, "add_scalar"):
            _require("tensorboard", "TensorBoard", "pass a writer object with add_scalar")
        self.writer = writer
        self.close_after_train = close_after_train
        self.keys_ignored = keys_ignored
        self.key_mapper = key_mapper

    def initialize(self) -> TensorBoard:
        if hasattr(self.writer, "add_scalar"):
            self.writer_ = self.writer
        else:
            from torch.utils.tensorboard import SummaryWriter

            self.writer_ = SummaryWriter(log_dir=os.fspath(self.writer))
        self.keys_ignored_ = _as_set(self.keys_ignored)
        return self

    def on_epoch_end(self, net, **kwargs) -> None:
        row = net.history[-1]
        epoch = row.get("epoch", len(net.history))
        for key, value in _loggable(row, self.keys_ignored_):
            self.writer_.add_scalar(self.key_mapper(key), value, global_step=epoch)

    def on_train_end(self, net, **kwargs) -> None:
        if self.close_after_train:
            self.writer_.close()


class MlflowLogger(_ScalarLogger):
    """Log scores (per epoch, optionally per batch) and the final model to MLflow.

    Parameters
    ----------
    run : mlflow.entities.Run, optional
        The run to log to; default: the active run, or a new one.
    client : mlflow.tracking.MlflowClient, optional
        Default: a new client.
    create_artifact : bool, default=True
        Log the weights, optimizer state and history as artifacts at train end.
    terminate_after_train : bool, default=True
        Mark the run finished at train end.
    log_on_batch_end, log_on_epoch_end : bool, default=False, True
        When to log.
    batch_suffix, epoch_suffix : str, optional
        Suffixes of metric names; when logging both per batch and per epoch they
        default to ``'_batch'`` and ``'_epoch'``.
    keys_ignored : str or sequence of str, optional
        History keys not to log.

    Raises
    ------
    ImportError
        When ``run`` or ``client`` is not given and mlflow is not installed.

    Examples
    --------
    >>> from types import SimpleNamespace
    >>> class Client:
    ...     def log_metric(self, run_id, key, value, step=None):
    ...         print(run_id, key, step)
    ...     def set_terminated(self, run_id):
    ...         print('done', run_id)
    >>> run = SimpleNamespace(info=SimpleNamespace(run_id='r1'))
    >>> import numpy as np
    >>> from sktorch import NeuralNetRegressor
    >>> X = np.random.RandomState(0).randn(40, 3).astype('float32'); y = X[:, 0]
    >>> logger = MlflowLogger(run, Client(), create_artifact=False, keys_ignored='dur')
    >>> _ = NeuralNetRegressor(max_epochs=1, verbose=0, callbacks=[logger]).fit(X, y)
    r1 train_loss 1
    r1 valid_loss 1
    done r1
    """

    def __init__(
        self,
        run: Any = None,
        client: Any = None,
        create_artifact: bool = True,
        terminate_after_train: bool = True,
        log_on_batch_end: bool = False,
        log_on_epoch_end: bool = True,
        batch_suffix: str | None = None,
        epoch_suffix: str | None = None,
        keys_ignored: Any = None,
    ):
        if run is None or client is None:
            _require("mlflow", "MlflowLogger", "pass both run and client")
        self.run = run
        self.client = client
        self.create_artifact = create_artifact
        self.terminate_after_train = terminate_after_train
        self.log_on_batch_end = log_on_batch_end
        self.log_on_epoch_end = log_on_epoch_end
        self.batch_suffix = batch_suffix
        self.epoch_suffix = epoch_suffix
        self.keys_ignored = keys_ignored

    def initialize(self) -> MlflowLogger:
        run, client = self.run, self.client
        if run is None or client is None:
            import mlflow

            run = run or mlflow.active_run() or mlflow.start_run()
            client = client or mlflow.tracking.MlflowClient()
        self.run_, self.client_ = run, client
        super().initialize()
        return self

    def _send(self, name: str, value: float, step: int, kind: str) -> None:
        self.client_.log_metric(self.run_.info.run_id, name, value, step=step)

    def on_train_end(self, net, **kwargs) -> None:
        try:
            if self.create_artifact and getattr(net, "module_", None) is not None:
                self._log_artifacts(net)
        finally:
            if self.terminate_after_train:
                self.client_.set_terminated(self.run_.info.run_id)

    def _log_artifacts(self, net: Any) -> None:
        with tempfile.TemporaryDirectory() as tmp:
            paths = {key: os.path.join(tmp, name) for key, name in (
                ("f_params", "params.pt"), ("f_optimizer", "optimizer.pt"),
                ("f_criterion", "criterion.pt"), ("f_history", "history.json"))}
            net.save_params(**paths)
            for path in paths.values():
                self.client_.log_artifact(self.run_.info.run_id, path)
