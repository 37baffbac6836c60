"""OptunaPruning: report a score to an Optuna trial each epoch and stop pruned trials."""

from __future__ import annotations

from typing import Any

from sktorch.callbacks.base import Callback
from sktorch.callbacks.training import read_monitor

__all__ = ["OptunaPruning"]


def _import_optuna() -> Any:
    try:
        import optuna
    except ImportError as exc:
        raise ImportError(
            "OptunaPruning needs optuna, which is not installed; install it with "
            "`pip install sktorch[optuna]` (or `pip install optuna`)."
        ) from exc
    return optuna


class OptunaPruning(Callback):
    """Report the monitored score to an Optuna trial and stop when it should be pruned.

    After each epoch the value of ``monitor`` is reported with
    ``trial.report(value, step=epoch)``. When ``trial.should_prune()`` says so,
    the callback stops training through the stop flag (the reason is recorded in
    the history under ``'stop_reason'``, as for ``EarlyStopping``); once training
    has ended and every callback's ``on_train_end`` has run (checkpoints written,
    best weights restored), ``fit`` raises ``optuna.TrialPruned``, which Optuna's
    ``study.optimize`` records as a pruned trial.

    Needs optuna (``pip install sktorch[optuna]``), imported when training starts.

    Parameters
    ----------
    trial : optuna.trial.Trial
        The trial the objective function received.
    monitor : str or callable, default='valid_loss'
        History key reported each epoch, or ``monitor(net) -> float``. The
        study's direction must match (``'minimize'`` for a loss).

    Attributes
    ----------
    pruned_epoch_ : int or None
        The epoch after which the trial was pruned; None when it was not.

    Examples
    --------
    >>> import numpy as np, optuna
    >>> from sktorch import NeuralNetRegressor
    >>> from sktorch.callbacks import OptunaPruning
    >>> X = np.random.RandomState(0).randn(60, 3).astype('float32'); y = X[:, 0]
    >>> def objective(trial):
    ...     net = NeuralNetRegressor(lr=trial.suggest_float('lr', 1e-3, 1e-1, log=True),
    ...                              max_epochs=3, verbose=0, random_state=0,
    ...                              callbacks=[OptunaPruning(trial)])
    ...     net.fit(X, y)
    ...     return net.history[-1, 'valid_loss']
    >>> optuna.logging.set_verbosity(optuna.logging.WARNING)
    >>> study = optuna.create_study(direction='minimize')
    >>> study.optimize(objective, n_trials=2)
    >>> len(study.trials)
    2
    """

    def __init__(self, trial: Any, monitor: Any = "valid_loss") -> None:
        self.trial = trial
        self.monitor = monitor

    def __sklearn_clone__(self) -> OptunaPruning:
        # The trial is a handle to the study's storage: a clone (e.g. made by
        # cross_val_score) must report to the same trial, not to a deep copy.
        return type(self)(self.trial, monitor=self.monitor)

    def initialize(self) -> OptunaPruning:
        self.pruned_epoch_ = None
        return self

    def on_train_begin(self, net: Any, **kwargs: Any) -> None:
        self._optuna = _import_optuna()

    def on_epoch_end(self, net: Any, **kwargs: Any) -> None:
        value = float(read_monitor(net, self.monitor, "OptunaPruning"))
        epoch = net.history[-1].get("epoch", len(net.history))
        self.trial.report(value, step=epoch)
        if not self.trial.should_prune():
            return
        self.pruned_epoch_ = epoch
        monitor = self.monitor if isinstance(self.monitor, str) else "the monitored score"
        reason = (f"Optuna pruned trial {self.trial.number} after epoch {epoch} "
                  f"({monitor} = {value:.4g})")
        net.request_stop(reason, raise_after=self._optuna.TrialPruned(reason))
