"""Diverging training, Ctrl-C during fit, and reproducibility with ``random_state``."""

import copy
import json
import os
import pickle
import signal
import subprocess
import sys
import textwrap
import warnings

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV

from sktorch import NeuralNetClassifier, NeuralNetRegressor
from sktorch.callbacks import Callback, Checkpoint, TrainEndCheckpoint
from sktorch.exceptions import SktorchWarning, TrainingDivergedError

RNG = np.random.RandomState(0)
X = RNG.randn(96, 6).astype(np.float32)
Y = (X[:, 0] - X[:, 2] > 0).astype(np.int64)
Y_REG = X[:, :3].sum(axis=1).astype(np.float32)


class PoisonWeights(Callback):
    """Set one weight to ``value`` after training batch ``batch`` of epoch ``epoch``."""

    def __init__(self, epoch=2, batch=3, value=float("nan")):
        self.epoch = epoch
        self.batch = batch
        self.value = value

    def initialize(self):
        self.count_ = 0
        self.good_ = {}
        self.good_optimizer_ = {}
        return self

    def on_epoch_begin(self, net, **kwargs):
        self.count_ = 0

    def on_epoch_end(self, net, **kwargs):
        epoch = net.history[-1, "epoch"]
        self.good_[epoch] = {k: v.clone() for k, v in net.module_.state_dict().items()}
        self.good_optimizer_[epoch] = copy.deepcopy(net.optimizer_.state_dict())

    def on_batch_end(self, net, training=None, **kwargs):
        if not training:
            return
        self.count_ += 1
        if len(net.history) == self.epoch and self.count_ == self.batch:
            with torch.no_grad():
                next(net.module_.parameters()).view(-1)[0] = self.value


def regressor(**kwargs):
    return NeuralNetRegressor(**{"max_epochs": 4, "batch_size": 16, "verbose": 0,
                                 "random_state": 0, "train_split": None, **kwargs})


# ------------------------------------------------------------------- divergence
def test_nan_loss_raises_naming_epoch_and_batch():
    net = regressor(callbacks=[PoisonWeights(epoch=2, batch=3)])
    with pytest.raises(TrainingDivergedError, match=r"nan at epoch 2, training batch 4"):
        net.fit(X, Y_REG)


def test_inf_loss_from_a_huge_learning_rate_raises():
    net = regressor(lr=1e12, max_epochs=5)
    with pytest.raises(TrainingDivergedError, match="Training diverged.*lower lr"):
        net.fit(X, Y_REG * 1e6)


def _optimizer_tensors(state_dict):
    """The tensors of an optimizer's state (momentum buffers, Adam's moments and steps)."""
    return {(param, key): value for param, values in state_dict["state"].items()
            for key, value in values.items() if isinstance(value, torch.Tensor)}


@pytest.mark.parametrize("optimizer, params", [
    (torch.optim.SGD, {}),
    (torch.optim.SGD, {"optimizer__momentum": 0.9}),
    (torch.optim.Adam, {}),
])
def test_on_nan_stop_keeps_the_last_finite_weights(optimizer, params):
    poison = PoisonWeights(epoch=3, batch=2, value=float("inf"))
    # lr=0.02: lr=0.01 with plain SGD is the built-in model's default, which trains with Adam
    net = regressor(on_nan="stop", callbacks=[poison], optimizer=optimizer, lr=0.02, **params)
    with pytest.warns(SktorchWarning, match="inf at epoch 3.*weights from before that epoch"):
        net.fit(X, Y_REG)
    assert len(net.history) == 2  # the diverged epoch's record went with its weights
    assert "diverged" in net.history[-1, "stop_reason"]
    for key, value in net.module_.state_dict().items():
        torch.testing.assert_close(value, poison.good_[2][key], rtol=0, atol=0)
    # The optimizer's state (momentum, Adam's moments) is epoch 2's too, not NaN.
    state, good = _optimizer_tensors(net.optimizer_.state_dict()), _optimizer_tensors(
        poison.good_optimizer_[2])
    has_state = bool(params) or optimizer is torch.optim.Adam  # plain SGD keeps none
    assert state.keys() == good.keys() and bool(state) == has_state
    for key, value in state.items():
        torch.testing.assert_close(value, good[key], rtol=0, atol=0)
    assert np.isfinite(net.predict(X)).all()
    poison.epoch = 0  # no more poison: training goes on from the restored state
    with warnings.catch_warnings():
        warnings.simplefilter("error", SktorchWarning)  # a NaN state would diverge again
        net.partial_fit(X, Y_REG)
    assert len(net.history) == 2 + 4
    assert np.isfinite(net.history[:, "train_loss"]).all()


