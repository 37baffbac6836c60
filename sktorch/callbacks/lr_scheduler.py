"""Learning-rate schedules: the ``LRScheduler`` callback and ``WarmRestartLR``."""

from __future__ import annotations

import difflib
import inspect
import math
from collections.abc import Sequence
from typing import Any, Callable, Union

import numpy as np
import torch
from torch.optim import lr_scheduler as torch_schedulers

from sktorch.callbacks.base import Callback
from sktorch.callbacks.training import check_monitor_has_data, read_monitor

__all__ = ["LRScheduler", "WarmRestartLR"]

LRs = Union[float, Sequence[float]]


def _per_group(value: LRs, n_groups: int, name: str) -> list[float]:
    if isinstance(value, (int, float)):
        return [float(value)] * n_groups
    values = [float(v) for v in value]
    if len(values) != n_groups:
        raise ValueError(
            f"WarmRestartLR got {len(values)} values for {name} but the optimizer has "
            f"{n_groups} parameter groups; pass one value or one per group."
        )
    return values


class WarmRestartLR(torch_schedulers.LRScheduler):
    """Cosine annealing from ``max_lr`` to ``min_lr`` with warm restarts.

    The first period lasts ``base_period`` epochs (or steps); each following
    period is ``period_mult`` times longer. At the start of a period the learning
    rate jumps back to ``max_lr`` (SGDR, Loshchilov & Hutter, 2017).

    Parameters
    ----------
    optimizer : torch.optim.Optimizer
    min_lr : float or sequence of float, default=1e-6
        The lowest learning rate (one value, or one per parameter group).
    max_lr : float or sequence of float, default=0.05
        The learning rate at the start of each period.
    base_period : int, default=10
        Length of the first period.
    period_mult : int, default=2
        Factor by which each period is longer than the previous one.
    last_epoch : int, default=-1
        The index of the last step, to resume a schedule.

    Examples
    --------
    >>> import torch
    >>> from sktorch.callbacks import WarmRestartLR
    >>> opt = torch.optim.SGD(torch.nn.Linear(1, 1).parameters(), lr=0.1)
    >>> sched = WarmRestartLR(opt, min_lr=0.0, max_lr=1.0, base_period=2, period_mult=1)
    >>> lrs = []
    >>> for _ in range(4):
    ...     lrs.append(round(opt.param_groups[0]['lr'], 3)); opt.step(); sched.step()
    >>> lrs
    [1.0, 0.5, 1.0, 0.5]
    """

    def __init__(
        self,
        optimizer: torch.optim.Optimizer,
        min_lr: LRs = 1e-6,
        max_lr: LRs = 0.05,
        base_period: int = 10,
        period_mult: int = 2,
        last_epoch: int = -1,
    ):
        n_groups = len(optimizer.param_groups)
        self.min_lr = _per_group(min_lr, n_groups, "min_lr")
        self.max_lr = _per_group(max_lr, n_groups, "max_lr")
        if base_period < 1 or period_mult < 1:
            raise ValueError(
                f"WarmRestartLR needs base_period >= 1 and period_mult >= 1; got "
                f"base_period={base_period}, period_mult={period_mult}."
            )
        self.base_period = base_period
        self.period_mult = period_mult
        super().__init__(optimizer, last_epoch)

    def _position(self, step: int) -> tuple[int, int]:
        """``(steps into the current period, length of the period)``."""
        start, period = 0, self.base_period
        while step >= start + period:
            start += period
            period *= self.period_mult
        return step - start, period

    def get_lr(self) -> list[float]:
        t, period = self._position(max(self.last_epoch, 0))
        cosine = 0.5 * (1 + math.cos(math.pi * t / period))
        return [lo + (hi - lo) * cosine for lo, hi in zip(self.min_lr, self.max_lr)]


def _resolve_policy(policy: Any) -> Any:
    if not isinstance(policy, str):
        return policy
    if policy == "WarmRestartLR":
        return WarmRestartLR
    cls = getattr(torch_schedulers, policy, None)
    if not inspect.isclass(cls):
        names = [n for n, v in vars(torch_schedulers).items()
                 if inspect.isclass(v) and not n.startswith("_")] + ["WarmRestartLR"]
        close = difflib.get_close_matches(policy, names, n=3)
        hint = f" Did you mean {' or '.join(map(repr, close))}?" if close else ""
        raise ValueError(
            f"LRScheduler got policy={policy!r}, which is not a scheduler in "
            f"torch.optim.lr_scheduler.{hint} Pass a scheduler class or its name, "
            "e.g. policy='StepLR' or policy=torch.optim.lr_scheduler.StepLR."
        )
    return cls


def _is_plateau(scheduler: Any) -> bool:
    return isinstance(scheduler, torch_schedulers.ReduceLROnPlateau)


