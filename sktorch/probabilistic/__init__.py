"""Gaussian processes on GPyTorch: ``ExactGPRegressor``, ``GPRegressor``, ``GPBinaryClassifier``.

Needs the ``gpytorch`` extra (``pip install sktorch[gpytorch]``); importing this
package without it raises an ``ImportError`` that says so.

The module is a GPyTorch model (``gpytorch.models.ExactGP`` for the exact GP, an
``ApproximateGP`` for the variational ones); the likelihood is a component of the
net like the module: ``likelihood=`` gives its class (or an instance) and
``likelihood__<name>=`` its arguments. The criterion is a GPyTorch marginal log
likelihood, built with the likelihood and the module; the loss is its negative.
"""

from sktorch._extras import require

require("sktorch.probabilistic", "gpytorch", "gpytorch")

from sktorch.probabilistic._classifier import GPBinaryClassifier  # noqa: E402
from sktorch.probabilistic._regressors import ExactGPRegressor, GPRegressor  # noqa: E402

__all__ = ["ExactGPRegressor", "GPRegressor", "GPBinaryClassifier"]
