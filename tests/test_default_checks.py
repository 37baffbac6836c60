"""scikit-learn's estimator checks on the true defaults: NeuralNetClassifier() and
NeuralNetRegressor(), built-in model and recipe included (issue #12.3).

Only the two sample-weight-equivalence checks are declared expected-failed
(``sktorch.utils.expected_failed_checks``, through scikit-learn's own mechanism);
they are run and must pass with ``precision='64'`` and ``train_split=None``.
"""

import pytest
from sklearn.utils.estimator_checks import (
    check_sample_weight_equivalence_on_dense_data,
    check_sample_weight_equivalence_on_sparse_data,
    parametrize_with_checks,
)

from sktorch import NeuralNetClassifier, NeuralNetRegressor
from sktorch.utils import expected_failed_checks

DEFAULTS = [NeuralNetClassifier(), NeuralNetRegressor()]


@parametrize_with_checks(DEFAULTS, expected_failed_checks=expected_failed_checks)
def test_defaults_pass_sklearn_checks(estimator, check):
    check(estimator)


def test_only_the_weight_checks_are_declared_and_they_say_why():
    for net in DEFAULTS:
        declared = expected_failed_checks(net)
        assert sorted(declared) == ["check_sample_weight_equivalence_on_dense_data",
                                    "check_sample_weight_equivalence_on_sparse_data"]
        assert all("precision='64'" in why and "train_split=None" in why
                   for why in declared.values())


@pytest.mark.parametrize("make", [NeuralNetClassifier, NeuralNetRegressor])
@pytest.mark.parametrize("check", [check_sample_weight_equivalence_on_dense_data,
                                   check_sample_weight_equivalence_on_sparse_data])
def test_weight_checks_pass_in_float64_without_a_validation_split(make, check):
    net = make(precision="64", train_split=None, verbose=0)
    assert expected_failed_checks(net) == {}
    check(type(net).__name__, net)
