"""A weighted fit records the weighted epoch loss: ``sum(w * loss) / sum(w)`` over a part.

Each batch's loss is the weighted mean over the batch; the epoch's ``train_loss`` and
``valid_loss`` weight the batches by their total sample weight (``*_batch_weight`` in
their rows), not by their size, so light batches do not count as much as heavy ones.
Unweighted fits record what they always did. Fused search members record the same
values as their sequential fits.
"""

import os

import numpy as np
import pytest
import torch
from sklearn.utils import compute_sample_weight
from torch import nn

from sktorch import NeuralNetClassifier, NeuralNetRegressor
from sktorch.callbacks import Callback, Checkpoint, EarlyStopping
from sktorch.dataset import ValidSplit
from sktorch.model_selection import GridSearchCV
from tests.conftest import RegressorModule
from tests.test_fused_search import assert_all_fused, assert_same_results, fit_both

DEVICE = os.environ.get("SKTORCH_TEST_DEVICE", "cuda")  # as in test_cuda.py


def _data(n=50, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 3)).astype(np.float32)
    y = (X @ np.array([1.0, -2.0, 0.5]) + rng.normal(scale=0.5, size=n)).astype(np.float32)
    return X, y.reshape(-1, 1)


def _frozen_regressor(**kwargs):
    """lr=0: the model never moves, so an epoch's loss is the loss of the initial model."""
    params = dict(module=nn.Linear, module__in_features=3, module__out_features=1, lr=0.0,
                  max_epochs=1, batch_size=16, train_split=None, verbose=0, random_state=0)
    return NeuralNetRegressor(**{**params, **kwargs})


def _batch_sizes_and_weights(rows, prefix):
    return ([row[f"{prefix}_batch_size"] for row in rows if f"{prefix}_loss" in row],
            [row.get(f"{prefix}_batch_weight") for row in rows if f"{prefix}_loss" in row])


# ------------------------------------------------------------------ sequential fits
def test_weighted_train_loss_with_an_unequal_last_batch_is_the_weighted_mean():
    X, y = _data(n=50)  # batches of 16, 16, 16 and 2 rows
    weights = 10 ** np.random.default_rng(1).uniform(-2, 2, size=50)  # 0.01 to 100
    net = _frozen_regressor().fit(X, y, sample_weight=weights)
    errors = ((net.predict(X) - y) ** 2).ravel()
    expected = (weights * errors).sum() / weights.sum()
    assert net.history[-1, "train_loss"] == pytest.approx(expected, rel=1e-5)
    rows = net.history[-1, "batches"]
    sizes, totals = _batch_sizes_and_weights(rows, "train")
    assert sizes == [16, 16, 16, 2]
    # Averaged by size, the batch losses would make another epoch loss.
    by_size = sum(row["train_loss"] * row["train_batch_size"] for row in rows) / 50
    assert by_size != pytest.approx(expected, rel=1e-2)
    assert sum(totals) == pytest.approx(weights.sum(), rel=1e-6)  # every row, once


def test_batch_rows_keep_the_batch_weighted_mean_and_add_its_total_weight():
    X, y = _data(n=50)
    weights = np.random.default_rng(2).uniform(0.0, 3.0, size=50)
    net = _frozen_regressor(iterator_train__shuffle=False).fit(X, y, sample_weight=weights)
    errors = ((net.predict(X) - y) ** 2).ravel()
    rows = net.history[-1, "batches"]
    for row, start in zip(rows, range(0, 50, 16)):
        w, e = weights[start:start + 16], errors[start:start + 16]
        assert row["train_loss"] == pytest.approx((w * e).sum() / w.sum(), rel=1e-5)
        assert row["train_batch_weight"] == pytest.approx(w.sum(), rel=1e-6)
        assert row["train_batch_size"] == len(w)


def test_weighted_valid_loss_with_an_unequal_last_batch_is_the_weighted_mean():
    X, y = _data(n=100)
    split = ValidSplit(4, random_state=0)
    _, valid = split.split_indices(100)  # 25 validation rows: batches of 16 and 9
    weights = np.ones(100)
    weights[valid[16:]] = 10.0  # the short last batch is the heavy one
    net = _frozen_regressor(train_split=split).fit(X, y, sample_weight=weights)
    errors = ((net.predict(X[valid]) - y[valid]) ** 2).ravel()
    expected = (weights[valid] * errors).sum() / weights[valid].sum()
    assert net.history[-1, "valid_loss"] == pytest.approx(expected, rel=1e-5)
    sizes, totals = _batch_sizes_and_weights(net.history[-1, "batches"], "valid")
    assert sizes == [16, 9] and totals == pytest.approx([16.0, 90.0])


