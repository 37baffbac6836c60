"""Behaviours a user relies on, each pinned by a test that a small deliberate bug fails.

Each test names the bug it was checked against (injected by hand, seen to fail, reverted):
see the docstrings. They complement the broader usage tests, which passed with these bugs.
"""

import numpy as np
import pytest
import torch
from torch import nn

from sktorch import NeuralNet, NeuralNetBinaryClassifier, NeuralNetClassifier, NeuralNetRegressor
from sktorch.callbacks import Callback, EarlyStopping, EpochScoring
from sktorch.dataset import Dataset, ValidSplit
from sktorch.helper import predefined_split

RNG = np.random.RandomState(0)


class RowRecorder(nn.Module):
    """A linear model that records the row ids (feature 0) of each training batch."""

    def __init__(self, n_features=4):
        super().__init__()
        self.lin = nn.Linear(n_features, 1)
        self.batches = []

    def forward(self, X):
        if self.training:
            self.batches.append(X[:, 0].detach().long().tolist())
        return self.lin(X)


def rows_with_ids(n, n_features=4):
    X = RNG.randn(n, n_features).astype(np.float32)
    X[:, 0] = np.arange(n)
    return X, RNG.randn(n).astype(np.float32)


def epochs_of(batches, n_batches):
    return [sum(batches[i:i + n_batches], []) for i in range(0, len(batches), n_batches)]


# --------------------------------------------------------------------- shuffling
def test_each_epoch_draws_a_new_shuffle_of_every_row():
    """Bug: every epoch reusing the first epoch's order (e.g. a generator reseeded per pass)."""
    X, y = rows_with_ids(50)
    net = NeuralNetRegressor(RowRecorder, lr=0.0, max_epochs=4, batch_size=16,
                             train_split=None, verbose=0, random_state=0).fit(X, y)
    orders = epochs_of(net.module_.batches, 4)  # 16 + 16 + 16 + 2 rows
    assert len(orders) == 4
    for order in orders:
        assert sorted(order) == list(range(50))  # every row once
        assert order != list(range(50))  # shuffled
    assert len({tuple(order) for order in orders}) == 4  # a new order each epoch

    again = NeuralNetRegressor(RowRecorder, lr=0.0, max_epochs=4, batch_size=16,
                               train_split=None, verbose=0, random_state=0).fit(X, y)
    assert again.module_.batches == net.module_.batches  # the same seed, the same orders


# ------------------------------------------------------------- partial_fit labels
def test_partial_fit_encodes_a_chunk_against_all_classes():
    """Bug: encoding y against the labels of the chunk instead of ``classes_``.

    A chunk with only label 1 of classes [0, 1, 2] then trains towards class 0.
    (Sorted classes: the encoding of unsorted ``classes=`` is another issue's.)
    """
    X = RNG.randn(60, 4).astype(np.float32)
    net = NeuralNetClassifier(lr=0.5, max_epochs=20, train_split=None, verbose=0,
                              random_state=0)
    net.partial_fit(X, np.ones(60, dtype=np.int64), classes=[0, 1, 2])
    assert net.classes_.tolist() == [0, 1, 2]
    assert net.get_dataset(X, np.full(60, 1)).y.tolist() == [1] * 60
    assert net.predict(X).tolist() == [1] * 60
    net.partial_fit(X, np.full(60, 2))  # a later chunk with only the last class
    assert net.get_dataset(X, np.full(60, 2)).y.tolist() == [2] * 60
    assert net.predict(X).tolist() == [2] * 60


def test_partial_fit_with_string_classes_keeps_their_positions():
    X = RNG.randn(40, 4).astype(np.float32)
    net = NeuralNetClassifier(lr=0.5, max_epochs=20, train_split=None, verbose=0,
                              random_state=0)
    y = np.array(["cat", "dog"] * 20)  # no "ant" in this chunk
    net.partial_fit(X, y, classes=["ant", "cat", "dog"])
    assert net.get_dataset(X, y).y.tolist() == [1, 2] * 20
    proba = net.predict_proba(X)
    assert proba.shape == (40, 3)
    assert proba[:, 0].max() < 0.2  # the absent class is learned as unlikely


