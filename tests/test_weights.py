"""sample_weight, class_weight and scikit-learn's metadata routing."""

import numpy as np
import pytest
import sklearn
import torch
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV, cross_validate
from sklearn.utils import compute_sample_weight

from sktorch import NeuralNetClassifier, NeuralNetRegressor
from sktorch.callbacks import Callback
from sktorch.dataset import ValidSplit

RNG = np.random.RandomState(0)
X = RNG.randn(60, 5).astype(np.float32)
Y = (X[:, 0] + 0.5 * X[:, 1] > 0).astype(np.int64)
Y_REG = (X @ np.arange(1, 6) / 5).astype(np.float32)
W = RNG.randint(0, 4, size=60)


def full_batch(make, **kwargs):
    return make(**{"batch_size": -1, "train_split": None, "max_epochs": 15, "lr": 0.1,
                   "verbose": 0, "random_state": 0, **kwargs})


def params(net):
    return [p.detach().double().numpy() for p in net.module_.parameters()]


@pytest.mark.parametrize("make, y", [(NeuralNetClassifier, Y), (NeuralNetRegressor, Y_REG)])
@pytest.mark.parametrize("precision, rtol", [("32", 1e-4), ("64", 1e-10)])
def test_integer_weights_equal_repeated_rows(make, y, precision, rtol):
    weighted = full_batch(make, precision=precision).fit(X, y, sample_weight=W)
    repeated = full_batch(make, precision=precision).fit(X.repeat(W, axis=0), y.repeat(W))
    for a, b in zip(params(weighted), params(repeated)):
        np.testing.assert_allclose(a, b, rtol=rtol, atol=rtol * 1e-2)
    np.testing.assert_allclose(weighted.predict(X), repeated.predict(X), rtol=rtol)


def test_weights_of_ones_equal_no_weights():
    plain = full_batch(NeuralNetRegressor).fit(X, Y_REG)
    ones = full_batch(NeuralNetRegressor).fit(X, Y_REG, sample_weight=np.ones(60))
    np.testing.assert_allclose(plain.predict(X), ones.predict(X), rtol=1e-5)


