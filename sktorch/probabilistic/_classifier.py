"""Gaussian-process binary classification: ``GPBinaryClassifier``."""

from __future__ import annotations

from typing import Any

import gpytorch
import numpy as np
import torch

from sktorch.net import NeuralNet
from sktorch.probabilistic._gp import GPMixin

__all__ = ["GPBinaryClassifier"]


class GPBinaryClassifier(GPMixin, NeuralNet):
    """Variational Gaussian-process binary classification (labels 0 and 1).

    ``predict_proba`` returns ``(n, 2)``: the probabilities of 0 and of 1 under the
    Bernoulli likelihood; ``predict`` is 1 where the probability of 1 exceeds
    ``threshold``.

    Parameters
    ----------
    likelihood : default=BernoulliLikelihood
    threshold : float, default=0.5
    module, criterion, **kwargs
        As in :class:`GPRegressor` (an ``ApproximateGP`` module; pass
        ``criterion__num_data``).
    """

    def __init__(self, module: Any, likelihood: Any = gpytorch.likelihoods.BernoulliLikelihood,
                 criterion: Any = gpytorch.mlls.VariationalELBO, train_split: Any = None,
                 threshold: float = 0.5, **kwargs: Any):
        self.threshold = threshold
        self._init_gp(module, likelihood, criterion, train_split=train_split, **kwargs)

    def predict_proba(self, X: Any) -> np.ndarray:
        p1 = torch.cat([dist.mean for dist in self._posteriors(X)]).cpu().numpy()
        return np.stack([1 - p1, p1], axis=1)

    def predict(self, X: Any) -> np.ndarray:
        return (self.predict_proba(X)[:, 1] > self.threshold).astype(np.int64)
