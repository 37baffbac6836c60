"""scikit-learn's own estimator checks, all of them, on the default estimators.

The instances use the default module (``module=None``, an MLP sized from the data)
with a quicker optimizer and two settings that scikit-learn's sample-weight check
needs: it compares predictions after fitting with integer weights and after
fitting on repeated rows at ``rtol=1e-7``. That holds only if both fits see the
same rows (``train_split=None``: no validation split, which would split repeated
rows differently) and compute in float64 (``precision='64'``); in float32 the two
fits differ by round-off (~1e-6), as any float32 learner would.
"""

import numpy as np
import pytest
import torch
from sklearn.utils import get_tags
from sklearn.utils.estimator_checks import parametrize_with_checks

from sktorch import NeuralNetBinaryClassifier, NeuralNetClassifier, NeuralNetRegressor

SETTINGS = dict(optimizer=torch.optim.Adam, lr=0.05, max_epochs=20, batch_size=64,
                verbose=0, random_state=0, train_split=None, precision="64")

ESTIMATORS = [
    NeuralNetClassifier(**SETTINGS),
    NeuralNetBinaryClassifier(**SETTINGS),
    NeuralNetRegressor(**SETTINGS),
]


@parametrize_with_checks(ESTIMATORS)
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


def test_tags_describe_what_the_estimators_support():
    clf, binary, reg = (get_tags(est) for est in ESTIMATORS)
    for tags in (clf, binary, reg):
        assert tags.input_tags.sparse and not tags.input_tags.allow_nan
        assert not tags.non_deterministic  # seeded CPU training is reproducible
        assert tags.target_tags.required
    assert clf.classifier_tags.multi_class and not binary.classifier_tags.multi_class
    assert not clf.classifier_tags.poor_score and not binary.classifier_tags.poor_score
    assert reg.target_tags.multi_output and not clf.target_tags.multi_output
    assert not reg.regressor_tags.poor_score
    assert get_tags(NeuralNetClassifier(device="cuda")).non_deterministic


def test_regressor_has_no_predict_proba():
    X = np.random.RandomState(0).randn(20, 3)
    net = NeuralNetRegressor(max_epochs=1, verbose=0).fit(X, X[:, 0])
    assert not hasattr(net, "predict_proba")
    with pytest.raises(AttributeError, match="use predict"):
        net.predict_proba(X)


@pytest.mark.parametrize("make", [NeuralNetClassifier, NeuralNetRegressor])
def test_float32_default_fits_and_predicts_on_check_style_data(make):
    """The float32 default on the checks' kind of data: int X, 1 sample, 1 feature."""
    rng = np.random.RandomState(0)
    X = rng.randint(0, 5, size=(30, 1))
    y = np.arange(30) % 2
    net = make(max_epochs=2, verbose=0, random_state=0).fit(X, y)
    assert net.predict(X).shape == (30,)
    assert net.predict(X[:1]).shape == (1,)