def test_class_weight_train_loss_is_the_weighted_mean():
    rng = np.random.default_rng(3)
    X = rng.normal(size=(50, 4)).astype(np.float32)
    y = (rng.uniform(size=50) < 0.2).astype(np.int64)  # imbalanced: 'balanced' matters
    net = NeuralNetClassifier(nn.Sequential(nn.Linear(4, 2), nn.Softmax(dim=-1)), lr=0.0,
                              class_weight="balanced", max_epochs=1, batch_size=16,
                              train_split=None, verbose=0, random_state=0).fit(X, y)
    nll = -np.log(net.predict_proba(X)[np.arange(50), y])
    weights = compute_sample_weight("balanced", y)
    expected = (weights * nll).sum() / weights.sum()
    assert net.history[-1, "train_loss"] == pytest.approx(expected, rel=1e-5)


def test_an_unweighted_fit_records_what_it_did_before():
    X, y = _data(n=50)
    net = _frozen_regressor().fit(X, y)
    errors = ((net.predict(X) - y) ** 2).ravel()
    assert net.history[-1, "train_loss"] == pytest.approx(errors.mean(), rel=1e-5)
    rows = net.history[-1, "batches"]
    assert all(set(row) == {"train_loss", "train_batch_size"} for row in rows)  # no new key
    # The size-weighted mean of the batch rows, bit for bit, as before.
    by_size = 0.0
    for row in rows:
        by_size += row["train_loss"] * row["train_batch_size"]
    assert net.history[-1, "train_loss"] == by_size / 50
    # Equal weights: the same loss as no weights.
    ones = _frozen_regressor().fit(X, y, sample_weight=np.full(50, 3.0))
    assert ones.history[-1, "train_loss"] == pytest.approx(net.history[-1, "train_loss"],
                                                           rel=1e-6)


def test_a_part_whose_batches_all_weigh_zero_falls_back_to_sizes():
    from sktorch.callbacks import PassthroughScoring
    from sktorch.history import History

    class Net:
        history = History()

    net = Net()
    net.history.new_epoch()
    rows = net.history[-1]["batches"]
    rows += [{"valid_loss": 0.0, "valid_batch_size": 4, "valid_batch_weight": 0.0},
             {"valid_loss": 2.0, "valid_batch_size": 1, "valid_batch_weight": 0.0}]
    PassthroughScoring("valid_loss").initialize().on_epoch_end(net)
    assert net.history[-1, "valid_loss"] == pytest.approx(0.4)


# ------------------------------------------------- monitors follow the weighted loss
class Constant(nn.Module):
    """Predicts one learned number for every row: each epoch's loss is known by hand."""

    def __init__(self):
        super().__init__()
        self.value = nn.Parameter(torch.zeros(1))

    def forward(self, X):
        return X[:, :1] * 0 + self.value


class RecordValue(Callback):
    def on_epoch_end(self, net, **kwargs):
        net.history.record("value", net.module_.value.item())


def _monitored_fit(callbacks):
    """Training moves the prediction from 0 towards 1, one step a batch.

    The validation rows: 10 light ones (weight 0.01, target 1.0) in the first batch,
    10 heavy ones (weight 1, target 0.4) in the second. The weighted loss is best
    near 0.4 (epoch 3); a mean of the two batches' losses by size would be best
    near 0.7 (epoch 7).
    """
    split = ValidSplit(5, random_state=0)
    _, valid = split.split_indices(100)
    X = np.ones((100, 1), dtype=np.float32)
    y = np.ones((100, 1), dtype=np.float32)
    y[valid[10:]] = 0.4
    weights = np.ones(100)
    weights[valid[:10]] = 0.01
    net = NeuralNetRegressor(Constant, lr=0.01, max_epochs=12, batch_size=10, verbose=0,
                             random_state=0, train_split=split,
                             callbacks=[RecordValue(), *callbacks])
    net.fit(X, y, sample_weight=weights)
    values = np.array(net.history[:, "value"])
    losses = [(weights[valid] * (v - y[valid].ravel()) ** 2).sum() / weights[valid].sum()
              for v in values]
    by_size = [(((v - y[valid[:10]]) ** 2).mean() + ((v - y[valid[10:]]) ** 2).mean()) / 2
               for v in values]
    assert np.argmin(by_size) != np.argmin(losses)  # the two disagree on the best epoch
    return net, int(np.argmin(losses)) + 1


