"""OptunaPruning: reports each epoch to a real Optuna trial and prunes after on_train_end."""

import sys

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.datasets import make_classification

from sktorch import NeuralNetClassifier
from sktorch.callbacks import Callback, OptunaPruning

optuna = pytest.importorskip("optuna")
optuna.logging.set_verbosity(optuna.logging.WARNING)


@pytest.fixture(scope="module")
def data():
    X, y = make_classification(200, 8, n_informative=5, random_state=0)
    return X.astype(np.float32), y


class RecordTrainEnd(Callback):
    """Remembers whether on_train_end ran and how many epochs the history had then."""

    def initialize(self):
        self.n_epochs_at_end_ = None
        return self

    def on_train_end(self, net, **kwargs):
        self.n_epochs_at_end_ = len(net.history)


class AlwaysPrune(optuna.pruners.BasePruner):
    def prune(self, study, trial):
        return True


def make_net(lr, trial, *extra):
    return NeuralNetClassifier(max_epochs=6, lr=lr, verbose=0, random_state=0,
                               callbacks=[OptunaPruning(trial), *extra])


def test_median_pruner_prunes_a_bad_lr_with_a_complete_history(data):
    X, y = data
    nets = []

    def objective(trial):
        lr = trial.suggest_float("lr", 0.0, 1.0)
        record = RecordTrainEnd()
        net = make_net(lr, trial, record)
        nets.append((net, record))
        net.fit(X, y)
        return net.history[-1, "valid_loss"]

    study = optuna.create_study(
        direction="minimize",
        pruner=optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=0))
    for lr in (0.5, 0.3, 0.0):  # lr=0 never learns: soon worse than the median
        study.enqueue_trial({"lr": lr})
    study.optimize(objective, n_trials=3)

    states = [t.state for t in study.trials]
    assert states == [optuna.trial.TrialState.COMPLETE] * 2 + [optuna.trial.TrialState.PRUNED]
    for (net, record), trial in zip(nets, study.trials):
        # every epoch was reported, with the history's value, at step = epoch
        assert trial.intermediate_values == dict(zip(net.history[:, "epoch"],
                                                     net.history[:, "valid_loss"]))
        assert record.n_epochs_at_end_ == len(net.history)  # on_train_end ran
    good, bad = nets[0][0], nets[2][0]
    assert len(good.history) == 6 and "stop_reason" not in good.history[-1]
    n_epochs = len(bad.history)
    assert n_epochs < 6  # stopped early, the pruning epoch's row complete
    assert bad.history[-1]["stop_reason"].startswith(
        f"Optuna pruned trial 2 after epoch {n_epochs}")
    assert {"train_loss", "valid_loss", "valid_acc"} <= set(bad.history[-1])
    assert bad.callbacks[0].pruned_epoch_ == n_epochs


def test_fit_raises_trial_pruned_only_after_every_on_train_end(data):
    X, y = data
    study = optuna.create_study(pruner=AlwaysPrune())
    trial = study.ask()
    after = RecordTrainEnd()
    net = make_net(0.1, trial, after)  # OptunaPruning runs before `after`

    with pytest.raises(optuna.TrialPruned, match="after epoch 1"):
        net.fit(X, y)
    assert after.n_epochs_at_end_ == 1
    assert net.history[-1]["stop_reason"].startswith("Optuna pruned")
    # the net stays usable after the pruned fit
    assert net.predict(X[:3]).shape == (3,)


def test_a_trial_that_is_not_pruned_trains_every_epoch(data):
    X, y = data
    study = optuna.create_study(pruner=optuna.pruners.NopPruner())
    net = make_net(0.1, study.ask()).fit(X, y)
    assert len(net.history) == 6
    assert net.callbacks[0].pruned_epoch_ is None
    assert sorted(study.trials[0].intermediate_values) == [1, 2, 3, 4, 5, 6]


def test_a_cloned_callback_reports_to_the_same_trial():
    trial = optuna.create_study().ask()
    callback = OptunaPruning(trial, monitor="valid_acc")
    copy = clone(callback)
    assert copy.trial is trial and copy.monitor == "valid_acc"


def test_an_unrecorded_monitor_is_named(data):
    X, y = data
    trial = optuna.create_study().ask()
    net = NeuralNetClassifier(max_epochs=1, verbose=0, train_split=None,
                              callbacks=[OptunaPruning(trial)])
    with pytest.raises(ValueError, match="OptunaPruning monitors 'valid_loss'"):
        net.fit(X, y)


def test_missing_optuna_says_how_to_install_it(data, monkeypatch):
    X, y = data
    trial = optuna.create_study().ask()
    monkeypatch.setitem(sys.modules, "optuna", None)
    with pytest.raises(ImportError, match=r"pip install sktorch\[optuna\]"):
        make_net(0.1, trial).fit(X, y)