def test_on_nan_stop_in_the_first_epoch_restores_the_initial_weights():
    net = regressor(on_nan="stop", callbacks=[PoisonWeights(epoch=1, batch=1)])
    with pytest.warns(SktorchWarning, match="epoch 1"):
        net.fit(X, Y_REG)
    assert len(net.history) == 0
    assert np.isfinite(net.predict(X)).all()


def test_weights_that_become_nan_after_the_last_loss_are_caught():
    """The last batch's step makes the weights NaN; no later loss would show it."""
    net = regressor(max_epochs=2, callbacks=[PoisonWeights(epoch=2, batch=6)])
    with pytest.raises(TrainingDivergedError, match="weights were NaN or infinite when "
                                                    r"training ended \(after epoch 2\)"):
        net.fit(X, Y_REG)


def test_checkpoints_are_not_replaced_by_weights_that_became_nan(tmp_path):
    """Epoch 2's loss is finite (and the best), but its last step made a weight NaN.

    That shows only in epoch 3's first loss; meanwhile Checkpoint must not replace
    epoch 1's files, and TrainEndCheckpoint must not write the diverged weights.
    """
    poison = PoisonWeights(epoch=2, batch=6)  # 96 rows / 16: batch 6 is the last
    cp = Checkpoint(monitor="train_loss_best", dirname=str(tmp_path), f_optimizer=None,
                    f_criterion=None)
    end = TrainEndCheckpoint(dirname=str(tmp_path))
    net = regressor(max_epochs=3, callbacks=[poison, cp, end])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(TrainingDivergedError, match="nan at epoch 3, training batch 1"):
            net.fit(X, Y_REG)
    messages = [str(w.message) for w in caught if issubclass(w.category, SktorchWarning)]
    assert any(m.startswith("Checkpoint did not save") for m in messages)
    assert any(m.startswith("TrainEndCheckpoint did not save") for m in messages)
    assert net.history[:, "train_loss_best"][:2] == [True, True]
    assert net.history[:, "event_cp"][:2] == [True, False]
    saved = torch.load(tmp_path / "params.pt")
    for key, value in saved.items():
        torch.testing.assert_close(value, poison.good_[1][key], rtol=0, atol=0)
    assert not (tmp_path / "train_end_params.pt").exists()


def test_validation_loss_nan_is_caught():
    net = regressor(train_split=lambda ds, y: (ds.subset(np.arange(80)),
                                               ds.subset(np.arange(80, 96))),
                    callbacks=[PoisonWeights(epoch=1, batch=5)])
    with pytest.raises(TrainingDivergedError, match="validation loss became nan at epoch 1"):
        net.fit(X, Y_REG)


def test_on_nan_is_a_clone_safe_parameter():
    net = regressor(on_nan="stop")
    assert clone(net).on_nan == "stop" and net.get_params()["on_nan"] == "stop"
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a healthy fit warns about nothing
        net.fit(X, Y_REG)
    assert len(net.history) == 4


