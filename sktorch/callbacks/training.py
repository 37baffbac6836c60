"""Callbacks that steer training: ``EarlyStopping`` and the parameter mappers.

``ParamMapper`` applies a function to the net's parameters whose names match
patterns, at a given epoch; ``Freezer``, ``Unfreezer`` and ``Initializer`` are its
common uses. ``InputShapeSetter`` sizes the module's input from the data.
"""

from __future__ import annotations

import fnmatch
import math
from collections.abc import Iterator
from numbers import Integral, Real
from typing import Any, Callable, Union

import torch

from sktorch.callbacks.base import Callback

__all__ = [
    "EarlyStopping",
    "ParamMapper",
    "Freezer",
    "Unfreezer",
    "Initializer",
    "InputShapeSetter",
]

Pattern = Union[str, Callable[[str], bool]]


def noop(*args: Any, **kwargs: Any) -> None:
    """Do nothing (the default ``fn`` and ``sink``)."""


def check_monitor_has_data(net: Any, monitor: Any, owner: str) -> None:
    """Raise if ``monitor`` reads validation scores that the fit will not produce."""
    if not isinstance(monitor, str) or not monitor.startswith("valid_"):
        return
    if getattr(net, "train_split", None) in (None, False):
        raise ValueError(
            f"{owner} monitors {monitor!r}, but train_split=None, so there is no validation "
            "data and no validation score. Set a train_split (e.g. "
            "train_split=ValidSplit(5) or predefined_split(valid_ds)), or monitor the "
            f"training loss instead: {owner}(monitor={monitor.replace('valid_', 'train_', 1)!r})."
        )


def read_monitor(net: Any, monitor: Any, owner: str, row: int = -1) -> Any:
    """The monitored value of the current epoch: a history key or ``monitor(net)``."""
    if callable(monitor):
        return monitor(net)
    try:
        return net.history[row][monitor]
    except KeyError:
        keys = sorted(k for k in net.history[row] if k != "batches")
        raise ValueError(
            f"{owner} monitors {monitor!r}, which is not in the history; the last epoch "
            f"has {keys}. Add a scoring callback that records it (e.g. EpochScoring) or "
            "monitor one of those keys."
        ) from None


