"""Gaussian processes (sktorch.probabilistic) on small synthetic data; needs gpytorch."""

import importlib.util

import numpy as np
import pytest
import torch

from tests._without_package import stdout_without

needs_gpytorch = pytest.mark.skipif(importlib.util.find_spec("gpytorch") is None,
                                    reason="gpytorch is not installed")


def test_import_without_gpytorch_names_the_extra():
    # A fresh interpreter in which gpytorch cannot be found.
    code = (
        "try:\n"
        "    import sktorch.probabilistic\n"
        "except ImportError as e:\n"
        "    print(e)\n"
    )
    out = stdout_without("gpytorch", code)
    assert "pip install sktorch[gpytorch]" in out


def _rbf_module():
    import gpytorch

    class RbfModule(gpytorch.models.ExactGP):
        def __init__(self, likelihood):
            super().__init__(None, None, likelihood)
            self.mean_module = gpytorch.means.ConstantMean()
            self.covar_module = gpytorch.kernels.ScaleKernel(gpytorch.kernels.RBFKernel())

        def forward(self, x):
            return gpytorch.distributions.MultivariateNormal(
                self.mean_module(x), self.covar_module(x))

    return RbfModule


def _variational_module(n_inducing=16):
    import gpytorch

    class VariationalModule(gpytorch.models.ApproximateGP):
        def __init__(self, inducing_points):
            strategy = gpytorch.variational.VariationalStrategy(
                self, inducing_points,
                gpytorch.variational.CholeskyVariationalDistribution(len(inducing_points)),
                learn_inducing_locations=True)
            super().__init__(strategy)
            self.mean_module = gpytorch.means.ConstantMean()
            self.covar_module = gpytorch.kernels.ScaleKernel(gpytorch.kernels.RBFKernel())

        def forward(self, x):
            return gpytorch.distributions.MultivariateNormal(
                self.mean_module(x), self.covar_module(x))

    return VariationalModule


def _sine(n=40, seed=0):
    rng = np.random.RandomState(seed)
    X = np.sort(rng.uniform(0, 4, n)).reshape(-1, 1).astype("float32")
    y = (np.sin(2 * X[:, 0]) + 0.05 * rng.randn(n)).astype("float32")
    return X, y


@pytest.fixture(scope="module")
def exact_gp():
    from sktorch.probabilistic import ExactGPRegressor

    X, y = _sine()
    gpr = ExactGPRegressor(_rbf_module(), optimizer=torch.optim.Adam, lr=0.1, max_epochs=60,
                           verbose=0, random_state=0)
    return gpr.fit(X, y)


@pytest.mark.integrations
@needs_gpytorch
def test_exact_gp_mean_approaches_the_true_function(exact_gp):
    X_test = np.linspace(0.2, 3.8, 50, dtype="float32").reshape(-1, 1)
    mean = exact_gp.predict(X_test)
    assert mean.shape == (50,)
    assert np.abs(mean - np.sin(2 * X_test[:, 0])).max() < 0.15
    # Training lowered the negative marginal log likelihood.
    losses = exact_gp.history[:, "train_loss"]
    assert losses[-1] < losses[0] - 0.3


@pytest.mark.integrations
@needs_gpytorch
def test_exact_gp_std_grows_away_from_the_data(exact_gp):
    X_test = np.array([[2.0], [5.0], [8.0]], dtype="float32")
    _, std = exact_gp.predict(X_test, return_std=True)
    assert std[0] < 0.2 < std[1] < std[2]


@pytest.mark.integrations
@needs_gpytorch
def test_confidence_region_is_mean_plus_minus_sigmas_std(exact_gp):
    X_test = np.linspace(-1, 5, 30, dtype="float32").reshape(-1, 1)
    mean, std = exact_gp.predict(X_test, return_std=True)
    lower, upper = exact_gp.confidence_region(X_test, sigmas=2)
    assert np.all(lower < mean) and np.all(mean < upper)
    np.testing.assert_allclose(upper - lower, 4 * std, rtol=1e-4)
    lower1, upper1 = exact_gp.confidence_region(X_test, sigmas=1)
    np.testing.assert_allclose(upper1 - lower1, 2 * std, rtol=1e-4)


@pytest.mark.integrations
@needs_gpytorch
def test_samples_have_the_posterior_statistics(exact_gp):
    X_test = np.array([[1.0], [2.0], [6.0]], dtype="float32")
    torch.manual_seed(0)
    samples = exact_gp.sample(X_test, n_samples=2000)
    assert samples.shape == (2000, 3)
    mean, _ = exact_gp.predict(X_test, return_std=True)
    latent = next(exact_gp._posteriors(X_test, likelihood=False))
    np.testing.assert_allclose(samples.mean(0).numpy(), mean, atol=0.1)
    np.testing.assert_allclose(samples.std(0).numpy(), latent.stddev.numpy(), rtol=0.1)


@pytest.mark.integrations
@needs_gpytorch
def test_likelihood_is_a_component_with_its_own_params():
    import gpytorch

    from sktorch.probabilistic import ExactGPRegressor

    X, y = _sine(20)
    prior = gpytorch.priors.GammaPrior(2.0, 20.0)
    gpr = ExactGPRegressor(_rbf_module(), likelihood__noise_prior=prior, max_epochs=2,
                           verbose=0).fit(X, y)
    assert gpr.likelihood_.noise_covar.noise_prior is prior
    assert gpr.module_.likelihood is gpr.likelihood_
    assert gpr.get_params()["likelihood__noise_prior"] is prior
    with pytest.raises(ValueError, match="likelihood__"):
        ExactGPRegressor(_rbf_module(), likelihod__noise_prior=prior, max_epochs=1,
                         verbose=0).fit(X, y)


@pytest.mark.integrations
@needs_gpytorch
def test_variational_gp_regressor_learns_in_mini_batches():
    from sktorch.probabilistic import GPRegressor

    X, y = _sine(200)
    inducing = torch.linspace(0, 4, 16).reshape(-1, 1)
    gpr = GPRegressor(_variational_module(), module__inducing_points=inducing,
                      criterion__num_data=len(X), optimizer=torch.optim.Adam, lr=0.05,
                      batch_size=50, max_epochs=40, train_split=None, verbose=0,
                      random_state=0).fit(X, y)
    mean, std = gpr.predict(X, return_std=True)
    assert np.abs(mean - np.sin(2 * X[:, 0])).mean() < 0.15
    assert np.all(std > 0)


@pytest.mark.integrations
@needs_gpytorch
def test_gp_binary_classifier_separates_two_regions():
    from sktorch.probabilistic import GPBinaryClassifier

    rng = np.random.RandomState(0)
    X = rng.uniform(-3, 3, (200, 1)).astype("float32")
    y = (X[:, 0] > 0).astype("float32")
    inducing = torch.linspace(-3, 3, 10).reshape(-1, 1)
    clf = GPBinaryClassifier(_variational_module(), module__inducing_points=inducing,
                             criterion__num_data=len(X), optimizer=torch.optim.Adam, lr=0.1,
                             batch_size=50, max_epochs=30, verbose=0, random_state=0).fit(X, y)
    proba = clf.predict_proba(np.array([[-2.5], [2.5]], dtype="float32"))
    np.testing.assert_allclose(proba.sum(1), 1.0, rtol=1e-6)
    assert proba[0, 1] < 0.2 and proba[1, 1] > 0.8
    assert (clf.predict(X) == y).mean() > 0.95
