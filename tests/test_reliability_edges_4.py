"""Silent wrong results and lost models found in the fourth reliability round.

Each test fails without its fix.
"""

from __future__ import annotations

import inspect
import json
import os

import numpy as np
import pytest
import torch
from torch import nn

from sktorch import NeuralNetRegressor, callbacks
from sktorch.dataset import ValidSplit
from sktorch.history import History


def _regression_data(n=60, seed=0):
    X = np.random.RandomState(seed).randn(n, 3).astype("float32")
    return X, (X @ np.array([1.0, -2.0, 0.5], dtype="float32"))


# ------------------------------------------------ train/eval overrides run as torch runs them
class FrozenNormOnEval(nn.Module):
    """Overrides only ``eval``: records each call and keeps the norm layer's running stats."""

    def __init__(self):
        super().__init__()
        self.norm = nn.BatchNorm1d(3)
        self.out = nn.Linear(3, 1)
        self.calls = []

    def forward(self, X):
        return self.out(self.norm(X)).squeeze(-1)

    def eval(self):
        self.calls.append("eval")
        return super().eval()


class KeepsNormInEval(nn.Module):
    """Overrides ``train(mode)``: the norm layer always uses its running statistics."""

    def __init__(self):
        super().__init__()
        self.norm = nn.BatchNorm1d(3)
        self.out = nn.Linear(3, 1)

    def forward(self, X):
        return self.out(self.norm(X)).squeeze(-1)

    def train(self, mode=True):
        super().train(mode)
        self.norm.eval()
        return self


def test_a_modules_own_eval_runs_for_each_validation_pass_and_prediction():
    X, y = _regression_data()
    net = NeuralNetRegressor(FrozenNormOnEval, max_epochs=3, verbose=0, random_state=0)
    net.fit(X, y)
    assert net.module_.calls == ["eval"] * 3  # one validation pass per epoch
    net.predict(X)
    assert net.module_.calls == ["eval"] * 4
    assert not net.module_.training


def test_a_modules_own_train_keeps_its_frozen_norm_layer():
    X, y = _regression_data()
    net = NeuralNetRegressor(KeepsNormInEval, max_epochs=2, verbose=0, random_state=0)
    net.fit(X + 5.0, y)
    # Never in training mode, the norm layer's running statistics stay as initialized.
    assert torch.equal(net.module_.norm.running_mean, torch.zeros(3))
    assert net.module_.norm.num_batches_tracked.item() == 0


# ------------------------------------------- get_formatted_files names the files a save wrote
def _plain_files(dirname):
    """The files a user sees in a checkpoint directory (not the store or the manifest)."""
    return sorted(str(p) for p in dirname.rglob("*") if p.is_file()
                  and ".sktorch" not in p.parts and not p.name.endswith("manifest.json"))


@pytest.mark.parametrize("saver, kwargs", [
    ("Checkpoint", {}),
    ("Checkpoint", {"f_pickle": "net.pkl"}),
    ("Checkpoint", {"f_params": None, "f_pickle": "net.pkl"}),
    ("Checkpoint", {"f_optimizer": None}),
    ("Checkpoint", {"f_criterion": None}),
    ("Checkpoint", {"f_history": None}),
    ("Checkpoint", {"f_history": "logs/h_{last_epoch[epoch]}.json", "fn_prefix": "run_"}),
    ("TrainEndCheckpoint", {}),
    ("TrainEndCheckpoint", {"f_optimizer": None, "f_history": None, "f_pickle": "net.pkl"}),
])
def test_formatted_files_are_exactly_the_files_a_save_wrote(tmp_path, saver, kwargs):
    X, y = _regression_data()
    kwargs = {"dirname": str(tmp_path), **kwargs}
    cp = getattr(callbacks, saver)(**kwargs) if saver == "TrainEndCheckpoint" else (
        callbacks.Checkpoint(monitor=None, **kwargs))
    net = NeuralNetRegressor(max_epochs=2, verbose=0, random_state=0, callbacks=[cp]).fit(X, y)
    files = cp.get_formatted_files(net)
    for key in ("f_params", "f_optimizer", "f_criterion", "f_history", "f_pickle"):
        default = inspect.signature(type(cp)).parameters[key].default
        assert (files[key] is None) == (kwargs.get(key, default) is None), key
    written = [str(f) for f in files.values() if f is not None]
    # Formatted names: the first epoch's file stays beside the second's.
    older = [str(tmp_path / "run_logs" / "h_1.json")] if "fn_prefix" in kwargs else []
    assert sorted(written + older) == _plain_files(tmp_path)


