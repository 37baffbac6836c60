"""Edges a new-user review of checkpoints, precision and histories found."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from sklearn.base import clone

from sktorch import NeuralNetClassifier
from sktorch.callbacks import Checkpoint, LoadInitState
from sktorch.history import History
from sktorch.toy import make_classifier


def _data(n=120):
    rng = np.random.RandomState(0)
    X = rng.randn(n, 8).astype("float32")
    return X, (X[:, 0] > 0).astype("int64")


def _net(**kwargs):
    kwargs = {"max_epochs": 6, "lr": 0.5, "verbose": 0, "random_state": 0, **kwargs}
    return NeuralNetClassifier(make_classifier(input_units=8), **kwargs)


@pytest.mark.parametrize("continue_with", ["partial_fit", "warm_start"])
def test_load_best_after_continued_training_loads_the_best_weights(tmp_path, continue_with):
    X, y = _data()
    cp = Checkpoint(dirname=str(tmp_path), load_best=True)
    net = _net(callbacks=[cp], warm_start=continue_with == "warm_start").fit(X, y)
    net.set_params(lr=200.0)  # no new best in the continued epochs
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no warning about "another fit"
        if continue_with == "partial_fit":
            net.partial_fit(X, y, epochs=3)
        else:
            net.fit(X, y)
    losses = net.history[:, "valid_loss"]
    assert int(np.argmin(losses)) < 6  # premise: the best epoch is the first fit's
    reloaded = _net().initialize()
    reloaded.load_params(checkpoint=cp)
    for a, b in zip(net.module_.parameters(), reloaded.module_.parameters()):
        assert torch.equal(a, b)


def test_two_checkpoints_sharing_the_optimizer_file_fail_before_training(tmp_path):
    X, y = _data()
    best = Checkpoint(dirname=str(tmp_path), f_params="best.pt")
    every = Checkpoint(dirname=str(tmp_path), f_params="every.pt", monitor=None,
                       event_name="event_every")
    net = _net(callbacks=[("best", best), ("every", every)])
    with pytest.raises(ValueError, match="'optimizer.pt'.*fn_prefix"):
        net.fit(X, y)
    assert not any(tmp_path.iterdir())  # nothing trained or saved


def test_load_init_state_before_its_checkpoint_names_a_file_dirname(tmp_path):
    X, y = _data()
    afile = tmp_path / "afile"
    afile.write_text("not a directory")
    cp = Checkpoint(dirname=str(afile))
    net = _net(callbacks=[("load", LoadInitState(cp)), ("cp", cp)])
    with pytest.raises(NotADirectoryError, match="is a file, not a directory. Pass the name"):
        net.fit(X, y)
    assert afile.read_text() == "not a directory"


class _WithBuffer(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = torch.nn.Linear(8, 2)
        self.register_buffer("tiny", torch.tensor(6e-9, dtype=torch.float64))

    def forward(self, X):
        return torch.softmax(self.lin(X), dim=-1)


def test_setting_the_same_precision_after_fit_casts_nothing():
    X, y = _data()
    net = NeuralNetClassifier(_WithBuffer, max_epochs=1, verbose=0, train_split=None,
                              random_state=0).fit(X, y)
    net.set_params(precision="32")
    assert net.module_.tiny.dtype == torch.float64
    assert net.module_.tiny.item() == 6e-9


class _NotedHistory(History):
    def __init__(self, *args):
        super().__init__(*args)
        self.notes = []


def test_clone_of_a_net_with_a_history_subclass_shares_no_mutable_attributes():
    history = _NotedHistory()
    net = _net(history=history, max_epochs=2)
    cloned = clone(net)
    cloned_history = cloned._history_given
    assert type(cloned_history) is _NotedHistory
    cloned_history.notes.append(1)
    assert history.notes == []


class _LockedHistory(History):
    def __init__(self, *args):
        super().__init__(*args)
        import threading

        self.lock = threading.Lock()  # cannot be deep-copied
        self.seen = []


def test_clone_of_a_net_with_a_history_holding_a_lock_shares_the_lock_only():
    history = _LockedHistory()
    cloned = clone(_net(history=history))._history_given
    assert cloned.lock is history.lock
    assert cloned.seen is not history.seen
