"""Checkpoints: what is saved when, resuming, atomic files and parallel clones."""

import copy
import json
import os
import pickle

import numpy as np
import pytest
import torch
from sklearn.model_selection import GridSearchCV

import sktorch.persistence
from sktorch import NeuralNetRegressor
from sktorch.callbacks import Callback, Checkpoint, LoadInitState, TrainEndCheckpoint
from sktorch.dataset import Dataset
from sktorch.helper import predefined_split
from tests.conftest import RegressorModule


@pytest.fixture
def data():
    rng = np.random.RandomState(0)
    X = rng.randn(80, 8).astype(np.float32)
    y = (X[:, :1] + 0.5 * rng.randn(80, 1)).astype(np.float32)
    return X, y


def make_net(callbacks, **kwargs):
    params = dict(module=RegressorModule, max_epochs=4, lr=0.05, verbose=0, random_state=0)
    params.update(kwargs)
    return NeuralNetRegressor(callbacks=callbacks, **params)


def noisy_valid_split():
    """Validation data like the training data: with Adam at lr=0.2 the validation loss
    falls with ups and downs, so some epochs are the best so far and some are not."""
    rng = np.random.RandomState(1)
    Xv = rng.randn(30, 8).astype(np.float32)
    yv = (Xv[:, :1] + 0.5 * rng.randn(30, 1)).astype(np.float32)
    return Xv, yv, predefined_split(Dataset(Xv, yv))


def test_checkpoint_saves_at_best_epochs_with_formatted_names(data, tmp_path):
    X, y = data
    Xv, yv, split = noisy_valid_split()
    cp = Checkpoint(dirname=str(tmp_path), f_params="params_{last_epoch[epoch]}.pt")
    net = make_net([cp], max_epochs=12, lr=0.2, train_split=split,
                   optimizer=torch.optim.Adam).fit(X, y)
    saved = net.history[:, "event_cp"]
    losses = net.history[:, "valid_loss"]
    assert saved == [loss < min(losses[:i], default=np.inf) for i, loss in enumerate(losses)]
    assert saved.count(True) > 1 and False in saved[:-1]  # best, not best, best again
    assert saved[-1] is False  # the last file is not simply the last epoch's
    epochs = [row["epoch"] for row in net.history if row["event_cp"]]
    # plain-named links to the saved files (skorch's names)
    assert sorted(os.listdir(tmp_path)) == sorted(
        [f"params_{e}.pt" for e in epochs]
        + ["optimizer.pt", "criterion.pt", "history.json", "manifest.json", ".sktorch"])
    files = cp.get_formatted_files(net)
    assert files["f_params"] == str(tmp_path / f"params_{epochs[-1]}.pt")
    assert files["f_pickle"] is None
    best = make_net([]).initialize()  # the last file holds the best epoch's weights
    best.load_params(f_params=files["f_params"])
    mse = float(((best.predict(Xv).reshape(-1, 1) - yv) ** 2).mean())
    assert mse == pytest.approx(min(losses), rel=1e-5)


def test_load_params_from_checkpoint_restores_that_epoch(data, tmp_path):
    X, y = data
    cp = Checkpoint(monitor=None, dirname=str(tmp_path))
    net = make_net([cp]).fit(X, y)
    fresh = make_net([]).initialize()
    fresh.load_params(checkpoint=cp)
    np.testing.assert_allclose(fresh.predict(X), net.predict(X))
    assert fresh.history[:, "epoch"] == [1, 2, 3, 4]


def test_resume_with_load_init_state_continues_history(data, tmp_path):
    X, y = data
    cp = Checkpoint(monitor=None, dirname=str(tmp_path))
    first = make_net([cp, LoadInitState(cp)]).fit(X, y)
    second = make_net([cp, LoadInitState(cp)]).fit(X, y)
    assert second.history[:, "epoch"] == list(range(1, 9))
    assert second.history[:4] == first.history[:4]
    # training went on from the saved weights, not from scratch
    assert second.history[4]["train_loss"] < first.history[0]["train_loss"]
    assert second.history[4]["train_loss"] == pytest.approx(
        first.history[3]["train_loss"], rel=0.5)


