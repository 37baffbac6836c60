"""The built-in model (``module=None``): its training recipe and its data statistics.

A net with ``module=None`` builds :class:`~sktorch.toy.DefaultMLP` from the data.
That model has its own training recipe, chosen at fit for each parameter that is
left at skorch's default value; a parameter set to any other value is used as
given. A user's own module always gets skorch's defaults unchanged.

=================================  ==========================================
parameter at skorch's default      the built-in model trains with
=================================  ==========================================
``optimizer=SGD``, ``lr=0.01``     ``Adam``, learning rate ``LR``
(and no ``optimizer__*``)
``max_epochs=10``                  up to ``MAX_EPOCHS`` epochs, stopping when
                                   the training loss has not improved for
                                   ``PATIENCE`` epochs (callback
                                   ``stop_on_plateau``)
``batch_size=128``                 ``min(MAX_BATCH_SIZE, n_samples)``
=================================  ==========================================

The plateau is the validation loss's when there is a validation split (the
default ``train_split``), the training loss's otherwise; the weights of the
best epoch are restored at the end.

The parameters themselves never change (``get_params`` and ``clone`` are exact);
the recipe is resolved anew at every fit. Because ``clone`` passes every parameter
explicitly, a value equal to the default counts as the default.

The built-in regressor's loss is in standardized target units, whatever the
optimizer (:func:`target_statistics`). Where each rule is applied: the optimizer in
``NeuralNet.initialize_optimizer``, the batch size in ``get_iterator``, the
statistics and the epoch budget in ``NeuralNet._setup_training``. The sequential
fit and the fused search engine both call these, so a fused member is set up as
its sequential fit.
"""

from __future__ import annotations

import contextlib
import copy
import inspect
from collections.abc import Iterator
from numbers import Real
from typing import Any

import numpy as np
import scipy.sparse as sp
import torch

from sktorch import _params
from sktorch.callbacks import EarlyStopping
from sktorch.dataset import Dataset

__all__ = [
    "uses_recipe",
    "optimizer_and_lr",
    "max_epochs",
    "stops_on_plateau",
    "batch_size",
    "fit_statistics",
    "rebuild_module",
    "plateau_stop_changed",
    "check_2d",
    "float64_forward",
    "target_statistics",
    "to_loss_units",
    "PlateauStop",
]

LR = 3e-3
MAX_EPOCHS = 200
PATIENCE = 10
TOL = 1e-4
MAX_BATCH_SIZE = 200
PLATEAU_NAME = "stop_on_plateau"


def uses_recipe(net: Any) -> bool:
    """Whether ``net`` trains the built-in model (``module=None``)."""
    return net.module is None


_DEFAULTS: dict[type, dict[str, Any]] = {}


def _default_of(net: Any, name: str) -> Any:
    """The constructor default of parameter ``name`` (cached per class)."""
    defaults = _DEFAULTS.get(type(net))
    if defaults is None:
        defaults = {}
        for klass in reversed(type(net).__mro__):
            init = vars(klass).get("__init__")
            if init is None or klass is object:
                continue
            try:
                params = inspect.signature(init).parameters.values()
            except (TypeError, ValueError):
                continue
            defaults.update({p.name: p.default for p in params
                             if p.default is not inspect.Parameter.empty})
        _DEFAULTS[type(net)] = defaults
    return defaults.get(name, inspect.Parameter.empty)


def _at_default(net: Any, name: str) -> bool:
    """Whether parameter ``name`` holds its constructor default (by value, as clone keeps it)."""
    value, default = getattr(net, name), _default_of(net, name)
    if value is default:
        return True
    if isinstance(default, Real) and not isinstance(default, bool):
        return isinstance(value, Real) and not isinstance(value, bool) and value == default
    if isinstance(default, type) or not hasattr(default, "__dict__"):
        return False  # classes and plain values: only the default itself
    # e.g. train_split=ValidSplit(5): an equal copy (clone deep-copies it) counts.
    return type(value) is type(default) and vars(value) == vars(default)


def optimizer_and_lr(net: Any) -> tuple[Any, float]:
    """The optimizer class and learning rate this fit uses."""
    if (uses_recipe(net) and _at_default(net, "optimizer") and _at_default(net, "lr")
            and not _params.params_for("optimizer", net._kwargs)):
        return torch.optim.Adam, LR
    return net.optimizer, net.lr


