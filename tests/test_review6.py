"""A first user's inputs to this session's changes that no test covered.

bfloat16 targets and weights through ``score`` (and so through cross-validation and the
search classes), a ``SliceDataset`` of bfloat16 rows, float8 wherever a tensor reaches
numpy, and a predefined validation set without targets given as a torch Dataset.
"""

import numpy as np
import pytest
import torch
from sklearn.model_selection import cross_val_score

from sktorch import NeuralNetClassifier, NeuralNetRegressor
from tests._exact import exactly

rng = np.random.RandomState(0)
X = torch.as_tensor(rng.randn(80, 3), dtype=torch.float32)
# values that bfloat16 holds exactly
Y = torch.as_tensor(np.round(rng.randn(80) * 8) / 8, dtype=torch.float32)
LABELS = (X[:, 0] > 0).to(torch.float32)
WEIGHTS = torch.as_tensor(rng.randint(1, 5, 80) / 4, dtype=torch.float32)


def _reg(**kwargs):
    kwargs.setdefault("train_split", None)
    return NeuralNetRegressor(max_epochs=3, verbose=0, random_state=0, **kwargs)


def _clf(**kwargs):
    return NeuralNetClassifier(max_epochs=3, verbose=0, random_state=0, train_split=None,
                               **kwargs)


def test_score_reads_bfloat16_targets_and_weights_as_their_float32_values():
    reg = _reg().fit(X, Y)
    assert reg.score(X, Y.bfloat16()) == pytest.approx(reg.score(X, Y), rel=1e-6)
    assert reg.score(X, Y, sample_weight=WEIGHTS.bfloat16()) == pytest.approx(
        reg.score(X, Y, sample_weight=WEIGHTS), rel=1e-6)
    clf = _clf().fit(X, LABELS)
    expected = clf.score(X, LABELS, sample_weight=WEIGHTS)
    assert clf.score(X, LABELS.bfloat16(), sample_weight=WEIGHTS.bfloat16()) == expected
    assert 0.5 < expected < 1.0  # a score that a wrong weighting would change


def test_cross_val_score_of_bfloat16_targets_is_that_of_their_float32_values():
    # scikit-learn's scorer calls the estimator's score: it gave nan for every fold
    as_bf16 = cross_val_score(_reg(), X, Y.bfloat16(), cv=2)
    as_f32 = cross_val_score(_reg(), X, Y, cv=2)
    assert np.isfinite(as_bf16).all()
    np.testing.assert_allclose(as_bf16, as_f32, rtol=1e-5)


def test_a_slice_dataset_of_bfloat16_rows_is_an_array_and_trains_a_regressor():
    from torch.utils.data import TensorDataset

    from sktorch.helper import SliceDataset

    y = SliceDataset(TensorDataset(X, Y.bfloat16()), idx=1)
    assert np.asarray(y).dtype == np.float32
    np.testing.assert_array_equal(np.asarray(y), Y.numpy())
    net = _reg().fit(SliceDataset(TensorDataset(X, Y.bfloat16()), idx=0), y)
    as_f32 = _reg().fit(SliceDataset(TensorDataset(X, Y), idx=0),
                        SliceDataset(TensorDataset(X, Y), idx=1))
    np.testing.assert_allclose(net.history[:, "train_loss"], as_f32.history[:, "train_loss"],
                               rtol=1e-5)


FLOAT8 = [torch.float8_e4m3fn, torch.float8_e5m2]


def _float8_message(what, dtype):
    return exactly(
        f"{what} is a {dtype} tensor; sktorch cannot check or train on float8 data. Convert "
        f"it first, e.g. {what}.float() (set the training precision with precision='bf16' "
        "or '16-mixed').")


@pytest.mark.parametrize("dtype", FLOAT8)
def test_float8_class_labels_and_dict_values_are_refused_with_what_to_do(dtype):
    # torch's "Got unsupported ScalarType" and "sum_cpu not implemented" before
    with pytest.raises(TypeError, match=_float8_message("y", dtype)):
        _clf().fit(X, LABELS.to(dtype))
    module = torch.nn.Linear(3, 1)
    with pytest.raises(TypeError, match=_float8_message("X['input']", dtype)):
        NeuralNetRegressor(module, max_epochs=1, verbose=0).fit({"input": X.to(dtype)},
                                                                 Y[:, None])


@pytest.mark.parametrize("dtype", FLOAT8)
def test_float8_weights_and_scored_targets_are_read_as_their_float32_values(dtype):
    from sktorch.utils import to_numpy

    weights = WEIGHTS.to(dtype)  # quarters from 0.25 to 1: exact in float8
    assert to_numpy(weights).dtype == np.float32
    np.testing.assert_array_equal(to_numpy(weights), WEIGHTS.numpy())
    fit = _reg().fit(X, Y, sample_weight=weights)
    np.testing.assert_allclose(fit.history[:, "train_loss"],
                               _reg().fit(X, Y, sample_weight=WEIGHTS).history[:, "train_loss"],
                               rtol=1e-6)
    targets = Y.to(dtype).float()  # the values float8 holds
    assert fit.score(X, targets.to(dtype)) == pytest.approx(fit.score(X, targets), rel=1e-6)