def test_resumed_best_marks_continue_the_old_record(data, tmp_path):
    X, y = data
    cp = Checkpoint(dirname=str(tmp_path))  # saves at valid_loss_best
    make_net([cp, LoadInitState(cp)]).fit(X, y)
    net = make_net([cp, LoadInitState(cp)]).fit(X, y)
    losses = net.history[:, "valid_loss"]
    n_old = len(losses) - 4
    for i in range(n_old, len(losses)):
        assert net.history[i]["valid_loss_best"] == (losses[i] < min(losses[:i]))


def test_load_init_state_without_files_starts_fresh(data, tmp_path):
    X, y = data
    cp = Checkpoint(dirname=str(tmp_path / "none_yet"))
    net = make_net([LoadInitState(cp)]).fit(X, y)
    assert net.history[:, "epoch"] == [1, 2, 3, 4]


def test_checkpoint_load_best_restores_best_weights(data, tmp_path):
    X, y = data
    rng = np.random.RandomState(1)
    Xv, yv = rng.randn(30, 8).astype(np.float32), rng.randn(30, 1).astype(np.float32)
    cp = Checkpoint(dirname=str(tmp_path), load_best=True)
    net = make_net([cp], max_epochs=12, lr=0.2, train_split=predefined_split(Dataset(Xv, yv)),
                   optimizer=torch.optim.Adam).fit(X, y)
    mse = float(((net.predict(Xv).reshape(-1, 1) - yv) ** 2).mean())
    assert mse == pytest.approx(min(net.history[:, "valid_loss"]), rel=1e-5)
    assert len(net.history) == 12  # the history is kept


def test_train_end_checkpoint_saves_once(data, tmp_path):
    X, y = data
    cp = TrainEndCheckpoint(dirname=str(tmp_path), f_pickle="net.pkl")
    net = make_net([cp]).fit(X, y)
    assert sorted(os.listdir(tmp_path)) == [
        ".sktorch", "train_end_criterion.pt", "train_end_history.json",
        "train_end_manifest.json", "train_end_net.pkl", "train_end_optimizer.pt",
        "train_end_params.pt"]
    with open(tmp_path / "train_end_net.pkl", "rb") as f:
        np.testing.assert_allclose(pickle.load(f).predict(X), net.predict(X))
    fresh = make_net([]).initialize()
    fresh.load_params(checkpoint=cp)
    np.testing.assert_allclose(fresh.predict(X), net.predict(X))


class StateAtTrainBegin(Callback):
    """Copy the weights and optimizer state the fit starts from (after LoadInitState)."""

    def on_train_begin(self, net, **kwargs):
        self.weights_ = {k: v.clone() for k, v in net.module_.state_dict().items()}
        self.optimizer_ = copy.deepcopy(net.optimizer_.state_dict())


def assert_same_optimizer_state(a, b):
    assert a["param_groups"] == b["param_groups"]
    assert a["state"].keys() == b["state"].keys() and a["state"]
    for param, values in a["state"].items():
        assert values.keys() == b["state"][param].keys()
        for key, value in values.items():
            torch.testing.assert_close(value, b["state"][param][key], rtol=0, atol=0)


def test_safetensors_checkpoint_round_trip(data, tmp_path):
    from safetensors.torch import load_file

    X, y = data
    cp = Checkpoint(monitor=None, dirname=str(tmp_path), use_safetensors=True)
    first = make_net([cp, LoadInitState(cp)], optimizer=torch.optim.Adam).fit(X, y)
    weights = first.module_.state_dict()
    on_disk = load_file(tmp_path / "params.pt")  # the weights file is safetensors
    assert on_disk.keys() == weights.keys()
    assert all(torch.equal(on_disk[k], weights[k]) for k in weights)

    begin = StateAtTrainBegin()
    second = make_net([cp, LoadInitState(cp), begin], optimizer=torch.optim.Adam).fit(X, y)
    assert all(torch.equal(begin.weights_[k], weights[k]) for k in weights)
    assert_same_optimizer_state(begin.optimizer_, first.optimizer_.state_dict())
    assert second.history[:, "epoch"] == list(range(1, 9))
    assert second.history[:4] == first.history[:4]  # the saved history, value for value
    assert second.history[4]["train_loss"] < first.history[0]["train_loss"]