class EarlyStopping(Callback):
    """Stop training when a monitored score has stopped improving.

    After each epoch the monitored history value is compared with the best so far.
    When it has not improved for ``patience`` epochs in a row, the callback asks
    the net to stop (``net.request_stop``); the reason is recorded in the history
    under ``'stop_reason'`` and printed by the log when ``verbose``.

    Parameters
    ----------
    monitor : str, default='valid_loss'
        The history key to watch. Keys starting with ``'valid_'`` need validation
        data: with ``train_split=None`` the fit raises a ``ValueError``.
    patience : int, default=5
        Epochs without improvement before stopping.
    threshold : float, default=1e-4
        The smallest change that counts as an improvement.
    threshold_mode : {'rel', 'abs'}, default='rel'
        ``'rel'``: a score improves when it beats the best by ``threshold`` times the
        best's magnitude; ``'abs'``: by ``threshold`` itself.
    lower_is_better : bool, default=True
        Whether lower values of the score are better.
    sink : callable, default=print
        Where messages go when the net is verbose (the stop reason, unless the
        printed log shows it already, and the restoring of the best weights).
    load_best : bool, default=False
        Keep an in-memory copy of the module's weights at the best epoch and restore
        it when training ends, so the net predicts with its best weights.

    Attributes
    ----------
    best_score_ : float or None
        The best score seen in this fit.
    best_epoch_ : int or None
        The epoch (from the history's ``'epoch'``) of that score.
    misses_ : int
        Epochs in a row without improvement.

    Examples
    --------
    >>> import numpy as np
    >>> from sktorch import NeuralNetRegressor
    >>> from sktorch.callbacks import EarlyStopping
    >>> X = np.random.RandomState(0).randn(100, 3).astype('float32'); y = X[:, 0]
    >>> net = NeuralNetRegressor(max_epochs=50, lr=0.0, verbose=0, random_state=0,
    ...                          callbacks=[EarlyStopping(patience=2)]).fit(X, y)
    >>> len(net.history)
    3
    >>> net.history[-1]['stop_reason']  # doctest: +ELLIPSIS
    'valid_loss did not improve for 2 epochs (best ... at epoch 1)'
    """

    def __init__(
        self,
        monitor: str = "valid_loss",
        patience: int = 5,
        threshold: float = 1e-4,
        threshold_mode: str = "rel",
        lower_is_better: bool = True,
        sink: Callable = print,
        load_best: bool = False,
    ):
        self.monitor = monitor
        self.patience = patience
        self.threshold = threshold
        self.threshold_mode = threshold_mode
        self.lower_is_better = lower_is_better
        self.sink = sink
        self.load_best = load_best

    def initialize(self) -> EarlyStopping:
        if self.threshold_mode not in ("rel", "abs"):
            raise ValueError(
                f"EarlyStopping got threshold_mode={self.threshold_mode!r}; "
                "use 'rel' or 'abs'."
            )
        self._reset()
        return self

    def _reset(self) -> None:
        self.misses_ = 0
        self.best_score_: float | None = None
        self.best_epoch_: int | None = None
        self.best_model_weights_: dict | None = None

    def on_train_begin(self, net, **kwargs) -> None:
        check_monitor_has_data(net, self.monitor, "EarlyStopping")
        # Each fit and partial_fit counts anew (as in skorch): carried over, the misses
        # of a stopped fit would end the next partial_fit after one epoch.
        self._reset()

    def _improved(self, score: float) -> bool:
        best = self.best_score_
        if best is None:
            return not math.isnan(score)
        margin = self.threshold * abs(best) if self.threshold_mode == "rel" else self.threshold
        return score < best - margin if self.lower_is_better else score > best + margin

    def on_epoch_end(self, net, **kwargs) -> None:
        score = float(read_monitor(net, self.monitor, "EarlyStopping"))
        if self._improved(score):
            self.misses_ = 0
            self.best_score_ = score
            self.best_epoch_ = net.history[-1].get("epoch", len(net.history))
            if self.load_best:  # a copy on the module's device; costs one copy per improvement
                self._save_best(net)
            return
        self.misses_ += 1
        if self.misses_ >= self.patience:
            self._stop(net)

    def _stop(self, net, by: str = "") -> None:
        """Ask the net to stop, with the reason (``misses_`` epochs without improving)."""
        best = ("no finite score yet" if self.best_score_ is None  # e.g. NaN so far
                else f"best {self.best_score_:.4g} at epoch {self.best_epoch_}")
        reason = f"{self.monitor} did not improve{by} for {self.misses_} epochs ({best})"
        net.request_stop(reason)
        if net.verbose and not (self.sink is print and _has_print_log(net)):
            self.sink(f"Stopping: {reason}")

    def _save_best(self, net) -> None:
        """Keep a copy of the module's weights (``best_model_weights_``)."""
        self.best_model_weights_ = {
            k: v.detach().clone() for k, v in net.module_.state_dict().items()}

    def on_train_end(self, net, **kwargs) -> None:
        if not self.load_best or self.best_model_weights_ is None or not net.history:
            return
        if net.history[-1].get("epoch") == self.best_epoch_:
            return  # the current weights are the best ones
        net.module_.load_state_dict(self.best_model_weights_)
        if net.verbose:
            self.sink(f"Restoring the best weights from epoch {self.best_epoch_}.")


def _has_print_log(net: Any) -> bool:
    from sktorch.callbacks.logging import PrintLog

    return any(isinstance(cb, PrintLog) for _, cb in getattr(net, "callbacks_", None) or ())


# --------------------------------------------------------------- parameter mappers
def _as_list(patterns: Any) -> list:
    if isinstance(patterns, (str, bytes)) or callable(patterns):
        return [patterns]
    return list(patterns)


def _matches(name: str, pattern: Pattern) -> bool:
    return pattern(name) if callable(pattern) else fnmatch.fnmatchcase(name, pattern)


