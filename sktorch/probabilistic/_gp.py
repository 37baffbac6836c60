"""What the Gaussian-process nets share: the likelihood component, the criterion, posteriors."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import gpytorch
import numpy as np
import torch

from sktorch import _params
from sktorch.net import NeuralNet

__all__ = ["GPMixin"]


def _as_float_tensor(X: Any, like: torch.Tensor | None = None) -> torch.Tensor:
    dtype = like.dtype if like is not None else torch.float32
    device = like.device if like is not None else None
    if isinstance(X, torch.Tensor):
        return X.to(dtype=dtype, device=device)
    return torch.as_tensor(np.asarray(X), dtype=dtype, device=device)


class GPMixin:
    """The likelihood component, the marginal-likelihood criterion and the posteriors."""

    prefixes_ = (*_params.PREFIXES, "likelihood")
    _module_takes_likelihood = False

    def _init_gp(self, module: Any, likelihood: Any, criterion: Any, **kwargs: Any) -> None:
        """``__init__`` of a GP net: store the likelihood, pass the rest to ``NeuralNet``."""
        self.likelihood = likelihood
        NeuralNet.__init__(self, module, criterion=criterion, **kwargs)

    def initialize_criterion(self):
        # The marginal likelihood needs the module and the likelihood: it is built
        # in initialize_module, once both exist.
        self.criterion_ = None
        return self

    def _module_kwargs(self, data_shape: dict | None = None) -> dict[str, Any]:
        kwargs = _params.component_params(self, "module")
        if self._module_takes_likelihood and isinstance(self.module, type):
            kwargs.setdefault("likelihood", self.likelihood_)
        return kwargs

    def initialize_module(self, data_shape: dict | None = None):
        likelihood = self.likelihood
        if isinstance(likelihood, type):
            likelihood = likelihood(**_params.component_params(self, "likelihood"))
        elif not self.warm_start:
            likelihood = copy.deepcopy(likelihood)
        self.likelihood_ = likelihood.to(self.device) if self.device else likelihood
        super().initialize_module(data_shape)
        # A module instance given with its own likelihood keeps it: one object to train.
        own = getattr(self.module_, "likelihood", None)
        if self._module_takes_likelihood and isinstance(own, gpytorch.likelihoods.Likelihood):
            self.likelihood_ = own
        criterion = self._criterion_class()
        self.criterion_ = criterion(likelihood=self.likelihood_, model=self.module_,
                                    **_params.component_params(self, "criterion"))
        return self

    def get_loss(self, y_pred: Any, y_true: Any, X: Any = None, training: bool = False):
        y_true = y_true.to(y_pred.mean.dtype).reshape(y_pred.mean.shape[-1:])
        return -self.criterion_(y_pred, y_true)

    # ------------------------------------------------------------ predictions
    def _posteriors(self, X: Any, likelihood: bool = True) -> Iterator[Any]:
        """The (predictive) distribution of each batch of X, without gradients."""
        self.check_is_fitted()
        like = next(self.module_.parameters(), None)
        X = _as_float_tensor(X, like)
        size = len(X) if self.batch_size == -1 else self.batch_size
        self.module_.eval()
        self.likelihood_.eval()
        with torch.no_grad():
            for start in range(0, len(X), size):
                out = self.module_(X[start:start + size])
                yield self.likelihood_(out) if likelihood else out

    def _predictive_mean_std(self, X: Any) -> tuple[np.ndarray, np.ndarray]:
        """Mean and standard deviation of the predictive distribution at X."""
        means, stds = [], []
        for dist in self._posteriors(X):
            means.append(dist.mean)
            stds.append(dist.stddev)
        return torch.cat(means).cpu().numpy(), torch.cat(stds).cpu().numpy()

    def sample(self, X: Any, n_samples: int, axis: int = -1) -> torch.Tensor:
        """Draw ``n_samples`` functions from the posterior at X.

        Returns a tensor of shape ``(n_samples, len(X))``: batches of X are
        joined along ``axis``.
        """
        draws = [dist.rsample(torch.Size([n_samples]))
                 for dist in self._posteriors(X, likelihood=False)]
        return torch.cat(draws, dim=axis)

    def confidence_region(self, X: Any, sigmas: float = 2) -> tuple[np.ndarray, np.ndarray]:
        """Lower and upper bounds ``mean -/+ sigmas * std`` of the predictive distribution."""
        mean, std = self._predictive_mean_std(X)
        return mean - sigmas * std, mean + sigmas * std
