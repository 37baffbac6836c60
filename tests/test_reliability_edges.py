"""Sharp edges left by earlier sessions: each test fails without its fix."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch

from sktorch import NeuralNetClassifier, NeuralNetRegressor
from sktorch.toy import make_classifier, make_regressor


def test_import_sktorch_leaves_sklearn_model_selection_unimported():
    # sklearn.model_selection (and the search classes) are slow to import and a
    # plain fit never needs them; they load on first use.
    code = (
        "import sys, sktorch\n"
        "assert 'sklearn.model_selection' not in sys.modules, 'imported eagerly'\n"
        "from sktorch.model_selection import GridSearchCV\n"
        "assert GridSearchCV.__module__ == 'sktorch.model_selection._search'\n"
        "from sktorch.dataset import ValidSplit\n"
        "import numpy as np\n"
        "train, valid = ValidSplit(4).split_indices(8)\n"
        "assert len(valid) == 2\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


# ---------------------------------------------------------------- precision after fit
def _regression_data():
    X = np.random.RandomState(0).randn(80, 3)
    return X, X @ np.array([1.0, -2.0, 0.5])


@pytest.mark.parametrize("module", [None, "toy"])
def test_set_params_precision_after_fit_casts_the_fitted_weights(module):
    X, y = _regression_data()
    module = make_regressor(input_units=3) if module == "toy" else None
    net = NeuralNetRegressor(module, max_epochs=3, verbose=0, random_state=0,
                             optimizer=torch.optim.Adam, train_split=None).fit(X, y)
    before = net.predict(X)
    net.set_params(precision="64")
    assert {p.dtype for p in net.module_.parameters()} == {torch.float64}
    after = net.predict(X)  # raised torch's "mat1 and mat2 must have the same dtype"
    np.testing.assert_allclose(after, before, atol=1e-5)
    # Training continues in float64: the optimizer's state followed the weights.
    net.partial_fit(X, y)
    state = net.optimizer_.state[next(net.module_.parameters())]
    assert state["exp_avg"].dtype == torch.float64
    # And back.
    net.set_params(precision="32")
    assert {p.dtype for p in net.module_.parameters()} == {torch.float32}
    net.partial_fit(X, y)
    assert np.isfinite(net.predict(X)).all()


def test_set_params_precision_casts_the_criterion_weights_of_a_classifier():
    X, _ = _regression_data()
    y = (X[:, 0] > 0).astype(int)
    net = NeuralNetClassifier(make_classifier(input_units=3), max_epochs=2, verbose=0,
                              random_state=0,
                              criterion__weight=torch.tensor([1.0, 2.0])).fit(X, y)
    proba = net.predict_proba(X)
    net.set_params(precision="64")
    np.testing.assert_allclose(net.predict_proba(X), proba, atol=1e-5)
    net.partial_fit(X, y)  # the criterion's weight buffer is float64 too
    assert net.criterion_.weight.dtype == torch.float64
