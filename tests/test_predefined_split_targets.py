"""A predefined validation Dataset without targets, for a net that trains on targets."""


import numpy as np
import pytest

from sktorch import NeuralNetClassifier, NeuralNetRegressor
from sktorch.dataset import Dataset
from sktorch.helper import predefined_split
from tests._exact import raises_exactly

rng = np.random.RandomState(0)
X = rng.randn(60, 3).astype(np.float32)
Y = X.sum(axis=1)
MESSAGE = ("The validation Dataset of train_split has no y, but the net trains on targets: "
           "its valid_loss needs them. Build it with its targets, e.g. "
           "train_split=predefined_split(Dataset(X_valid, y_valid)).")


@pytest.mark.parametrize("cls, y", [(NeuralNetRegressor, Y),
                                    (NeuralNetClassifier, (Y > 0).astype(np.int64))])
def test_a_validation_dataset_without_y_is_refused_with_what_to_do(cls, y):
    net = cls(max_epochs=2, verbose=0, random_state=0,
              train_split=predefined_split(Dataset(X[:20], y[:20])))
    net.fit(X, y)
    before = net.predict(X)
    net.set_params(train_split=predefined_split(Dataset(X[:20])))
    with raises_exactly(ValueError, MESSAGE):
        net.fit(X, y)
    np.testing.assert_array_equal(net.predict(X), before)  # the fitted net is kept
    assert len(net.history) == 2