def test_plain_history_file_is_the_saved_sets_history_as_json(tmp_path):
    X, y = _regression_data()

    class RecordsAfterTheSave(callbacks.Callback):
        def on_epoch_end(self, net, **kwargs):
            net.history.record("late", len(net.history))

    cp = callbacks.Checkpoint(monitor=None, dirname=str(tmp_path))
    net = NeuralNetRegressor(max_epochs=4, verbose=0, random_state=0,
                             callbacks=[("cp", cp), ("late", RecordsAfterTheSave())])
    net.fit(X, y)
    path = cp.get_formatted_files(net)["f_history"]
    with open(path) as handle:
        rows = json.load(handle)
    assert rows == cp.read_checkpoint(net).history  # the verified set's history
    assert [row["epoch"] for row in rows] == [1, 2, 3, 4]
    # Rows written again once complete; the last one as it was when saved.
    assert [row.get("late") for row in rows] == [1, 2, 3, None]
    assert History.from_file(path)[:, "train_loss"] == net.history[:, "train_loss"]
    # A resumed fit continues the same file with the new epochs.
    resumed = NeuralNetRegressor(max_epochs=2, verbose=0, random_state=0,
                                 callbacks=[("cp", cp), callbacks.LoadInitState(cp)])
    resumed.fit(X, y)
    with open(path) as handle:
        assert [row["epoch"] for row in json.load(handle)] == [1, 2, 3, 4, 5, 6]


def test_history_file_grows_in_place_within_a_fit(tmp_path):
    # A save appends the new epochs: it does not rewrite (and so replace) the whole file.
    X, y = _regression_data()
    inodes = []

    class Inode(callbacks.Callback):
        def on_epoch_end(self, net, **kwargs):
            inodes.append(os.stat(tmp_path / "history.json").st_ino)

    cp = callbacks.Checkpoint(monitor=None, dirname=str(tmp_path))
    NeuralNetRegressor(max_epochs=4, verbose=0, random_state=0,
                       callbacks=[("cp", cp), ("inode", Inode())]).fit(X, y)
    assert len(inodes) == 4 and len(set(inodes)) == 1


def test_formatted_params_name_is_the_saved_epochs_without_an_event_column(tmp_path):
    # With event_name=None nothing in the history says which epoch was saved: the
    # name must come from the save, not from the last epoch (params_4.pt was never written).
    X, y = _regression_data()
    cp = callbacks.Checkpoint(monitor=lambda net: len(net.history) == 2, event_name=None,
                              f_params="params_{last_epoch[epoch]}.pt", dirname=str(tmp_path))
    net = NeuralNetRegressor(max_epochs=4, verbose=0, random_state=0, callbacks=[cp]).fit(X, y)
    assert cp.get_formatted_files(net)["f_params"] == str(tmp_path / "params_2.pt")


def test_loading_a_checkpoints_history_by_name_reads_the_verified_set(tmp_path):
    # The plain file is a convenience copy: a damaged one does not spoil load_params.
    X, y = _regression_data()
    cp = callbacks.Checkpoint(monitor=None, dirname=str(tmp_path))
    net = NeuralNetRegressor(max_epochs=3, verbose=0, random_state=0, callbacks=[cp]).fit(X, y)
    path = tmp_path / "history.json"
    path.write_text(path.read_text()[:-20])  # e.g. a copy cut short
    fresh = NeuralNetRegressor(max_epochs=3, verbose=0).initialize()
    fresh.load_params(f_history=str(path))
    assert fresh.history[:, "train_loss"] == net.history[:, "train_loss"]
    assert History.from_file(str(path))[:, "epoch"] == [1, 2, 3]