# ---------------------------------------------------------------- stratification
@pytest.mark.parametrize("random_state", [None, 0])
def test_valid_split_with_int_cv_stratifies(random_state):
    """Bug: ``ValidSplit(5, stratified=True)`` using an unstratified KFold."""
    y = np.array([0] * 40 + [1] * 60)  # sorted: KFold's first fold would be all zeros
    split = ValidSplit(5, stratified=True, random_state=random_state)
    train, valid = split.split_indices(100, y)
    assert np.bincount(y[valid]).tolist() == [8, 12]
    assert np.bincount(y[train]).tolist() == [32, 48]
    assert sorted(np.r_[train, valid].tolist()) == list(range(100))


def test_classifier_validates_on_a_stratified_fifth_by_default():
    X = RNG.randn(100, 4).astype(np.float32)
    y = np.array([0] * 40 + [1] * 60)
    seen = []

    def record_labels(net, X, y):
        seen.append(np.bincount(y).tolist())
        return 0.0

    NeuralNetClassifier(max_epochs=1, verbose=0, random_state=0,
                        callbacks=[EpochScoring(record_labels)]).fit(X, y)
    assert seen == [[8, 12]]


# ----------------------------------------------------------------- epoch losses
def test_epoch_losses_are_the_loss_over_all_rows_with_an_unequal_last_batch():
    """Bug: ``train_loss``/``valid_loss`` as the unweighted mean of the batch losses.

    With lr=0 the weights do not move, so the epoch's loss must equal the loss of
    the whole set. The last batch (2 of 50 rows) has a large error.
    """
    X = RNG.randn(50, 3).astype(np.float32)
    y = np.zeros(50, dtype=np.float32)
    y[-2:] = 10.0
    Xv = RNG.randn(21, 3).astype(np.float32)
    yv = np.zeros(21, dtype=np.float32)
    yv[-5:] = -10.0
    net = NeuralNetRegressor(nn.Linear, module__in_features=3, module__out_features=1,
                             lr=0.0, max_epochs=1, batch_size=16, verbose=0, random_state=0,
                             iterator_train__shuffle=False,
                             train_split=predefined_split(Dataset(Xv, yv))).fit(X, y)
    assert net.history[-1, "batches", :, "train_batch_size"] == [16, 16, 16, 2]
    assert net.history[-1, "batches", :, "valid_batch_size"] == [16, 5]
    train_mse = float(((net.predict(X) - y) ** 2).mean())
    valid_mse = float(((net.predict(Xv) - yv) ** 2).mean())
    assert net.history[-1, "train_loss"] == pytest.approx(train_mse, rel=1e-5)
    assert net.history[-1, "valid_loss"] == pytest.approx(valid_mse, rel=1e-5)


# ------------------------------------------------------------- output nonlinearity
class OneLogit(nn.Module):
    def __init__(self, n_features=4):
        super().__init__()
        self.lin = nn.Linear(n_features, 1)

    def forward(self, X):
        return self.lin(X).reshape(-1)


def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