# ---------------------------------------------------------------------- Ctrl-C
CHILD = textwrap.dedent("""
    import json, sys, time, warnings
    import numpy as np
    from sktorch import NeuralNetClassifier
    from sktorch.callbacks import Callback

    class Slow(Callback):
        def on_batch_end(self, net, training=None, **kwargs):
            time.sleep(0.02)
        def on_epoch_end(self, net, **kwargs):
            if len(net.history) == 2:
                print("ready", flush=True)

    rng = np.random.RandomState(0)
    X = rng.randn(400, 5).astype("float32"); y = (X[:, 0] > 0).astype("int64")
    net = NeuralNetClassifier(max_epochs=1000, batch_size=10, verbose=0, random_state=0,
                              callbacks=[Slow()])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        net.fit(X, y)
    last = net.history[-1]
    net.save_params(f_params=sys.argv[1])
    print(json.dumps({
        "n_epochs": len(net.history),
        "stop_reason": last.get("stop_reason"),
        "n_batches_last": len(last["batches"]),
        # SIGINT may land in the training or the validation pass of the epoch
        "all_batches_complete": all("train_loss" in b or "valid_loss" in b
                                    for b in last["batches"]),
        "warnings": [str(w.message) for w in caught],
        "accuracy": float(net.score(X, y)),
        "finite": bool(np.isfinite(net.predict_proba(X)).all()),
    }), flush=True)
    net.set_params(max_epochs=1).partial_fit(X, y)
    print(json.dumps({"after_more_training": len(net.history)}), flush=True)
""")


def test_ctrl_c_ends_training_after_the_current_batch(tmp_path):
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    env = {**os.environ, "PYTHONPATH": os.getcwd()}
    child = subprocess.Popen([sys.executable, str(script), str(tmp_path / "params.pt")],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             env=env)
    try:
        assert child.stdout.readline().strip() == "ready"
        child.send_signal(signal.SIGINT)
        out, err = child.communicate(timeout=120)
    finally:
        child.kill()
    assert child.returncode == 0, err
    first, second = (json.loads(line) for line in out.strip().splitlines())
    assert 2 <= first["n_epochs"] < 1000
    assert "interrupted" in first["stop_reason"]
    assert first["all_batches_complete"]
    assert any("interrupted" in w for w in first["warnings"])
    assert first["finite"] and first["accuracy"] > 0.5
    assert second["after_more_training"] == first["n_epochs"] + 1
    torch.load(tmp_path / "params.pt", weights_only=True)  # written whole
    assert not [p for p in os.listdir(tmp_path) if p.endswith(".tmp")]


# ---------------------------------------------------------------- determinism
def weights(net):
    return [p.detach().clone() for p in net.module_.parameters()]


def assert_same_model(a, b):
    for p, q in zip(weights(a), weights(b)):
        assert torch.equal(p, q)
    np.testing.assert_array_equal(a.predict_proba(X), b.predict_proba(X))


def classifier(**kwargs):
    # dropout, shuffling and the validation split all draw from random_state
    return NeuralNetClassifier(**{"max_epochs": 3, "batch_size": 16, "verbose": 0,
                                  "random_state": 7, "module__dropout": 0.3, **kwargs})


def test_same_random_state_gives_bit_identical_models():
    assert_same_model(classifier().fit(X, Y), classifier().fit(X, Y))


def test_refit_of_the_same_net_is_identical():
    net = classifier().fit(X, Y)
    before = weights(net)
    net.fit(X, Y)
    assert all(torch.equal(p, q) for p, q in zip(before, weights(net)))


def test_clone_and_pickle_give_identical_models():
    net = classifier()
    reference = clone(net).fit(X, Y)
    assert_same_model(reference, clone(net).fit(X, Y))
    assert_same_model(reference, pickle.loads(pickle.dumps(net)).fit(X, Y))
    assert_same_model(reference, pickle.loads(pickle.dumps(reference)))


def test_grid_search_gives_the_same_results_with_one_or_two_jobs():
    grid = {"lr": [0.01, 0.1]}
    one = GridSearchCV(classifier(), grid, cv=2, n_jobs=1).fit(X, Y)
    two = GridSearchCV(classifier(), grid, cv=2, n_jobs=2).fit(X, Y)
    for key in ("split0_test_score", "split1_test_score"):
        np.testing.assert_array_equal(one.cv_results_[key], two.cv_results_[key])
    assert_same_model(one.best_estimator_, two.best_estimator_)


def test_fit_seeds_nothing_global():
    torch.manual_seed(123)
    seed, state = torch.initial_seed(), torch.get_rng_state()
    np_state = np.random.get_state()[1].copy()
    classifier().fit(X, Y).predict(X)
    assert torch.initial_seed() == seed
    assert torch.equal(torch.get_rng_state(), state)
    np.testing.assert_array_equal(np.random.get_state()[1], np_state)