def stops_on_plateau(net: Any) -> bool:
    """Whether the epoch budget is the built-in model's (with the plateau stop)."""
    return uses_recipe(net) and _at_default(net, "max_epochs")


def max_epochs(net: Any) -> int:
    """The number of epochs a fit (or ``partial_fit``) runs at most."""
    return MAX_EPOCHS if stops_on_plateau(net) else net.max_epochs


def batch_size(net: Any, dataset: Any) -> int:
    """The training batch size for the rows of ``dataset``."""
    if uses_recipe(net) and _at_default(net, "batch_size"):
        n_samples = len(dataset) if hasattr(dataset, "__len__") else MAX_BATCH_SIZE
        return max(1, min(MAX_BATCH_SIZE, n_samples))
    return net.batch_size


class PlateauStop(EarlyStopping):
    """Stop when the loss stops improving, and keep the best epoch's weights.

    The built-in model's default callback ``stop_on_plateau`` (see the built-in
    model's rules in :class:`~sktorch.NeuralNet`): training stops when the
    monitored loss has not improved by ``threshold`` for ``patience`` epochs in a
    row, and the weights of the best epoch are restored. ``monitor='auto'`` watches
    ``valid_loss`` when the fit has a validation split, else ``train_loss``. (The
    built-in regressor's losses are in standardized target units, so the threshold
    does not depend on the targets' units.) It starts afresh at each fit and
    ``partial_fit``.

    Parameters
    ----------
    monitor : str, default='auto'
    patience : int, default=10
    threshold : float, default=1e-4
    threshold_mode : {'abs', 'rel'}, default='abs'
    lower_is_better : bool, default=True
    sink : callable, default=print
    load_best : bool, default=True
    """

    def __init__(self, monitor: str = "auto", patience: int = PATIENCE,
                 threshold: float = TOL, threshold_mode: str = "abs",
                 lower_is_better: bool = True, sink: Any = print, load_best: bool = True):
        super().__init__(monitor=monitor, patience=patience, threshold=threshold,
                         threshold_mode=threshold_mode, lower_is_better=lower_is_better,
                         sink=sink, load_best=load_best)

    def on_train_begin(self, net: Any, **kwargs: Any) -> None:
        self.initialize()
        self.active_ = stops_on_plateau(net)
        self.monitor_ = self.monitor
        if self.monitor == "auto":
            self.monitor_ = "train_loss" if net.train_split is None else "valid_loss"

    def on_epoch_end(self, net: Any, **kwargs: Any) -> None:
        if not self.active_:  # after set_params(max_epochs=...): exactly that many epochs
            return
        monitor, self.monitor = self.monitor, self.monitor_
        try:
            super().on_epoch_end(net, **kwargs)
        finally:
            self.monitor = monitor


def plateau_stop_changed(net: Any) -> bool:
    """Whether the plateau callback must come or go (``max_epochs`` changed)."""
    present = any(name == PLATEAU_NAME for name, _ in getattr(net, "callbacks_", None) or ())
    return present != stops_on_plateau(net)


def rebuild_module(net: Any) -> None:
    """Build the built-in module again after ``set_params`` changed its arguments.

    A fitted net keeps its data's sizes and statistics, so that it predicts and
    trains on as before (with new weights, as after any module change; the caller
    re-initializes the optimizer over them). Before any data was seen, the module
    is left to ``fit``, which sizes it.
    """
    from sktorch.toy import DefaultMLP

    old = getattr(net, "module_", None)
    if not isinstance(old, DefaultMLP):  # not fitted yet, or the module was not the built-in
        net.module_ = None
        net.optimizer_ = None
        return
    from sktorch import _components

    shape = {"input_units": old.input_units, "output_units": old.output_units}
    _components.run_initializer(net, "module", shape)
    for part in ("standardize", "unstandardize"):
        getattr(net.module_, part).load_state_dict(getattr(old, part).state_dict())


