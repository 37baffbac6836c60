"""Prediction for nets: batched forward passes, the output nonlinearity, cached outputs.

``PredictMixin`` gives :class:`~sktorch.NeuralNet` its ``forward_iter``, ``forward``,
``predict_proba`` and ``predict``; outputs stay on the device until one final move.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch

from sktorch._data import move
from sktorch._validation import check_X_y

__all__ = ["PredictMixin"]


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
        for batch in self.get_iterator(dataset, training=False):
            yield move(self.evaluation_step(batch, training=training), device)

    def forward(self, X: Any, training: bool = False, device: Any = "cpu") -> Any:
        """The module's output for all of X, concatenated."""
        outputs = list(self.forward_iter(X, training=training, device=None))
        if not outputs:
            return torch.empty(0)
        if isinstance(outputs[0], tuple):
            return tuple(move(torch.cat(parts), device) for parts in zip(*outputs))
        return move(torch.cat(outputs), device)

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
            y_out = self.forward(X, device=None)
            if isinstance(y_out, tuple):
                y_out = y_out[0]
            y_out = self._predict_nonlinearity()(y_out)
            dtype = torch.float64 if self.precision == "64" else torch.float32
            return y_out.to(dtype).cpu().numpy()

    def predict(self, X: Any) -> np.ndarray:
        """Predictions: ``predict_proba``'s output for ``NeuralNet``."""
        return self.predict_proba(X)