# ------------------------------------------------------------------ sample weights per epoch
def test_weighted_validation_loss_is_the_weighted_mean_over_the_whole_split():
    # Batches with more weight count more: averaging the batches' weighted means by
    # their sizes lets light batches (here: weight 0.01) pull the epoch's loss around.
    X, y = _regression_data(n=100)
    split = ValidSplit(5, random_state=0)
    _, valid = split.split_indices(100)
    weights = np.ones(100)
    weights[valid[:10]] = 0.01
    net = NeuralNetRegressor(nn.Linear, module__in_features=3, module__out_features=1,
                             max_epochs=1, batch_size=10, verbose=0, random_state=0,
                             train_split=split)
    net.fit(X, y.reshape(-1, 1), sample_weight=weights)
    errors = ((net.predict(X[valid]) - y[valid].reshape(-1, 1)) ** 2).ravel()
    expected = (weights[valid] * errors).sum() / weights[valid].sum()
    assert net.history[-1, "valid_loss"] == pytest.approx(expected, rel=1e-5)
    assert errors.mean() != pytest.approx(expected, rel=1e-2)  # the weights matter here


def test_a_split_whose_validation_weights_are_all_zero_fails_with_the_fix():
    X, y = _regression_data(n=100)
    split = ValidSplit(5, random_state=0)
    _, valid = split.split_indices(100)
    weights = np.ones(100)
    weights[valid] = 0.0
    net = NeuralNetRegressor(max_epochs=1, verbose=0, random_state=0, train_split=split)
    with pytest.raises(ValueError, match="zero for all 20 samples of the validation part.*"
                                         "train_split=None"):
        net.fit(X, y, sample_weight=weights)
    # Before, its valid_loss was 0.0 every epoch: a perfect score for an empty set.
    assert net.fit(X, y, sample_weight=np.where(weights, 1.0, 1e-3)).history[
        -1, "valid_loss"] > 0


# ------------------------------------------------------------------ dict X, built-in module
def test_dict_x_with_the_built_in_mlp_says_what_to_pass():
    X, y = _regression_data()
    with pytest.raises(TypeError, match=r"built-in MLP.*keys \[a, b\].*module=YourModule"):
        NeuralNetRegressor(max_epochs=1, verbose=0).fit({"a": X[:, :2], "b": X[:, 2:]}, y)


# ------------------------------------------------------- early stopping counts each fit anew
def test_partial_fit_after_early_stopping_trains_until_its_own_patience_runs_out():
    X, y = _regression_data(n=100)
    net = NeuralNetRegressor(max_epochs=50, lr=0.0, verbose=0, random_state=0,
                             callbacks=[("es", callbacks.EarlyStopping(patience=2))])
    net.fit(X, y)
    assert len(net.history) == 3
    net.partial_fit(X, y)  # before: stopped after one epoch, on the last fit's misses
    assert len(net.history) == 6
    assert net.callbacks_[-1][1].best_epoch_ == 4


# ------------------------------------------ a continued fit validates on the same rows
@pytest.mark.parametrize("continue_fit", ["partial_fit", "warm_start"])
def test_a_continued_fit_validates_on_the_rows_the_first_fit_held_out(continue_fit):
    # With random_state, ValidSplit shuffles with a seed drawn per fit; drawn anew for
    # partial_fit, the validation rows were rows the net had trained on (lr=0 here:
    # the same weights must give the same valid_loss on the same rows).
    X, y = _regression_data(n=100)
    net = NeuralNetRegressor(max_epochs=2, lr=0.0, verbose=0, random_state=0,
                             warm_start=continue_fit == "warm_start")
    net.fit(X, y)
    first = net.history[-1, "valid_loss"]
    net.partial_fit(X, y) if continue_fit == "partial_fit" else net.fit(X, y)
    assert net.history[:, "valid_loss"] == pytest.approx([first] * 4)



class ZeroLinear(nn.Module):
    """The same weights whatever the seed: its loss depends on the rows only."""

    def __init__(self):
        super().__init__()
        self.out = nn.Linear(3, 1)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def forward(self, X):
        return self.out(X).squeeze(-1)


def test_a_fresh_fit_draws_its_split_anew_from_a_shared_random_state():
    X, y = _regression_data(n=100)
    net = NeuralNetRegressor(ZeroLinear, max_epochs=1, lr=0.0, verbose=0,
                             random_state=np.random.RandomState(0))
    first = net.fit(X, y).history[-1, "valid_loss"]
    assert net.fit(X, y).history[-1, "valid_loss"] != pytest.approx(first)