def test_sample_weight_is_not_passed_to_forward():
    seen = []

    class Module(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.linear = torch.nn.Linear(5, 2)

        def forward(self, X, **kwargs):
            seen.append(sorted(kwargs))
            return torch.softmax(self.linear(X), dim=-1)

    NeuralNetClassifier(Module, max_epochs=1, verbose=0).fit(X, Y, sample_weight=W)
    assert seen and all(keys == [] for keys in seen)


class RecordBatches(Callback):
    def initialize(self):
        self.batches_ = []
        return self

    def on_batch_end(self, net, batch=None, training=None, **kwargs):
        self.batches_.append((training, [b.clone() for b in batch]))


@pytest.mark.parametrize("extra", [{}, {"iterator_train__num_workers": 0}])
def test_weights_are_batched_alongside_their_rows(extra):
    """Column 0 holds the row number; each batch's weights must belong to its rows."""
    X_ids = np.column_stack([np.arange(60), X[:, 1:]]).astype(np.float32)
    weights = np.arange(60) + 1.0
    recorder = RecordBatches()
    NeuralNetClassifier(max_epochs=2, batch_size=16, verbose=0, random_state=0,
                        callbacks=[recorder], **extra).fit(X_ids, Y, sample_weight=weights)
    assert {training for training, _ in recorder.batches_} == {True, False}
    for _, (Xb, _yb, wb) in recorder.batches_:
        np.testing.assert_array_equal(wb.numpy(), Xb[:, 0].numpy() + 1)


def test_validation_loss_is_weighted_with_the_validation_rows_weights():
    captured = []

    def split(dataset, y):
        train, valid = ValidSplit(4)(dataset, y)
        captured.append(valid)
        return train, valid

    weights = RNG.rand(60) + 0.1
    net = NeuralNetRegressor(lr=0.0, max_epochs=1, batch_size=100, verbose=0, random_state=0,
                             train_split=split).fit(X, Y_REG, sample_weight=weights)
    valid = captured[0]
    with torch.no_grad():
        y_pred = net.module_(valid.X).reshape(-1)
    # the built-in regressor's loss is in standardized target units
    mean, scale = net.module_.unstandardize.mean, net.module_.unstandardize.scale
    per_sample = ((y_pred - mean) / scale - (valid.y - mean) / scale) ** 2
    expected = float((valid.sample_weight * per_sample).sum() / valid.sample_weight.sum())
    assert net.history[-1, "valid_loss"] == pytest.approx(expected, rel=1e-5)


def test_class_weight_balanced_equals_its_sample_weights():
    y = np.r_[np.zeros(45, int), np.ones(15, int)]
    balanced = full_batch(NeuralNetClassifier, class_weight="balanced").fit(X, y)
    manual = full_batch(NeuralNetClassifier).fit(
        X, y, sample_weight=compute_sample_weight("balanced", y))
    np.testing.assert_allclose(balanced.predict_proba(X), manual.predict_proba(X), rtol=1e-5)


def test_class_weight_dict_steers_predictions_and_survives_clone():
    net = full_batch(NeuralNetClassifier, class_weight={0: 100.0, 1: 0.01})
    assert clone(net).get_params()["class_weight"] == {0: 100.0, 1: 0.01}
    assert (net.fit(X, Y).predict(X) == 0).mean() > 0.9


def test_class_weight_and_sample_weight_multiply():
    both = full_batch(NeuralNetClassifier, class_weight={0: 2.0}).fit(X, Y, sample_weight=W)
    manual = full_batch(NeuralNetClassifier).fit(X, Y, sample_weight=W * np.where(Y == 0, 2, 1))
    np.testing.assert_allclose(both.predict_proba(X), manual.predict_proba(X), rtol=1e-5)


@pytest.mark.parametrize("weights, message", [
    (np.ones(59), r"shape \(60,\)"),
    (np.ones((60, 2)), r"shape \(60,\)"),
    (-np.ones(60), "negative"),
    (np.zeros(60), "weights are zero"),
    (np.r_[np.nan, np.ones(59)], "NaN"),
])
def test_bad_sample_weight_names_the_problem(weights, message):
    with pytest.raises(ValueError, match=message):
        NeuralNetClassifier(max_epochs=1, verbose=0).fit(X, Y, sample_weight=weights)


def test_sample_weight_with_a_torch_dataset_is_refused():
    data = torch.utils.data.TensorDataset(torch.tensor(X), torch.tensor(Y_REG))
    net = NeuralNetRegressor(max_epochs=1, verbose=0, module__input_units=5)
    with pytest.raises(ValueError, match="in-memory X"):
        net.fit(data, None, sample_weight=np.ones(60))


@pytest.fixture
def routing():
    with sklearn.config_context(enable_metadata_routing=True):  # restored afterwards
        yield


class SpyClassifier(NeuralNetClassifier):
    calls: list = []

    def fit(self, X, y=None, sample_weight=None, **fit_params):
        SpyClassifier.calls.append(None if sample_weight is None else len(sample_weight))
        return super().fit(X, y, sample_weight=sample_weight, **fit_params)


def test_grid_search_and_cross_validate_route_sample_weight(routing):
    SpyClassifier.calls = []
    net = SpyClassifier(max_epochs=2, verbose=0, random_state=0)
    net.set_fit_request(sample_weight=True).set_score_request(sample_weight=False)
    search = GridSearchCV(net, {"lr": [0.01, 0.1]}, cv=3).fit(X, Y, sample_weight=W)
    assert len(SpyClassifier.calls) == 2 * 3 + 1
    assert all(n == 40 for n in SpyClassifier.calls[:6]) and SpyClassifier.calls[-1] == 60
    assert search.best_estimator_.class_weight is None
    SpyClassifier.calls = []
    cross_validate(net, X, Y, cv=3, params={"sample_weight": W})
    assert SpyClassifier.calls == [40, 40, 40]


def test_without_a_request_weights_are_refused_by_routing(routing):
    with pytest.raises(Exception, match="sample_weight"):
        GridSearchCV(NeuralNetClassifier(max_epochs=1, verbose=0), {"lr": [0.1]},
                     cv=2).fit(X, Y, sample_weight=W)
