"""Sample and class weights: validation at fit, and the weighted loss.

Weights travel with the data: they are a third tensor of the in-memory ``Dataset``,
split with it by ``train_split`` and sliced into each batch as ``batch[2]``. They
never reach the module's ``forward``. A weighted batch's loss is
``sum(w * l) / sum(w)`` over the per-sample losses ``l`` (the criterion is run with
``reduction='none'``), so integer weights in one full batch give the same model as
repeated rows. Unweighted fits do not go through this module at all.
"""

from __future__ import annotations

from numbers import Real
from typing import Any

import numpy as np
import torch
from sklearn.utils import compute_sample_weight
from sklearn.utils.validation import check_array

from sktorch._data import tensor_to_numpy

__all__ = ["fit_weights", "weighted_loss", "check_class_weight", "check_split_weights"]


def check_class_weight(value: Any) -> bool:
    """Whether ``value`` is a valid ``class_weight``: None, 'balanced' or a dict."""
    return value is None or (isinstance(value, str) and value == "balanced") or isinstance(
        value, dict)


def _as_array(sample_weight: Any, n_samples: int) -> np.ndarray:
    if isinstance(sample_weight, Real) and not isinstance(sample_weight, bool):
        return np.full(n_samples, float(sample_weight))
    if isinstance(sample_weight, torch.Tensor):
        sample_weight = tensor_to_numpy(sample_weight)
    weights = check_array(sample_weight, ensure_2d=False, dtype=np.float64,
                          input_name="sample_weight")
    if weights.ndim != 1 or weights.shape[0] != n_samples:
        raise ValueError(
            f"sample_weight must have shape ({n_samples},), one weight per row of X; "
            f"got shape {weights.shape}."
        )
    if (weights < 0).any():
        raise ValueError("sample_weight contains negative values; weights must be >= 0.")
    return weights


def fit_weights(net: Any, sample_weight: Any, y: Any, n_samples: int) -> torch.Tensor | None:
    """Per-sample weights for a fit, ``sample_weight`` times ``class_weight``; or None.

    Parameters
    ----------
    net : NeuralNet
        Supplies ``class_weight`` (classifiers), ``precision`` and ``device``.
    sample_weight : array-like of shape (n_samples,), number or None
    y : array-like
        The validated targets (class labels for classifiers).
    n_samples : int
        Number of rows of X.
    """
    class_weight = getattr(net, "class_weight", None)
    if sample_weight is None and class_weight is None:
        return None
    weights = np.ones(n_samples) if sample_weight is None else _as_array(
        sample_weight, n_samples)
    if class_weight is not None:
        if y is None:
            raise ValueError("class_weight needs y; pass the class labels to fit.")
        labels = tensor_to_numpy(y) if isinstance(y, torch.Tensor) else np.asarray(y)
        weights = weights * compute_sample_weight(class_weight, labels.reshape(-1))
    if not weights.any():
        raise ValueError(
            "All sample weights are zero; at least one weight must be non-zero to train."
        )
    dtype = torch.float64 if getattr(net, "precision", "32") == "64" else torch.float32
    # A copy: the caller's array may be read-only (torch warns on those) and must not be
    # shared with the tensor.
    tensor = torch.from_numpy(np.array(weights, dtype=np.float64)).to(dtype)
    return tensor.to(net.device) if net.device is not None else tensor


def check_split_weights(dataset_train: Any, dataset_valid: Any) -> None:
    """Raise when the training or validation part of a split has only zero weights.

    Its loss, the weighted mean over its samples, would be undefined: a training
    part would not train, and a validation loss would steer early stopping and
    checkpoints by nothing.
    """
    for part, dataset in (("training", dataset_train), ("validation", dataset_valid)):
        weights = getattr(dataset, "sample_weight", None)
        if weights is not None and len(weights) and not bool(weights.any()):
            raise ValueError(
                f"sample_weight is zero for all {len(weights)} samples of the {part} part "
                "of train_split, so its weighted loss is undefined. Give some of them "
                "weight, validate on other data with train_split=predefined_split("
                "dataset), or pass train_split=None."
            )


def weighted_loss(net: Any, y_pred: Any, y_true: Any, X: Any, weights: torch.Tensor,
                  training: bool) -> torch.Tensor:
    """``sum(w * l) / sum(w)`` over the batch's per-sample losses ``l``.

    The per-sample losses come from ``net.get_loss`` with the criterion switched to
    ``reduction='none'`` for the call; losses with more than one value per sample
    (e.g. several output columns) are averaged per sample first. A batch whose
    weights are all zero has loss 0 (no division by zero, no device sync).
    """
    criterion = net.criterion_
    reduction = getattr(criterion, "reduction", None)
    if reduction is None:
        raise TypeError(
            f"sample_weight needs a criterion with a 'reduction' attribute (every torch.nn "
            f"loss has one); {type(criterion).__name__} has none. Weight the loss in your "
            "own get_loss instead."
        )
    criterion.reduction = "none"
    try:
        losses = net.get_loss(y_pred, y_true, X=X, training=training)
    finally:
        criterion.reduction = reduction
    n = weights.shape[0]
    if losses.ndim == 0 or losses.shape[0] != n:
        raise ValueError(
            f"sample_weight needs one loss per sample, but get_loss returned shape "
            f"{tuple(losses.shape)} for a batch of {n} with reduction='none'."
        )
    per_sample = losses.reshape(n, -1).mean(dim=1)
    weights = weights.to(per_sample.dtype)
    return (weights * per_sample).sum() / weights.sum().clamp_min(torch.finfo(
        per_sample.dtype).tiny)