# ------------------------------------------------------------------- statistics
def _weighted_stats(values: Any, weights: Any) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-column mean and standard deviation (weighted, float64)."""
    if sp.issparse(values):
        w = np.ones(values.shape[0]) if weights is None else weights.cpu().double().numpy()
        w = w / w.sum()
        mean = np.asarray(values.T @ w).ravel()
        sq = np.asarray(values.multiply(values).T @ w).ravel()
        var = np.maximum(sq - mean**2, 0.0)
        return torch.from_numpy(mean), torch.from_numpy(np.sqrt(var))
    x = values.detach().double().reshape(len(values), -1)
    if weights is None:
        mean = x.mean(0)
        var = ((x - mean) ** 2).mean(0)
    else:
        w = weights.detach().double().to(x.device).reshape(-1, 1)
        w = w / w.sum()
        mean = (w * x).sum(0)
        var = (w * (x - mean) ** 2).sum(0)
    return mean.cpu(), var.sqrt().cpu()


def fit_statistics(net: Any, dataset: Any) -> None:
    """Fill the built-in module's standardization buffers from the training rows.

    Features always; targets for nets that learn standardized targets
    (regressors). Rows are weighted by the fit's sample weights, so that weights
    act like repeated rows. Data that is not in memory keeps the identity.
    """
    module = net.module_
    if not isinstance(dataset, Dataset) or not hasattr(module, "standardize"):
        return
    weights = getattr(dataset, "sample_weight", None)
    if weights is not None and float(weights.sum()) <= 0:
        weights = None
    if isinstance(dataset.X, torch.Tensor) or sp.issparse(dataset.X):
        module.standardize.set_statistics(*_weighted_stats(dataset.X, weights))
    y = dataset.y
    if (getattr(net, "_standardizes_targets", False) and isinstance(y, torch.Tensor)
            and y.is_floating_point()):
        module.unstandardize.set_statistics(*_weighted_stats(y, weights))


def target_statistics(net: Any) -> tuple[torch.Tensor, torch.Tensor] | None:
    """``(mean, scale)`` of the targets, for nets whose loss is in standardized units.

    The built-in regressor's module ends with an ``unstandardize`` layer holding the
    training targets' statistics: it predicts in the targets' units, while its loss
    compares ``(prediction - mean) / scale`` with ``(y - mean) / scale``. The
    gradients are then those of a model trained on standardized targets, so any
    optimizer and learning rate behave as on standardized data, and the recorded
    ``train_loss``/``valid_loss`` are in standardized units. None for every other net.
    """
    if net.module is not None or not getattr(net, "_standardizes_targets", False):
        return None
    layer = getattr(getattr(net, "module_", None), "unstandardize", None)
    if layer is None:
        return None
    return layer.mean, layer.scale


def to_loss_units(y_pred: torch.Tensor, y_true: torch.Tensor, mean: torch.Tensor,
                  scale: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Standardize predictions and targets with the target statistics (see above).

    ``y_true`` takes the predictions' shape when it has as many values (a 1-D y for
    one output column); ``mean`` and ``scale`` broadcast over the last dimension.
    """
    if y_true.shape != y_pred.shape and y_true.numel() == y_pred.numel():
        y_true = y_true.reshape(y_pred.shape)
    if y_pred.ndim == 1 and mean.ndim >= 1 and mean.shape[-1] == 1:  # a squeezed output
        mean, scale = mean[..., 0], scale[..., 0]
    return (y_pred - mean) / scale, (y_true.to(y_pred.dtype) - mean) / scale


@contextlib.contextmanager
def float64_forward(net: Any) -> Iterator[None]:
    """Within the block, ``net``'s forward passes run a float64 copy of its module.

    For predictions in float64: each row's result then does not depend on the
    batch it is computed in (up to ~1e-16), unlike float32 matrix products.
    The copy is in evaluation mode; the net's own module is not touched.
    """
    forward = net._forward_module
    net._forward_module = copy.deepcopy(net.module_).to(torch.float64).eval()
    try:
        yield
    finally:
        net._forward_module = forward


def check_2d(net: Any, ndim: int, shape: Any) -> None:
    """The built-in MLP takes 2-D X: raise with what to write instead."""
    if uses_recipe(net) and ndim > 2:
        raise ValueError(
            f"The built-in MLP (module=None) takes 2-D X of shape (n_samples, n_features); "
            f"got X of shape {tuple(shape)}. Flatten X (e.g. X.reshape(len(X), -1)) or pass "
            "your own module (e.g. a CNN) with module=..."
        )
