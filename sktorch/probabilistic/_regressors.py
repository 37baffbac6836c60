"""Gaussian-process regression: ``ExactGPRegressor`` and the variational ``GPRegressor``."""

from __future__ import annotations

from typing import Any

import gpytorch
import numpy as np

from sktorch.probabilistic._gp import GPMixin, _as_float_tensor
from sktorch.regressor import NeuralNetRegressor

__all__ = ["ExactGPRegressor", "GPRegressor"]


class _GPRegressorBase(GPMixin, NeuralNetRegressor):
    def predict(self, X: Any, return_std: bool = False, return_cov: bool = False):
        """The predictive mean at X; with ``return_std``, also its standard deviation.

        ``return_cov`` is not offered: a batched prediction has no covariance
        between batches; ask ``sample`` or the module for joint behaviour.
        """
        if return_cov:
            raise NotImplementedError(
                "return_cov=True is not supported; use return_std=True for the marginal "
                "standard deviations, or sample(X, n_samples) for joint draws.")
        mean, std = self._predictive_mean_std(X)
        return (mean, std) if return_std else mean

    def predict_proba(self, X: Any) -> np.ndarray:
        return self.predict(X)


class ExactGPRegressor(_GPRegressorBase):
    """Exact Gaussian-process regression: the whole training set is one batch.

    Parameters
    ----------
    module : gpytorch.models.ExactGP class or instance
        A class gets ``likelihood=`` (the net's likelihood) and ``module__*``;
        it calls ``super().__init__(None, None, likelihood)``: the training data
        is set at ``fit``.
    likelihood : likelihood class or instance, default=GaussianLikelihood
    criterion : default=gpytorch.mlls.ExactMarginalLogLikelihood
    batch_size : int, default=-1
        The exact GP trains on all rows at once.
    train_split : default=None
    **kwargs
        Every other :class:`~sktorch.NeuralNet` parameter.

    Examples
    --------
    >>> import gpytorch, torch
    >>> class RbfModule(gpytorch.models.ExactGP):
    ...     def __init__(self, likelihood):
    ...         super().__init__(None, None, likelihood)
    ...         self.mean_module = gpytorch.means.ConstantMean()
    ...         self.covar_module = gpytorch.kernels.ScaleKernel(gpytorch.kernels.RBFKernel())
    ...     def forward(self, x):
    ...         return gpytorch.distributions.MultivariateNormal(
    ...             self.mean_module(x), self.covar_module(x))
    >>> X = torch.linspace(0, 3, 30).reshape(-1, 1); y = torch.sin(X[:, 0])
    >>> gpr = ExactGPRegressor(RbfModule, optimizer=torch.optim.Adam, lr=0.1,
    ...                        max_epochs=20, verbose=0, random_state=0).fit(X, y)
    >>> mean, std = gpr.predict(X, return_std=True)
    >>> bool(abs(mean - y.numpy()).max() < 0.2), mean.shape == std.shape
    (True, True)
    """

    _module_takes_likelihood = True

    def __init__(self, module: Any, likelihood: Any = gpytorch.likelihoods.GaussianLikelihood,
                 criterion: Any = gpytorch.mlls.ExactMarginalLogLikelihood,
                 batch_size: int = -1, train_split: Any = None, **kwargs: Any):
        self._init_gp(module, likelihood, criterion, batch_size=batch_size,
                      train_split=train_split, **kwargs)

    def train_step_single(self, batch: Any, **fit_params: Any) -> dict[str, Any]:
        # An exact GP in training computes the marginal likelihood of its stored
        # training data: store this batch (the whole set when batch_size=-1).
        Xi, yi = batch[0], batch[1]
        self.module_.set_train_data(inputs=Xi, targets=yi.reshape(-1).to(Xi.dtype),
                                    strict=False)
        return super().train_step_single(batch, **fit_params)

    def fit_loop(self, X: Any, y: Any = None, epochs: int | None = None, **kwargs: Any):
        super().fit_loop(X, y, epochs=epochs, **kwargs)
        # Predictions condition on every training row, in their original order.
        like = next(self.module_.parameters(), None)
        X_t = _as_float_tensor(X, like)
        self.module_.set_train_data(inputs=X_t, targets=_as_float_tensor(y, like).reshape(-1),
                                    strict=False)
        return self


class GPRegressor(_GPRegressorBase):
    """Variational Gaussian-process regression, trained in mini-batches.

    Parameters
    ----------
    module : gpytorch.models.ApproximateGP class or instance
    likelihood : default=GaussianLikelihood
    criterion : default=gpytorch.mlls.VariationalELBO
        Pass the number of training rows as ``criterion__num_data``.
    **kwargs
        Every other :class:`~sktorch.NeuralNet` parameter.
    """

    def __init__(self, module: Any, likelihood: Any = gpytorch.likelihoods.GaussianLikelihood,
                 criterion: Any = gpytorch.mlls.VariationalELBO, **kwargs: Any):
        self._init_gp(module, likelihood, criterion, **kwargs)