def test_checkpoint_monitoring_train_loss_without_validation(data, tmp_path):
    X, y = data
    cp = Checkpoint(monitor="train_loss_best", dirname=str(tmp_path))
    net = make_net([cp], train_split=None).fit(X, y)
    assert net.history[0]["event_cp"] is True


def test_failed_write_keeps_previous_checkpoint_intact(data, tmp_path, monkeypatch):
    X, y = data
    cp = Checkpoint(monitor=None, dirname=str(tmp_path), f_optimizer=None, f_criterion=None,
                    f_history=None)
    net = make_net([cp], max_epochs=1).fit(X, y)
    before = torch.load(tmp_path / "params.pt", weights_only=True)

    def crash_mid_write(obj, f, *args, **kwargs):
        f.write(b"half a file")
        raise OSError("disk full")

    monkeypatch.setattr(sktorch.persistence.torch, "save", crash_mid_write)
    with pytest.raises(OSError, match="disk full"):
        net.partial_fit(X, y)
    monkeypatch.undo()
    after = torch.load(tmp_path / "params.pt", weights_only=True)
    assert all(torch.equal(before[k], after[k]) for k in before)
    # no temporary file left behind
    assert sorted(os.listdir(tmp_path)) == [".sktorch", "manifest.json", "params.pt"]
    assert len(os.listdir(tmp_path / ".sktorch" / "default")) == 2  # lock, one version


def test_parallel_clones_never_corrupt_shared_files(data, tmp_path):
    """GridSearchCV(n_jobs=2): the folds of a candidate write the same files at once, and
    every file stays whole; candidates given their own dirname (in the grid) stay apart."""
    X, y = data
    cp = Checkpoint(monitor=None, dirname=str(tmp_path / "default"))
    net = make_net([("checkpoint", cp)], max_epochs=6)
    dirs = [str(tmp_path / "a"), str(tmp_path / "b")]
    GridSearchCV(net, {"callbacks__checkpoint__dirname": dirs}, cv=2, n_jobs=2,
                 scoring="neg_mean_squared_error", refit=False).fit(X, y)
    for d in dirs:  # no temporary files left, and every file loads
        assert sorted(os.listdir(d)) == [".sktorch", "criterion.pt", "history.json",
                                         "manifest.json", "optimizer.pt", "params.pt"]
        with open(os.path.join(d, "history.json")) as handle:  # whole, one fit's epochs
            assert [row["epoch"] for row in json.load(handle)] == list(range(1, 7))
        fresh = make_net([]).initialize()
        fresh.load_params(checkpoint=Checkpoint(monitor=None, dirname=d))
        assert fresh.history[:, "epoch"] == list(range(1, 7))
    assert not os.path.exists(cp.dirname)  # the user's instance is untouched


def test_resume_from_epoch_numbered_files(data, tmp_path):
    X, y = data
    cp = Checkpoint(dirname=str(tmp_path), f_params="params_{last_epoch[epoch]}.pt",
                    f_optimizer="optimizer_{last_epoch[epoch]}.pt")
    first = make_net([cp, LoadInitState(cp)], max_epochs=3).fit(X, y)  # nothing to resume yet
    second = make_net([cp, LoadInitState(cp)], max_epochs=2).fit(X, y)
    last_saved = [row["epoch"] for row in first.history if row["event_cp"]][-1]
    assert second.history[:, "epoch"] == list(range(1, last_saved + 3))