@pytest.mark.parametrize("make", [
    lambda: NeuralNetBinaryClassifier(OneLogit),
    lambda: NeuralNetClassifier(OneLogit, criterion=nn.BCEWithLogitsLoss),
])
def test_predict_proba_applies_the_sigmoid_after_bce_with_logits(make):
    """Bug: ``predict_proba`` returning the raw logits after ``BCEWithLogitsLoss``."""
    X = (5 * RNG.randn(80, 4)).astype(np.float32)  # logits far outside [0, 1]
    y = (X[:, 0] > 0).astype(np.int64)
    net = make().set_params(lr=0.5, max_epochs=5, verbose=0, random_state=0).fit(X, y)
    logits = net.forward(X).numpy()
    assert np.abs(logits).max() > 2
    proba = net.predict_proba(X)
    np.testing.assert_allclose(proba[:, 1], _sigmoid(logits), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(proba[:, 0], 1 - _sigmoid(logits), rtol=1e-5, atol=1e-6)
    assert ((proba >= 0) & (proba <= 1)).all()
    assert net.predict(X).tolist() == (logits > 0).astype(np.int64).tolist()


def test_plain_net_predict_proba_applies_the_softmax_after_cross_entropy():
    X = (5 * RNG.randn(30, 4)).astype(np.float32)
    net = NeuralNet(nn.Linear, module__in_features=4, module__out_features=3,
                    criterion=nn.CrossEntropyLoss, max_epochs=1, verbose=0, random_state=0,
                    train_split=None).fit(X, RNG.randint(0, 3, 30))
    logits = net.forward(X)
    np.testing.assert_allclose(net.predict_proba(X), torch.softmax(logits, -1).numpy(),
                               rtol=1e-5, atol=1e-6)


# ---------------------------------------------------------------- early stopping
class ScriptedScore(Callback):
    """Record ``values[epoch - 1]`` as the history's ``'score'``."""

    def __init__(self, values=()):
        self.values = values

    def on_epoch_end(self, net, **kwargs):
        net.history.record("score", self.values[len(net.history) - 1])


def scripted_fit(values, **es_params):
    X = RNG.randn(20, 3).astype(np.float32)
    es = EarlyStopping(monitor="score", **es_params)
    net = NeuralNetRegressor(nn.Linear, module__in_features=3, module__out_features=1,
                             lr=0.0, max_epochs=len(values), train_split=None, verbose=0,
                             callbacks=[ScriptedScore(values), es])
    net.fit(X, X[:, :1])
    return net, es


def test_early_stopping_with_higher_is_better_follows_a_rising_score():
    """Bug: ``EarlyStopping`` comparing as if lower were always better."""
    net, es = scripted_fit([0.1, 0.2, 0.3, 0.4, 0.5, 0.6], lower_is_better=False, patience=2)
    assert len(net.history) == 6 and "stop_reason" not in net.history[-1]
    assert (es.best_score_, es.best_epoch_, es.misses_) == (0.6, 6, 0)

    net, es = scripted_fit([0.6, 0.5, 0.4, 0.3, 0.2, 0.1], lower_is_better=False, patience=2)
    assert len(net.history) == 3
    assert (es.best_score_, es.best_epoch_) == (0.6, 1)
    assert net.history[-1, "stop_reason"] == (
        "score did not improve for 2 epochs (best 0.6 at epoch 1)")


def test_early_stopping_with_lower_is_better_follows_a_falling_score():
    net, es = scripted_fit([0.6, 0.5, 0.4, 0.3, 0.2, 0.1], patience=2)
    assert len(net.history) == 6 and (es.best_score_, es.best_epoch_) == (0.1, 6)
    net, es = scripted_fit([0.1, 0.2, 0.3, 0.4, 0.5, 0.6], patience=2)
    assert len(net.history) == 3 and (es.best_score_, es.best_epoch_) == (0.1, 1)


# ---------------------------------------------------------------------- precision
class DtypeRecorder(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(3, 1)
        self.dtypes = []

    def forward(self, X):
        out = self.lin(X)
        self.dtypes.append(out.dtype)
        return out


def test_bf16_precision_runs_the_forward_pass_in_bfloat16():
    """Bug: ``precision='bf16'`` silently training and predicting in float32."""
    X = RNG.randn(40, 3).astype(np.float32)
    y = X.sum(axis=1)
    net = NeuralNetRegressor(DtypeRecorder, precision="bf16", max_epochs=2, batch_size=16,
                             verbose=0, random_state=0).fit(X, y)
    assert set(net.module_.dtypes) == {torch.bfloat16}
    assert len(net.module_.dtypes) == 2 * (2 + 1)  # 2 epochs of 2 training + 1 valid batch
    net.module_.dtypes.clear()
    pred = net.predict(X)
    assert net.module_.dtypes == [torch.bfloat16] * 3  # 40 rows in batches of 16
    assert pred.dtype == np.float32 and np.isfinite(pred).all()
    # the weights themselves stay float32 (autocast, not a cast of the module)
    assert {p.dtype for p in net.module_.parameters()} == {torch.float32}

    plain = NeuralNetRegressor(DtypeRecorder, max_epochs=1, verbose=0).fit(X, y)
    assert set(plain.module_.dtypes) == {torch.float32}