def freeze_parameter(param: torch.nn.Parameter) -> None:
    """Exclude a parameter from training (``requires_grad = False``)."""
    param.requires_grad_(False)


def unfreeze_parameter(param: torch.nn.Parameter) -> None:
    """Train a parameter again (``requires_grad = True``)."""
    param.requires_grad_(True)


class ParamMapper(Callback):
    """Apply ``fn`` to the net's parameters whose names match ``patterns``.

    At the beginning of each epoch it looks at every learnable parameter of the net
    (``net.get_all_learnable_params()``: the module's, those of extra modules such as
    ``module2_``, and criteria with parameters, each named as in its own component) and
    applies ``fn`` to the matching ones at epoch ``at`` (1 is the first epoch), when
    ``at(net)`` is true, or applies the function that ``schedule(net)`` returns.

    Parameters
    ----------
    patterns : str, callable or sequence of them
        ``fnmatch`` patterns of parameter names (``'hidden.*'``, ``'*bias'``) or
        callables ``name -> bool``.
    fn : callable, default=noop
        Called with each matching parameter, e.g. ``torch.nn.init.zeros_``.
    at : int or callable, default=1
        The epoch at which to apply ``fn``, or ``at(net) -> bool``: ``fn`` is applied
        at the start of every epoch for which it returns True.
    schedule : callable, optional
        ``schedule(net) -> callable`` replaces ``at`` and ``fn``: the function it
        returns is applied to the matching parameters at the start of each epoch
        (return ``sktorch.utils.noop`` to leave them alone). A schedule that returns
        a bool applies ``fn`` when it is True.

    Examples
    --------
    >>> import torch
    >>> from sktorch.callbacks import ParamMapper
    >>> cb = ParamMapper('*bias', fn=torch.nn.init.zeros_)
    >>> [name for name, _ in cb.named_parameters(torch.nn.Linear(2, 1))]
    ['bias']
    """

    def __init__(self, patterns: Any, fn: Callable = noop, at: int | Callable = 1,
                 schedule: Callable | None = None):
        self.patterns = patterns
        self.fn = fn
        self.at = at
        self.schedule = schedule

    def initialize(self) -> ParamMapper:
        """Check ``at``: an epoch number from 1, or a callable (with no ``schedule``)."""
        at = self.at
        # A whole float (at=max_epochs / 2) acts as its int does: len(history) == 2.0.
        whole = isinstance(at, Integral) or (isinstance(at, Real) and float(at).is_integer())
        if self.schedule is None and not callable(at) and (not whole or at < 1):
            raise ValueError(
                f"{type(self).__name__}(at={at!r}) never acts: at is the epoch to act at, "
                "1 for the first epoch, or a callable at(net) -> bool."
            )
        return self

    def named_parameters(self, module: Any) -> Iterator[tuple[str, Any]]:
        """The matching ``(name, parameter)`` pairs of a module or of such pairs."""
        patterns = _as_list(self.patterns)
        pairs = module.named_parameters() if isinstance(module, torch.nn.Module) else module
        for name, param in pairs:
            if any(_matches(name, p) for p in patterns):
                yield name, param

    def _epoch_fn(self, net: Any) -> Callable | None:
        """The function to apply this epoch (``None``: nothing to do)."""
        if self.schedule is not None:
            fn = self.schedule(net)  # skorch: returns the function; ours may be a bool
            return fn if callable(fn) else (self.fn if fn else None)
        due = self.at(net) if callable(self.at) else len(net.history) == self.at
        return self.fn if due else None

    def on_epoch_begin(self, net, **kwargs) -> None:
        fn = self._epoch_fn(net)
        if fn is None:
            return
        with torch.no_grad():
            for _, param in self.named_parameters(net.get_all_learnable_params()):
                fn(param)


class _FixedFnMapper(ParamMapper):
    """A ``ParamMapper`` whose ``fn`` is fixed by the class (not a parameter)."""

    _fn: Callable = staticmethod(noop)

    def __init__(self, patterns: Any, at: int | Callable = 1,
                 schedule: Callable | None = None):
        super().__init__(patterns, fn=type(self)._fn, at=at, schedule=schedule)

    @classmethod
    def _get_param_names(cls) -> list[str]:
        return ["at", "patterns", "schedule"]


