"""Prediction for nets: batched forward passes, the output nonlinearity, cached outputs.

``PredictMixin`` gives :class:`~sktorch.NeuralNet` its ``forward_iter``, ``forward``,
``predict_proba`` and ``predict``; outputs stay on the device until one final move.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import numpy as np
import torch

from sktorch._data import move, numpy_if_tensor
from sktorch._validation import check_X_y

__all__ = ["PredictMixin", "TensorScoreMixin", "concat_batches", "first_output", "loss_input",
           "detach_output"]


_MERGE_EVERY = 64


def first_output(y_pred: Any) -> Any:
    """The prediction in a module's output: the output itself, or a tuple's first element.

    A module may return ``(prediction, extra, ...)``; the default losses and
    ``predict``/``predict_proba`` use the first element (an overridden ``get_loss``
    receives the whole tuple). A dict has no first element, so it is refused.
    """
    if isinstance(y_pred, tuple):
        return y_pred[0]
    if isinstance(y_pred, Mapping):
        raise TypeError(
            f"The module returned a dict (keys {list(y_pred)}); sktorch takes the prediction "
            "from a tensor or from the first element of a tuple. Return "
            "(prediction, other_outputs) from forward, or override get_loss (and "
            "predict_proba) to pick the entry you need."
        )
    return y_pred


def loss_input(criterion: Any, y_pred: Any) -> Any:
    """What the default ``get_loss`` gives the criterion for a module's output.

    torch's own losses take a tensor: they get the prediction (a tuple's first
    element; a dict is refused). A loss of the user's own gets the output as it is,
    as in skorch, so that it can use every element.
    """
    if isinstance(y_pred, torch.Tensor) or not type(criterion).__module__.startswith("torch."):
        return y_pred
    return first_output(y_pred)


def detach_output(y_pred: Any) -> Any:
    """``detach`` a module's output: a tensor, or tensors inside a tuple, list or dict."""
    if isinstance(y_pred, torch.Tensor):
        return y_pred.detach()
    if isinstance(y_pred, Mapping):
        return {key: detach_output(value) for key, value in y_pred.items()}
    if isinstance(y_pred, (tuple, list)):
        return type(y_pred)(detach_output(value) for value in y_pred)
    return y_pred


def _cat_part(parts: list) -> Any:
    """Concatenate one output of several batches; what has no rows stays a list."""
    if all(isinstance(p, torch.Tensor) and p.ndim > 0 for p in parts):
        return torch.cat(parts)
    if all(isinstance(p, list) for p in parts):  # merged before: keep merging
        return [v for p in parts for v in p]
    return list(parts)  # e.g. a per-batch scalar such as an auxiliary loss


def _cat(outputs: list) -> Any:
    first = outputs[0]
    if isinstance(first, tuple):  # a module returning several outputs
        return tuple(_cat_part(list(parts)) for parts in zip(*outputs))
    if isinstance(first, Mapping):
        return {key: _cat_part([o[key] for o in outputs]) for key in first}
    return torch.cat(outputs)


def concat_batches(outputs: Iterable) -> Any:
    """``torch.cat`` of batch outputs (tensors or tuples of tensors), merged as they come.

    Thousands of small output tensors kept alive until one final ``cat`` sit between
    the activation buffers of the forward passes in the C heap and fragment it: a
    hand-written loop predicting 200k rows through a 500-unit layer peaks ~380 MiB
    above its start. Merging every ``_MERGE_EVERY`` batches keeps few of them alive.
    """
    merged: list = []
    pending: list = []
    for output in outputs:
        pending.append(output)
        if len(pending) == _MERGE_EVERY:
            merged.append(_cat(pending))
            pending = []
    if pending:
        merged.append(_cat(pending))
    if not merged:
        return torch.empty(0)
    return merged[0] if len(merged) == 1 else _cat(merged)


class PredictMixin:
    """Forward passes and predictions of a fitted net."""

    @contextlib.contextmanager
    def cached_forward(self, y_preds: list):
        """Make ``forward_iter`` yield ``y_preds`` (used to score without predicting again)."""
        self._cached_y_preds = y_preds
        try:
            yield
        finally:
            self._cached_y_preds = None

    def forward_iter(self, X: Any, training: bool = False, device: Any = "cpu") -> Iterator:
        """Yield the module's output batch by batch."""
        cached = getattr(self, "_cached_y_preds", None)
        if cached is not None:
            yield from (move(y, device) for y in cached)
            return
        self.check_is_fitted()
        X, _ = check_X_y(self, X, None, fitting=False)
        dataset = self.get_dataset(X)
        self._set_training(training)  # once per call: train() walks every submodule
        for batch in self.get_iterator(dataset, training=False):
            y_pred = self.evaluation_step(batch, training=training)
            yield y_pred if device is None else move(y_pred, device)

    def forward(self, X: Any, training: bool = False, device: Any = "cpu") -> Any:
        """The module's output for all of X, concatenated."""
        return move(concat_batches(self.forward_iter(X, training=training, device=None)),
                    device)

    def _predict_nonlinearity(self) -> Any:
        nonlin = self.predict_nonlinearity
        if nonlin != "auto":
            return nonlin if nonlin is not None else (lambda x: x)
        if isinstance(self.criterion_, torch.nn.CrossEntropyLoss):
            return lambda x: torch.softmax(x, dim=-1)
        if isinstance(self.criterion_, torch.nn.BCEWithLogitsLoss):
            return torch.sigmoid
        return lambda x: x

    def predict_proba(self, X: Any) -> np.ndarray:
        """The module's output after ``predict_nonlinearity``, as a numpy array."""
        with torch.no_grad():
            y_out = first_output(self.forward(X, device=None))
            y_out = self._predict_nonlinearity()(y_out)
            dtype = torch.float64 if self.precision == "64" else torch.float32
            return y_out.to(dtype).cpu().numpy()

    def predict(self, X: Any) -> np.ndarray:
        """Predictions: ``predict_proba``'s output for ``NeuralNet``."""
        return self.predict_proba(X)


class TensorScoreMixin:
    """``score`` of scikit-learn's classifier and regressor mixins, for tensor targets.

    Placed before ``ClassifierMixin`` / ``RegressorMixin``: tensors ``y`` and
    ``sample_weight`` are read as numpy arrays (bfloat16 as float32, which numpy has
    instead), as ``fit`` reads them, before scikit-learn's metric scores them.
    """

    def score(self, X: Any, y: Any, sample_weight: Any = None) -> float:
        """The mixin's score of ``predict(X)`` against ``y``: mean accuracy, or R².

        Examples
        --------
        >>> import torch
        >>> from sktorch import NeuralNetRegressor
        >>> X = torch.randn(40, 2)
        >>> y = X.sum(dim=1).to(torch.bfloat16)
        >>> net = NeuralNetRegressor(max_epochs=1, verbose=0).fit(X, y)
        >>> isinstance(net.score(X, y), float)
        True
        """
        return super().score(X, numpy_if_tensor(y),  # type: ignore[misc]
                             sample_weight=numpy_if_tensor(sample_weight))