def test_early_stopping_on_a_weighted_valid_loss_stops_after_its_best_epoch():
    stopper = EarlyStopping(monitor="valid_loss", patience=3, threshold=0.0,
                            load_best=True)
    net, best = _monitored_fit([stopper])
    assert stopper.best_epoch_ == best == 3
    assert len(net.history) == best + 3
    assert net.module_.value.item() == pytest.approx(net.history[best - 1, "value"])


def test_checkpoint_on_a_weighted_valid_loss_keeps_its_best_epoch(tmp_path):
    checkpoint = Checkpoint(monitor="valid_loss_best", dirname=str(tmp_path), load_best=True)
    net, best = _monitored_fit([checkpoint])
    saved = [row["epoch"] for row in net.history if row["event_cp"]]
    assert saved[-1] == best
    assert net.module_.value.item() == pytest.approx(net.history[best - 1, "value"])


# ------------------------------------------------------------------ fused search
def test_fused_members_record_the_weighted_losses_of_their_sequential_fits():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(150, 6)).astype(np.float32)
    y = (X @ rng.normal(size=6) / 3).astype(np.float32)
    weights = rng.choice([0.02, 1.0, 5.0], size=150)
    # cv=3: 100 rows a fold, ValidSplit(5): 80 to train (batches 12 x 6 + 8), 20 to
    # validate (12 + 8): unequal last batches in both passes.
    y = y.reshape(-1, 1)
    net = NeuralNetRegressor(RegressorModule, module__n_features=6, optimizer=torch.optim.SGD,
                             max_epochs=3, batch_size=12, train_split=ValidSplit(5),
                             verbose=0, random_state=0)
    fused, plain = fit_both(
        lambda fuse: GridSearchCV(net, {"lr": [0.01, 0.05]}, cv=3, fuse=fuse), X, y,
        sample_weight=weights)
    assert_all_fused(fused)
    assert_same_results(fused, plain)
    for row_f, row_p in zip(fused.cv_histories_, plain.cv_histories_):
        for h_f, h_p in zip(row_f, row_p):
            np.testing.assert_allclose(h_f[:, "valid_loss"], h_p[:, "valid_loss"],
                                       rtol=1e-5, atol=1e-6)
            np.testing.assert_allclose(h_f[:, "train_loss"], h_p[:, "train_loss"],
                                       rtol=1e-5, atol=1e-6)
            for prefix in ("train", "valid"):
                sizes_f, totals_f = _batch_sizes_and_weights(h_f[-1, "batches"], prefix)
                sizes_p, totals_p = _batch_sizes_and_weights(h_p[-1, "batches"], prefix)
                assert sizes_f == sizes_p and sizes_p[-1] == 8
                np.testing.assert_allclose(totals_f, totals_p, rtol=1e-6)


# ------------------------------------------------------------------ on a device
@pytest.mark.gpu
@pytest.mark.skipif(DEVICE == "cuda" and not torch.cuda.is_available(),
                    reason="needs a CUDA device")
def test_batch_weights_on_a_device_are_read_with_the_epoch_sync():
    X, y = _data(n=100)
    split = ValidSplit(4, random_state=0)
    train, valid = split.split_indices(100)
    weights = 10 ** np.random.default_rng(4).uniform(-2, 2, size=100)
    net = _frozen_regressor(train_split=split, device=DEVICE).fit(X, y, sample_weight=weights)
    errors = ((net.predict(X) - y) ** 2).ravel()
    for prefix, rows in (("train", train), ("valid", valid)):
        expected = (weights[rows] * errors[rows]).sum() / weights[rows].sum()
        assert net.history[-1, f"{prefix}_loss"] == pytest.approx(expected, rel=1e-5)
        _, totals = _batch_sizes_and_weights(net.history[-1, "batches"], prefix)
        assert all(type(total) is float for total in totals)  # no tensors left in the rows
        assert sum(totals) == pytest.approx(weights[rows].sum(), rel=1e-6)