def test_a_predefined_torch_dataset_of_rows_without_y_is_refused_with_what_to_do():
    from torch.utils.data import TensorDataset

    from sktorch.helper import predefined_split

    net = _reg(train_split=predefined_split(TensorDataset(X[:20])))
    with pytest.raises(ValueError, match=r"^The validation TensorDataset of train_split has "
                       r"no y, but the net trains on targets.*predefined_split\(Dataset\("
                       r"X_valid, y_valid\)\)\.$"):
        net.fit(X, Y)  # an IndexError in the first validation step before
    net.set_params(train_split=predefined_split(TensorDataset(X[:20], Y[:20])))
    valid = net.fit(X, Y).history[:, "valid_loss"]
    from sktorch.dataset import Dataset

    same = _reg(train_split=predefined_split(Dataset(X[:20], Y[:20]))).fit(X, Y)
    np.testing.assert_allclose(valid, same.history[:, "valid_loss"], rtol=1e-5)


@pytest.mark.parametrize("at", [2.0, np.float64(2.0)])
def test_an_at_that_is_a_whole_float_acts_at_that_epoch(at):
    # e.g. Unfreezer(..., at=max_epochs / 2), as skorch takes it; refused as "never acts"
    from sktorch.callbacks import ParamMapper

    epochs = []
    mapper = ParamMapper("*bias", fn=lambda p: epochs.append(len(net.history)), at=at)
    net = _reg(callbacks=[mapper], module=torch.nn.Linear, module__in_features=3,
               module__out_features=1)
    net.fit(X, Y[:, None])
    assert epochs == [2]


def test_bfloat16_classes_and_loss_scoring_weights_are_read_as_float32():
    from sktorch.scoring import loss_scoring

    net = _clf().partial_fit(X, LABELS.bfloat16(),
                             classes=torch.tensor([1.0, 0.0], dtype=torch.bfloat16))
    np.testing.assert_array_equal(net.classes_, [0.0, 1.0])
    reg = _reg().fit(X, Y)
    assert loss_scoring(reg, X, Y, sample_weight=WEIGHTS.bfloat16()) == pytest.approx(
        loss_scoring(reg, X, Y, sample_weight=WEIGHTS), rel=1e-6)


@pytest.mark.parametrize("fuse", ["auto", False])
def test_a_search_of_a_classifier_on_bfloat16_labels_is_that_on_float32_labels(fuse):
    from sktorch.model_selection import GridSearchCV

    def search(labels):
        return GridSearchCV(_clf(), {"lr": [0.01, 0.1]}, cv=2, fuse=fuse).fit(X, labels)

    as_bf16, as_f32 = search(LABELS.bfloat16()), search(LABELS)  # bf16: a TypeError before
    np.testing.assert_allclose(as_bf16.cv_results_["mean_test_score"],
                               as_f32.cv_results_["mean_test_score"])
    np.testing.assert_array_equal(as_bf16.best_estimator_.classes_, [0.0, 1.0])


def test_score_weighs_by_sample_weight_as_scikit_learn_does():
    from sklearn.metrics import accuracy_score, r2_score

    g = np.random.RandomState(1)
    X = torch.as_tensor(g.randn(120, 3), dtype=torch.float32)
    labels = (X[:, 0] + 0.8 * torch.as_tensor(g.randn(120), dtype=torch.float32) > 0).long()
    targets = X.sum(dim=1) + 0.5 * torch.as_tensor(g.randn(120), dtype=torch.float32)
    weights = g.uniform(0.0, 3.0, 120)
    clf = NeuralNetClassifier(max_epochs=2, verbose=0, random_state=0).fit(X, labels)
    reg = NeuralNetRegressor(max_epochs=2, verbose=0, random_state=0).fit(X, targets)
    for net, metric, y in ((clf, accuracy_score, labels), (reg, r2_score, targets)):
        pred = net.predict(X)
        expected = metric(y.numpy(), pred, sample_weight=weights)
        assert expected != pytest.approx(metric(y.numpy(), pred))  # the weights matter
        for w in (weights, torch.as_tensor(weights), torch.as_tensor(weights).bfloat16()):
            tol = 1e-2 if w.dtype == torch.bfloat16 else 1e-6
            assert net.score(X, y, sample_weight=w) == pytest.approx(expected, abs=tol)


def test_a_predefined_stream_with_a_length_validates_as_its_rows_do():
    from torch.utils.data import IterableDataset

    from sktorch.dataset import Dataset
    from sktorch.helper import predefined_split

    g = np.random.RandomState(2)
    X = g.randn(80, 3).astype(np.float32)
    y = X.sum(axis=1).astype(np.float32)

    class Rows(IterableDataset):
        def __len__(self):
            return 20

        def __iter__(self):
            return iter((torch.as_tensor(X[i]), torch.as_tensor(y[i])) for i in range(20))

    def fit(valid):
        return NeuralNetRegressor(torch.nn.Linear, module__in_features=3,
                                  module__out_features=1, max_epochs=2, verbose=0,
                                  random_state=0, train_split=predefined_split(valid)).fit(X, y)

    streamed, rows = fit(Rows()), fit(Dataset(X[:20], y[:20]))
    np.testing.assert_allclose(streamed.history[:, "valid_loss"],
                               rows.history[:, "valid_loss"], rtol=1e-6)
