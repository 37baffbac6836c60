"""History slicing as skorch users write it."""

import numpy as np
import pytest
import torch

from sktorch import History, NeuralNetRegressor
from sktorch.callbacks import Callback
from sktorch.engine import _materialize


def _history():
    h = History()
    for epoch in range(1, 4):
        h.new_epoch()
        h.record("epoch", epoch)
        h.record("train_loss", 1.0 / epoch)
        for b in range(2):
            h.new_batch()
            h.record_batch("train_loss", epoch + b / 10)
    h.record("valid_acc", 0.9)
    return h


def test_epoch_column_and_batch_slicing():
    h = _history()
    assert h[:, "train_loss"] == [1.0, 0.5, 1 / 3]
    assert h[-1, "batches", :, "train_loss"] == [3.0, 3.1]
    assert h[-1, "batches", -1, "train_loss"] == 3.1
    assert h[:, "batches", 0, "train_loss"] == [1.0, 2.0, 3.0]
    assert h[-1]["epoch"] == 3
    assert h[-1, "epoch"] == 3


def test_keys_missing_in_some_epochs_are_skipped_missing_everywhere_raise():
    h = _history()
    assert h[:, "valid_acc"] == [0.9]
    with pytest.raises(KeyError):
        h[:, "nope"]
    with pytest.raises(KeyError):
        h[0, "valid_acc"]


def test_fit_history_has_default_columns(clf_data):
    from sktorch import NeuralNetClassifier

    X, y = clf_data
    net = NeuralNetClassifier(max_epochs=2, verbose=0).fit(X, y)
    row = net.history[-1]
    for key in ("epoch", "train_loss", "valid_loss", "valid_acc", "dur", "train_loss_best"):
        assert key in row
    assert all(isinstance(v, float) for v in net.history[-1, "batches", :, "train_loss"])


def test_epoch_scoring_on_shuffled_training_batches_matches_real_accuracy(clf_data):
    from sktorch import NeuralNetClassifier
    from sktorch.callbacks import EpochScoring

    X, y = clf_data
    net = NeuralNetClassifier(
        max_epochs=3, lr=0.1, verbose=0, random_state=0, train_split=None,
        callbacks=[EpochScoring("accuracy", lower_is_better=False, on_train=True,
                                name="train_acc")],
    ).fit(X, y)
    # Scored from the epoch's cached predictions, in the shuffled batch order. The weights
    # move during the epoch, so compare against a loose bound rather than exact equality.
    assert abs(net.history[-1, "train_acc"] - net.score(X, y)) < 0.1
    assert net.history[-1, "train_acc"] > 0.6


def test_batch_values_are_plain_floats_after_each_epoch():
    """Device losses (and tensors a callback writes) become floats, read in one sync."""
    rows = [{"train_loss": torch.tensor(0.5), "train_batch_size": 4},
            {"train_loss": torch.tensor(0.25, dtype=torch.float16), "valid_loss": 2.0}]
    _materialize(rows)
    assert rows == [{"train_loss": 0.5, "train_batch_size": 4},
                    {"train_loss": 0.25, "valid_loss": 2.0}]
    assert all(type(v) in (float, int) for row in rows for v in row.values())

    class RecordsGradNorm(Callback):  # writes from a hook other than on_batch_*
        def on_grad_computed(self, net, named_parameters, **kwargs):
            norms = [p.grad.norm() for _, p in named_parameters if p.grad is not None]
            net.history.record_batch("grad_norm", torch.stack(norms).sum())

    X = np.random.RandomState(0).randn(64, 3).astype(np.float32)
    net = NeuralNetRegressor(max_epochs=2, batch_size=16, verbose=0, train_split=None,
                             callbacks=[RecordsGradNorm()]).fit(X, X[:, 0])
    values = net.history[:, "batches", :, "grad_norm"]
    assert len(values) == 2 and all(len(epoch) == 4 for epoch in values)
    assert all(type(v) is float for epoch in values for v in epoch)
