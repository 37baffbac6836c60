"""Loggers for hosted experiment trackers: ``WandbLogger``, ``NeptuneLogger``, ``SacredLogger``.

Each takes an object of its tracker (a wandb run, a neptune run, a sacred run)
and calls only its logging methods, so importing this module needs none of the
packages. Any object with the same methods works, which is how the doctests run.
"""

from __future__ import annotations

import os
from typing import Any

from sktorch.callbacks.base import Callback
from sktorch.callbacks.tracking import _as_set, _loggable, _ScalarLogger

__all__ = ["WandbLogger", "NeptuneLogger", "SacredLogger"]


class WandbLogger(Callback):
    """Log each epoch's scores to a Weights & Biases run, and optionally the best model.

    Parameters
    ----------
    wandb_run : wandb.sdk.wandb_run.Run
        The run, as returned by ``wandb.init()`` (use ``mode='offline'`` to log
        to local files only).
    save_model : bool, default=True
        After every epoch whose ``valid_loss_best`` is True, save the module's
        weights to ``best_model.pth`` in the run's directory and ask wandb to
        upload it with the run.
    keys_ignored : str or sequence of str, optional
        History keys not to log (``'epoch'``, ``'batches'``, ``*_best`` and
        ``event_*`` keys are never logged).

    Examples
    --------
    >>> class Run:
    ...     def log(self, values):
    ...         print(sorted(values))
    >>> import numpy as np
    >>> from sktorch import NeuralNetRegressor
    >>> X = np.random.RandomState(0).randn(40, 3).astype('float32'); y = X[:, 0]
    >>> logger = WandbLogger(Run(), save_model=False, keys_ignored='dur')
    >>> _ = NeuralNetRegressor(max_epochs=1, verbose=0, callbacks=[logger]).fit(X, y)
    ['epoch', 'train_loss', 'valid_loss']
    """

    def __init__(self, wandb_run: Any, save_model: bool = True, keys_ignored: Any = None):
        self.wandb_run = wandb_run
        self.save_model = save_model
        self.keys_ignored = keys_ignored

    def initialize(self) -> WandbLogger:
        self.keys_ignored_ = _as_set(self.keys_ignored)
        return self

    def on_train_begin(self, net, **kwargs) -> None:
        watch = getattr(self.wandb_run, "watch", None)
        if watch is not None and getattr(net, "module_", None) is not None:
            # Gradients and parameters histograms, as wandb's own integrations do.
            watch(net.module_)

    def on_epoch_end(self, net, **kwargs) -> None:
        row = net.history[-1]
        values = dict(_loggable(row, self.keys_ignored_))
        # The epoch is logged as a value, so charts can use it as their x axis.
        values["epoch"] = row.get("epoch", len(net.history))
        self.wandb_run.log(values)
        if self.save_model and row.get("valid_loss_best"):
            path = os.path.join(self.wandb_run.dir, "best_model.pth")
            net.save_params(f_params=path)
            self.wandb_run.save(path, base_path=self.wandb_run.dir, policy="end")


class NeptuneLogger(_ScalarLogger):
    """Log scores to a neptune.ai run under ``<base_namespace>/epoch_metrics/<key>``.

    Parameters
    ----------
    run : neptune.Run or neptune handler
        As returned by ``neptune.init_run()`` (``mode='offline'`` or
        ``mode='debug'`` log without a server).
    log_on_batch_end : bool, default=False
        Also log each batch's values under ``<base_namespace>/batch_metrics/<key>``.
    close_after_train : bool, default=True
        Stop the run when training ends.
    keys_ignored : str or sequence of str, optional
        History keys not to log.
    base_namespace : str, default='training'
        Namespace of the run that holds the logged values.

    Examples
    --------
    >>> class Series:
    ...     def __init__(self, name):
    ...         self.name = name
    ...     def append(self, value, step=None):
    ...         print(self.name, step)
    >>> class Run(dict):
    ...     def __getitem__(self, key):
    ...         return Series(key)
    ...     def stop(self):
    ...         print('stopped')
    >>> import numpy as np
    >>> from sktorch import NeuralNetRegressor
    >>> X = np.random.RandomState(0).randn(40, 3).astype('float32'); y = X[:, 0]
    >>> _ = NeuralNetRegressor(max_epochs=1, verbose=0, callbacks=[
    ...     NeptuneLogger(Run(), keys_ignored='dur')]).fit(X, y)
    training/epoch_metrics/train_loss 1
    training/epoch_metrics/valid_loss 1
    stopped
    """

    def __init__(
        self,
        run: Any,
        log_on_batch_end: bool = False,
        close_after_train: bool = True,
        keys_ignored: Any = None,
        base_namespace: str = "training",
    ):
        self.run = run
        self.log_on_batch_end = log_on_batch_end
        self.close_after_train = close_after_train
        self.keys_ignored = keys_ignored
        self.base_namespace = base_namespace

    def initialize(self) -> NeptuneLogger:
        super().initialize()
        self.batch_suffix_ = self.epoch_suffix_ = ""  # batches and epochs: own namespaces
        return self

    def _send(self, name: str, value: float, step: int, kind: str) -> None:
        self.run[f"{self.base_namespace}/{kind}_metrics/{name}"].append(value, step=step)

    def on_train_end(self, net, **kwargs) -> None:
        if self.close_after_train:
            self.run.stop()


class SacredLogger(_ScalarLogger):
    """Log scores to a Sacred experiment run with ``log_scalar``.

    Parameters
    ----------
    experiment : sacred.run.Run
        The run (the ``_run`` argument of a captured function).
    log_on_batch_end, log_on_epoch_end : bool, default=False, True
        When to log.
    batch_suffix, epoch_suffix : str, optional
        Suffixes of metric names; when logging both per batch and per epoch they
        default to ``'_batch'`` and ``'_epoch'``.
    keys_ignored : str or sequence of str, optional
        History keys not to log.

    Examples
    --------
    >>> class Run:
    ...     def log_scalar(self, name, value, step=None):
    ...         print(name, step)
    >>> import numpy as np
    >>> from sktorch import NeuralNetRegressor
    >>> X = np.random.RandomState(0).randn(40, 3).astype('float32'); y = X[:, 0]
    >>> _ = NeuralNetRegressor(max_epochs=1, verbose=0, callbacks=[
    ...     SacredLogger(Run(), keys_ignored='dur')]).fit(X, y)
    train_loss 1
    valid_loss 1
    """

    def __init__(
        self,
        experiment: Any,
        log_on_batch_end: bool = False,
        log_on_epoch_end: bool = True,
        batch_suffix: str | None = None,
        epoch_suffix: str | None = None,
        keys_ignored: Any = None,
    ):
        self.experiment = experiment
        self.log_on_batch_end = log_on_batch_end
        self.log_on_epoch_end = log_on_epoch_end
        self.batch_suffix = batch_suffix
        self.epoch_suffix = epoch_suffix
        self.keys_ignored = keys_ignored

    def _send(self, name: str, value: float, step: int, kind: str) -> None:
        self.experiment.log_scalar(name, value, step)
