"""Gaussian processes on GPyTorch: ``ExactGPRegressor``, ``GPRegressor``, ``GPBinaryClassifier``.

Needs the ``gpytorch`` extra (``pip install sktorch[gpytorch]``); importing this
module without it raises an ``ImportError`` that says so.

The module is a GPyTorch model (``gpytorch.models.ExactGP`` for the exact GP, an
``ApproximateGP`` for the variational ones); the likelihood is a component of the
net like the module: ``likelihood=`` gives its class (or an instance) and
``likelihood__<name>=`` its arguments. The criterion is a GPyTorch marginal log
likelihood, built with the likelihood and the module; the loss is its negative.
"""

from __future__ import annotations

import copy
import importlib.util
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch

if importlib.util.find_spec("gpytorch") is None:
    raise ImportError(
        "sktorch.probabilistic needs the gpytorch package, which is not installed; "
        "install it with `pip install sktorch[gpytorch]` (or `pip install gpytorch`)."
    )

import gpytorch  # noqa: E402

from sktorch import _params  # noqa: E402
from sktorch.net import NeuralNet  # noqa: E402
from sktorch.regressor import NeuralNetRegressor  # noqa: E402

__all__ = ["ExactGPRegressor", "GPRegressor", "GPBinaryClassifier"]


def _as_float_tensor(X: Any, like: torch.Tensor | None = None) -> torch.Tensor:
    dtype = like.dtype if like is not None else torch.float32
    device = like.device if like is not None else None
    if isinstance(X, torch.Tensor):
        return X.to(dtype=dtype, device=device)
    return torch.as_tensor(np.asarray(X), dtype=dtype, device=device)


class _GPMixin:
    """What the three GPs share: the likelihood component, the criterion, predictions."""

    prefixes_ = (*_params.PREFIXES, "likelihood")
    _module_takes_likelihood = False

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
        means, stds = [], []
        for dist in self._posteriors(X):
            means.append(dist.mean)
            stds.append(dist.stddev)
        mean, std = torch.cat(means).cpu().numpy(), torch.cat(stds).cpu().numpy()
        return mean - sigmas * std, mean + sigmas * std


class _GPRegressorBase(_GPMixin, NeuralNetRegressor):
    def predict(self, X: Any, return_std: bool = False, return_cov: bool = False):
        """The predictive mean at X; with ``return_std``, also its standard deviation.

        ``return_cov`` is not offered: a batched prediction has no covariance
        between batches; ask ``sample`` or the module for joint behaviour.
        """
        if return_cov:
            raise NotImplementedError(
                "return_cov=True is not supported; use return_std=True for the marginal "
                "standard deviations, or sample(X, n_samples) for joint draws.")
        means, stds = [], []
        for dist in self._posteriors(X):
            means.append(dist.mean)
            stds.append(dist.stddev)
        mean = torch.cat(means).cpu().numpy()
        return (mean, torch.cat(stds).cpu().numpy()) if return_std else mean

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

    def __init__(
        self,
        module: Any,
        likelihood: Any = gpytorch.likelihoods.GaussianLikelihood,
        criterion: Any = gpytorch.mlls.ExactMarginalLogLikelihood,
        batch_size: int = -1,
        train_split: Any = None,
        **kwargs: Any,
    ):
        self.likelihood = likelihood
        NeuralNet.__init__(self, module, criterion=criterion, batch_size=batch_size,
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

    def __init__(
        self,
        module: Any,
        likelihood: Any = gpytorch.likelihoods.GaussianLikelihood,
        criterion: Any = gpytorch.mlls.VariationalELBO,
        **kwargs: Any,
    ):
        self.likelihood = likelihood
        NeuralNet.__init__(self, module, criterion=criterion, **kwargs)


class GPBinaryClassifier(_GPMixin, NeuralNet):
    """Variational Gaussian-process binary classification (labels 0 and 1).

    ``predict_proba`` returns ``(n, 2)``: the probabilities of 0 and of 1 under the
    Bernoulli likelihood; ``predict`` is 1 where the probability of 1 exceeds
    ``threshold``.

    Parameters
    ----------
    module : gpytorch.models.ApproximateGP class or instance
    likelihood : default=BernoulliLikelihood
    criterion : default=gpytorch.mlls.VariationalELBO
        Pass the number of training rows as ``criterion__num_data``.
    threshold : float, default=0.5
    **kwargs
        Every other :class:`~sktorch.NeuralNet` parameter.
    """

    def __init__(
        self,
        module: Any,
        likelihood: Any = gpytorch.likelihoods.BernoulliLikelihood,
        criterion: Any = gpytorch.mlls.VariationalELBO,
        train_split: Any = None,
        threshold: float = 0.5,
        **kwargs: Any,
    ):
        self.likelihood = likelihood
        self.threshold = threshold
        NeuralNet.__init__(self, module, criterion=criterion, train_split=train_split,
                           **kwargs)

    def predict_proba(self, X: Any) -> np.ndarray:
        p1 = torch.cat([dist.mean for dist in self._posteriors(X)]).cpu().numpy()
        return np.stack([1 - p1, p1], axis=1)

    def predict(self, X: Any) -> np.ndarray:
        return (self.predict_proba(X)[:, 1] > self.threshold).astype(np.int64)