class LRScheduler(Callback):
    """Change the learning rate during training with a torch LR scheduler.

    The scheduler is built at the start of each fit on the net's optimizer with
    ``**kwargs`` and stepped after every epoch (or every training batch).
    ``ReduceLROnPlateau`` is stepped with the monitored value.

    Parameters
    ----------
    policy : str or class, default='WarmRestartLR'
        A class from ``torch.optim.lr_scheduler`` (or its name, e.g. ``'StepLR'``),
        :class:`WarmRestartLR`, or any scheduler class taking the optimizer first.
    monitor : str or callable, default='train_loss'
        For ``ReduceLROnPlateau``: the history key to step with (a key of the
        batch's row when ``step_every='batch'``), or ``monitor(net) -> float``.
    event_name : str or None, default='event_lr'
        History key of the learning rate (of the first parameter group) that was
        used in each epoch, or in each training batch with ``step_every='batch'``;
        ``None`` records nothing.
    step_every : {'epoch', 'batch'}, default='epoch'
    **kwargs
        Arguments of the scheduler, e.g. ``step_size=10`` or ``patience=5``. They
        are parameters of this callback: ``get_params``, ``set_params``, ``clone``
        and ``callbacks__<name>__<kwarg>`` routing all see them.

    Attributes
    ----------
    lr_scheduler_ : torch scheduler
        The scheduler of the current fit.

    Examples
    --------
    >>> import numpy as np, torch
    >>> from sktorch import NeuralNetRegressor
    >>> from sktorch.callbacks import LRScheduler
    >>> X = np.random.RandomState(0).randn(40, 3).astype('float32'); y = X[:, 0]
    >>> sched = LRScheduler(policy='StepLR', step_size=1, gamma=0.5)
    >>> net = NeuralNetRegressor(lr=0.1, max_epochs=3, verbose=0, callbacks=[sched]).fit(X, y)
    >>> net.history[:, 'event_lr']
    [0.1, 0.05, 0.025]
    """

    _own_params = ("event_name", "monitor", "policy", "step_every")

    def __init__(
        self,
        policy: Any = "WarmRestartLR",
        monitor: Union[str, Callable] = "train_loss",
        event_name: str | None = "event_lr",
        step_every: str = "epoch",
        **kwargs: Any,
    ):
        self.policy = policy
        self.monitor = monitor
        self.event_name = event_name
        self.step_every = step_every
        self._scheduler_kwargs = sorted(kwargs)
        vars(self).update(kwargs)

    # Scheduler arguments are parameters too, so that clone() and routing see them.
    def _get_param_names(self) -> list[str]:
        return sorted([*self._own_params, *self._scheduler_kwargs])

    def set_params(self, **params: Any) -> LRScheduler:
        for key, value in params.items():
            if key not in self._own_params and key not in self._scheduler_kwargs:
                self._scheduler_kwargs = sorted([*self._scheduler_kwargs, key])
            setattr(self, key, value)
        return self

    @property
    def kwargs(self) -> dict[str, Any]:
        """The scheduler's arguments."""
        return {k: getattr(self, k) for k in self._scheduler_kwargs}

    def __getstate__(self) -> dict:
        state = dict(super().__getstate__())  # a copy: never touch the live object
        state["lr_scheduler_"] = None  # holds the optimizer; rebuilt at the next fit
        return state

    def initialize(self) -> LRScheduler:
        if self.step_every not in ("epoch", "batch"):
            raise ValueError(
                f"LRScheduler got step_every={self.step_every!r}; use 'epoch' or 'batch'."
            )
        self.policy_ = _resolve_policy(self.policy)
        self.lr_scheduler_ = None
        return self

    def on_train_begin(self, net, **kwargs) -> None:
        if self.policy_ is torch_schedulers.ReduceLROnPlateau:
            check_monitor_has_data(net, self.monitor, "LRScheduler")
        self.lr_scheduler_ = self.policy_(net.optimizer_, **self.kwargs)

    def _scheduler(self, net: Any) -> Any:
        # Another callback (e.g. InputShapeSetter) may have rebuilt the optimizer.
        if self.lr_scheduler_ is None or self.lr_scheduler_.optimizer is not net.optimizer_:
            self.lr_scheduler_ = self.policy_(net.optimizer_, **self.kwargs)
        return self.lr_scheduler_

    def _step(self, scheduler: Any, net: Any, row: int | None) -> None:
        if not _is_plateau(scheduler):
            scheduler.step()
        elif row is None:
            scheduler.step(float(read_monitor(net, self.monitor, "LRScheduler")))
        else:  # per batch: the monitored key of the batch's row
            batch = net.history[-1]["batches"][-1]
            value = self.monitor(net) if callable(self.monitor) else batch[self.monitor]
            scheduler.step(float(value))

    def on_batch_end(self, net, training=None, **kwargs) -> None:
        if self.step_every != "batch" or not training:
            return
        scheduler = self._scheduler(net)
        if self.event_name is not None:
            net.history.record_batch(self.event_name, net.optimizer_.param_groups[0]["lr"])
        self._step(scheduler, net, row=-1)

    def on_epoch_end(self, net, **kwargs) -> None:
        if self.step_every != "epoch":
            return
        scheduler = self._scheduler(net)
        if self.event_name is not None:
            net.history.record(self.event_name, net.optimizer_.param_groups[0]["lr"])
        self._step(scheduler, net, row=None)

    def simulate(self, steps: int, initial_lr: float) -> np.ndarray:
        """The learning rates of ``steps`` steps of the policy (ignoring plateaus).

        Examples
        --------
        >>> from sktorch.callbacks import LRScheduler
        >>> LRScheduler('StepLR', step_size=2, gamma=0.1).simulate(4, 1.0).round(3).tolist()
        [1.0, 1.0, 0.1, 0.1]
        """
        param = torch.nn.Parameter(torch.zeros(1))
        optimizer = torch.optim.SGD([param], lr=initial_lr)
        scheduler = _resolve_policy(self.policy)(optimizer, **self.kwargs)
        lrs = []
        for _ in range(steps):
            lrs.append(optimizer.param_groups[0]["lr"])
            optimizer.step()
            scheduler.step() if not _is_plateau(scheduler) else scheduler.step(0.0)
        return np.asarray(lrs)
