"""Scoring functions that use the net itself (skorch's ``skorch.scoring``)."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from sktorch._data import numpy_if_tensor
from sktorch._validation import check_X_y

__all__ = ["loss_scoring"]


def _reduction(criterion: Any) -> str | None:
    return getattr(criterion, "reduction", None)


def loss_scoring(net: Any, X: Any, y: Any = None, sample_weight: Any = None) -> Any:
    """The net's criterion on ``(X, y)``, computed as in validation.

    Usable as ``scoring=loss_scoring`` in scikit-learn (lower is better: negate it,
    or pass it to ``EpochScoring(loss_scoring, lower_is_better=True)``).

    Parameters
    ----------
    net : NeuralNet
        A fitted (or initialized) net.
    X : input data
    y : targets, optional
    sample_weight : array-like of shape (n_samples,), optional
        Weights of the per-sample losses (the criterion is run with
        ``reduction='none'``).

    Returns
    -------
    float or np.ndarray
        The mean loss over all samples (batches weighted by their size; the sum of
        the batch losses for ``reduction='sum'``), or the per-sample losses when the
        criterion has ``reduction='none'`` (then multiplied by ``sample_weight``).
        In the units of the net's own loss: standardized target units for the
        built-in regressor (``module=None``), as its recorded losses.

    Examples
    --------
    >>> import numpy as np, torch
    >>> from sktorch import NeuralNetRegressor
    >>> X = np.random.RandomState(0).randn(30, 2).astype('float32'); y = X[:, :1]
    >>> net = NeuralNetRegressor(torch.nn.Linear, module__in_features=2, module__out_features=1,
    ...                          max_epochs=1, verbose=0, random_state=0).fit(X, y)
    >>> bool(np.isclose(loss_scoring(net, X, y), ((net.predict(X) - y) ** 2).mean()))
    True
    """
    net.check_is_fitted()
    X, y = check_X_y(net, X, y, fitting=False)
    dataset = net.get_dataset(X, y)
    criterion = net.criterion_
    reduction = _reduction(criterion)
    per_sample = reduction == "none" or sample_weight is not None
    if per_sample and reduction is None:
        raise TypeError(
            f"sample_weight needs a criterion with a 'reduction' attribute; "
            f"{type(criterion).__name__} has none."
        )
    if per_sample:
        criterion.reduction = "none"
    losses, sizes = [], []
    try:
        with torch.no_grad():
            for batch in net.get_iterator(dataset, training=False):
                y_pred = net.evaluation_step(batch, training=False)
                loss = net.get_loss(y_pred, batch[1], X=batch[0], training=False)
                losses.append(loss.detach().float().cpu())
                sizes.append(len(loss) if per_sample else _n(batch[0]))
    finally:
        criterion.reduction = reduction
    if per_sample:
        values = torch.cat([loss.reshape(len(loss), -1).mean(dim=1) for loss in losses])
        values = values.numpy()
        if sample_weight is None:
            return values
        weights = np.asarray(numpy_if_tensor(sample_weight), dtype=np.float64)
        if reduction == "none":
            return values * weights
        return float((values * weights).sum() / weights.sum())
    values = np.array([float(loss) for loss in losses])
    if reduction == "sum":
        return float(values.sum())
    return float((values * np.array(sizes)).sum() / np.sum(sizes))


def _n(X: Any) -> int:
    if isinstance(X, dict):
        X = next(iter(X.values()))
    return X.shape[0] if hasattr(X, "shape") else len(X)