class Freezer(_FixedFnMapper):
    """Freeze the matching parameters (no gradient, no update) from epoch ``at``.

    Parameters are as for :class:`ParamMapper`, without ``fn``.

    Examples
    --------
    >>> import numpy as np, torch
    >>> from sktorch import NeuralNetRegressor
    >>> from sktorch.callbacks import Freezer
    >>> X = np.random.RandomState(0).randn(40, 3).astype('float32'); y = X[:, 0]
    >>> net = NeuralNetRegressor(max_epochs=2, verbose=0, callbacks=[Freezer('sequential.0.*')])
    >>> net = net.fit(X, y)
    >>> [(n, p.requires_grad) for n, p in net.module_.named_parameters()][:3]
    [('sequential.0.weight', False), ('sequential.0.bias', False), ('sequential.2.weight', True)]
    """

    _fn = staticmethod(freeze_parameter)


class Unfreezer(_FixedFnMapper):
    """Unfreeze the matching parameters at epoch ``at`` (e.g. after a ``Freezer``).

    Parameters are as for :class:`ParamMapper`, without ``fn``.

    Examples
    --------
    >>> from sktorch.callbacks import Freezer, Unfreezer
    >>> callbacks = [Freezer('hidden*'), Unfreezer('hidden*', at=5)]
    >>> callbacks[1].at
    5
    """

    _fn = staticmethod(unfreeze_parameter)


class Initializer(ParamMapper):
    """Initialize the matching parameters with ``fn`` before the first epoch.

    A :class:`ParamMapper` whose ``at`` defaults to the first epoch; ``at`` and
    ``schedule`` work as there.

    Parameters
    ----------
    patterns : str, callable or sequence of them
        As for :class:`ParamMapper`.
    fn : callable
        An in-place initializer such as ``torch.nn.init.xavier_uniform_``.
    at : int or callable, default=1
        As for :class:`ParamMapper`.
    schedule : callable, optional
        As for :class:`ParamMapper`.

    Examples
    --------
    >>> import torch
    >>> from sktorch.callbacks import Initializer
    >>> Initializer('*weight', fn=torch.nn.init.ones_).at, Initializer('*bias', at=2).at
    (1, 2)
    """


class InputShapeSetter(Callback):
    """Set the module's input size from the data at the start of each fit.

    When X's size differs from the module's ``<param_name>``, the parameter is
    set (``module__<param_name>``) and the module and optimizer are rebuilt.

    Parameters
    ----------
    param_name : str, default='input_dim'
        The module's argument that receives the input size.
    input_dim_fn : callable, optional
        ``input_dim_fn(X) -> int``; default: the size of X's last dimension.
    module_name : str, default='module'
        The net's component to configure.

    Examples
    --------
    >>> import numpy as np
    >>> from sktorch import NeuralNetRegressor
    >>> from sktorch.toy import MLPModule
    >>> from sktorch.callbacks import InputShapeSetter
    >>> X = np.zeros((20, 7), dtype='float32'); y = np.zeros(20, dtype='float32')
    >>> net = NeuralNetRegressor(MLPModule, module__output_units=1, max_epochs=1, verbose=0,
    ...                          callbacks=[InputShapeSetter('input_units')]).fit(X, y)
    >>> net.module_.input_units
    7
    """

    def __init__(self, param_name: str = "input_dim", input_dim_fn: Callable | None = None,
                 module_name: str = "module"):
        self.param_name = param_name
        self.input_dim_fn = input_dim_fn
        self.module_name = module_name

    def _input_dim(self, X: Any) -> int:
        if self.input_dim_fn is not None:
            return self.input_dim_fn(X)
        return int(X.shape[-1])

    def on_train_begin(self, net, X=None, y=None, **kwargs) -> None:
        if X is None:
            return
        key = f"{self.module_name}__{self.param_name}"
        dim = self._input_dim(X)
        params = net.get_params(deep=True)
        current = params.get(key, params.get(self.param_name))
        if current != dim:
            net.set_params(**{key: dim})

