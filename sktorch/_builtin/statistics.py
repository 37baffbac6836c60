"""The built-in model's data: standardization statistics, loss units, its module.

The built-in module (:class:`~sktorch.toy.DefaultMLP`) holds the training rows'
feature statistics, and for regressors the targets', as buffers; the regressor's
loss compares standardized predictions with standardized targets.
"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Iterator
from typing import Any

import numpy as np
import scipy.sparse as sp
import torch

from sktorch.dataset import Dataset

__all__ = [
    "fit_statistics",
    "target_statistics",
    "to_loss_units",
    "float64_forward",
    "rebuild_module",
    "check_2d",
]


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
    if net.module is None and ndim > 2:
        raise ValueError(
            f"The built-in MLP (module=None) takes 2-D X of shape (n_samples, n_features); "
            f"got X of shape {tuple(shape)}. Flatten X (e.g. X.reshape(len(X), -1)) or pass "
            "your own module (e.g. a CNN) with module=..."
        )


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
