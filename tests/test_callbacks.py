"""Training controls a user relies on: early stopping, LR schedules, routing, errors."""

import inspect

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV
from torch import nn

import sktorch.callbacks as cbs
from sktorch import NeuralNetClassifier, NeuralNetRegressor
from sktorch.callbacks import EarlyStopping, LRScheduler
from sktorch.callbacks.base import HOOKS
from sktorch.dataset import Dataset
from sktorch.helper import predefined_split
from tests.conftest import RegressorModule


def overfitting_net(**kwargs):
    """A wide net on random targets: the validation loss rises after a few epochs."""
    rng = np.random.RandomState(0)
    X = rng.randn(60, 8).astype(np.float32)
    y = rng.randn(60, 1).astype(np.float32)
    Xv = rng.randn(40, 8).astype(np.float32)
    yv = rng.randn(40, 1).astype(np.float32)
    net = NeuralNetRegressor(
        RegressorModule, module__hidden_units=64, optimizer=torch.optim.Adam, lr=0.02,
        max_epochs=60, batch_size=20, train_split=predefined_split(Dataset(Xv, yv)),
        verbose=0, random_state=0, **kwargs)
    return net, X, y, Xv, yv


def test_early_stopping_stops_with_reason_and_restores_best():
    net, X, y, Xv, yv = overfitting_net(callbacks=[EarlyStopping(patience=3, load_best=True)])
    net.fit(X, y)
    losses = net.history[:, "valid_loss"]
    assert len(net.history) < net.max_epochs
    best = int(np.argmin(losses))
    assert len(losses) - 1 - best == 3  # stopped after 3 epochs without improvement
    reason = net.history[-1]["stop_reason"]
    assert reason.startswith("valid_loss did not improve for 3 epochs")
    assert f"at epoch {best + 1})" in reason
    # load_best: the net now predicts with the best epoch's weights
    mse = float(((net.predict(Xv).reshape(-1, 1) - yv) ** 2).mean())
    assert mse == pytest.approx(min(losses), rel=1e-5)


def test_early_stopping_without_load_best_keeps_last_weights():
    net, X, y, Xv, yv = overfitting_net(callbacks=[EarlyStopping(patience=3)])
    net.fit(X, y)
    mse = float(((net.predict(Xv).reshape(-1, 1) - yv) ** 2).mean())
    assert mse == pytest.approx(net.history[-1]["valid_loss"], rel=1e-5)


def test_early_stopping_on_a_score_where_higher_is_better(clf_data):
    X, y = clf_data
    es = EarlyStopping(monitor="valid_acc", lower_is_better=False, patience=3)
    net = NeuralNetClassifier(max_epochs=40, lr=0.05, verbose=0, random_state=0,
                              callbacks=[es]).fit(X, y)
    accs = net.history[:, "valid_acc"]  # the classifier's default scoring
    best = int(np.argmax(accs)) + 1  # the first epoch with the highest accuracy
    assert accs[0] < max(accs) and best > 1  # the score moves up for a while
    assert (es.best_score_, es.best_epoch_) == (max(accs), best)
    assert len(net.history) == best + 3 < net.max_epochs  # 3 epochs without a higher score
    assert net.history[-1]["stop_reason"] == (
        f"valid_acc did not improve for 3 epochs (best {max(accs):.4g} at epoch {best})")


def test_stop_reason_printed_once_with_verbose(capsys, reg_data):
    X, y = reg_data
    NeuralNetRegressor(max_epochs=20, lr=0.0, verbose=1,
                       callbacks=[EarlyStopping(patience=2)]).fit(X, y)
    out = capsys.readouterr().out
    assert out.count("valid_loss did not improve for 2 epochs") == 1
    NeuralNetRegressor(max_epochs=20, lr=0.0, verbose=0,
                       callbacks=[EarlyStopping(patience=2)]).fit(X, y)
    assert capsys.readouterr().out == ""


def test_one_instance_reused_across_fits_starts_clean(reg_data):
    X, y = reg_data
    es = EarlyStopping(patience=2)
    net = NeuralNetRegressor(max_epochs=20, lr=0.0, verbose=0, callbacks=[es])
    assert len(net.fit(X, y).history) == 3
    assert es.misses_ == 2
    assert len(net.fit(X, y).history) == 3  # stale misses_ would stop after one epoch
    other = NeuralNetRegressor(max_epochs=20, lr=0.0, verbose=0, callbacks=[es])
    assert len(other.fit(X, y).history) == 3


@pytest.mark.parametrize("callback", [EarlyStopping(), cbs.Checkpoint()])
def test_valid_monitor_without_validation_data_fails_at_fit_start(callback, reg_data):
    X, y = reg_data
    net = NeuralNetRegressor(max_epochs=2, verbose=0, train_split=None, callbacks=[callback])
    with pytest.raises(ValueError, match="train_split=None.*monitor the training loss"):
        net.fit(X, y)
    assert len(net.history) == 0  # failed before the first epoch
    ok = EarlyStopping(monitor="train_loss")
    NeuralNetRegressor(max_epochs=2, verbose=0, train_split=None, callbacks=[ok]).fit(X, y)


def test_missing_monitor_key_is_explained(reg_data):
    X, y = reg_data
    net = NeuralNetRegressor(max_epochs=2, verbose=0, callbacks=[EarlyStopping("valid_acc")])
    with pytest.raises(ValueError, match="'valid_acc', which is not in the history"):
        net.fit(X, y)


def test_reduce_lr_on_plateau_lowers_lr(reg_data):
    X, y = reg_data
    sched = LRScheduler(torch.optim.lr_scheduler.ReduceLROnPlateau, patience=1, factor=0.5)
    # A tiny lr: the training loss does not move, i.e. a plateau.
    net = NeuralNetRegressor(lr=1e-6, max_epochs=6, verbose=0, callbacks=[sched]).fit(X, y)
    lrs = net.history[:, "event_lr"]
    assert lrs[0] == 1e-6
    assert lrs[-1] < lrs[0]
    assert all(b <= a for a, b in zip(lrs, lrs[1:]))


def test_reduce_lr_on_plateau_with_callable_monitor(reg_data):
    X, y = reg_data
    sched = LRScheduler("ReduceLROnPlateau", monitor=lambda net: 1.0, patience=0, factor=0.1)
    net = NeuralNetRegressor(lr=0.1, max_epochs=3, verbose=0, callbacks=[sched]).fit(X, y)
    assert net.history[:, "event_lr"] == pytest.approx([0.1, 0.1, 0.01])  # 1st sets the best


def test_lr_scheduler_steps_per_batch(reg_data):
    X, y = reg_data
    sched = LRScheduler("StepLR", step_size=1, gamma=0.5, step_every="batch")
    # a small lr: an unseeded fit at lr=1.0 could diverge before the schedule is read
    net = NeuralNetRegressor(lr=0.08, max_epochs=2, batch_size=100, verbose=0,
                             random_state=0, train_split=None, callbacks=[sched]).fit(X, y)
    lrs = net.history[:, "batches", :, "event_lr"]
    expected = [[0.08 * 0.5**i for i in range(3)], [0.08 * 0.5**i for i in range(3, 6)]]
    assert lrs == [pytest.approx(row) for row in expected]


def test_lr_scheduler_kwargs_clone_and_route():
    sched = LRScheduler("StepLR", step_size=3, gamma=0.5)
    assert sched.get_params()["step_size"] == 3
    copy = clone(sched)
    assert copy.get_params() == sched.get_params()
    assert "step_size=3" in repr(copy)
    net = NeuralNetRegressor(callbacks=[("lr_scheduler", sched)], verbose=0)
    net.set_params(callbacks__lr_scheduler__gamma=0.1, callbacks__lr_scheduler__last_epoch=-1)
    assert sched.gamma == 0.5  # the user's object stays as it is; the net configures a copy
    configured = dict(net.initialize().callbacks_)["lr_scheduler"]
    assert configured.gamma == 0.1 and configured.kwargs["last_epoch"] == -1
    assert clone(net).get_params()["callbacks__lr_scheduler__gamma"] == 0.1
    with pytest.raises(ValueError, match="Did you mean 'StepLR'"):
        NeuralNetRegressor(callbacks=[LRScheduler("StepLr")]).initialize()


def test_grid_search_over_callback_param(reg_data):
    X, y = reg_data
    es = EarlyStopping(patience=1)
    net = NeuralNetRegressor(max_epochs=8, lr=0.0, verbose=0, random_state=0,
                             callbacks=[("early_stopping", es)])
    search = GridSearchCV(net, {"callbacks__early_stopping__patience": [1, 3]}, cv=2,
                          scoring="neg_mean_squared_error")
    search.fit(X, y)
    patience = search.best_params_["callbacks__early_stopping__patience"]
    best = search.best_estimator_
    assert dict(best.callbacks_)["early_stopping"].patience == patience
    assert len(best.history) == patience + 1  # lr=0: no improvement after epoch 1
    assert es.patience == 1  # the user's instance is untouched


def test_tutorial_regressor_with_scheduler_and_early_stopping_in_grid_search(reg_data):
    X, y = reg_data
    net = NeuralNetRegressor(
        RegressorModule, criterion=nn.MSELoss, max_epochs=8, verbose=0, random_state=0,
        callbacks=[LRScheduler(policy=torch.optim.lr_scheduler.ReduceLROnPlateau, patience=5),
                   EarlyStopping(patience=5)])
    search = GridSearchCV(net, {"lr": [0.01, 0.05]}, cv=5, scoring="r2").fit(X, y)
    assert search.best_score_ > 0
    assert "event_lr" in search.best_estimator_.history[-1]


def test_non_callbacks_raise_type_error(reg_data):
    X, y = reg_data
    with pytest.raises(TypeError, match="not a callback"):
        NeuralNetRegressor(callbacks=[object()], verbose=0).fit(X, y)
    scheduler = torch.optim.lr_scheduler.StepLR
    with pytest.raises(TypeError, match=r"LRScheduler\(policy=torch.optim.lr_scheduler.StepLR"):
        NeuralNetRegressor(callbacks=[scheduler], verbose=0).fit(X, y)


def test_callback_names_are_unique_and_disable_works(reg_data):
    X, y = reg_data
    net = NeuralNetRegressor(max_epochs=1, verbose=0,
                             callbacks=[EarlyStopping(), EarlyStopping()]).fit(X, y)
    names = [name for name, _ in net.callbacks_]
    assert len(names) == len(set(names))
    with pytest.raises(ValueError, match="duplicate callback name"):
        NeuralNetRegressor(callbacks=[("es", EarlyStopping()), ("es", EarlyStopping())],
                           verbose=0).fit(X, y)
    net = NeuralNetRegressor(max_epochs=1, verbose=0, callbacks="disable").fit(X, y)
    assert net.callbacks_ == [] and "train_loss" not in net.history[-1]


def _exported_callback_classes():
    return [getattr(cbs, name) for name in cbs.__all__
            if inspect.isclass(getattr(cbs, name)) and issubclass(getattr(cbs, name), cbs.Callback)]


@pytest.mark.parametrize("cls", _exported_callback_classes(), ids=lambda c: c.__name__)
def test_every_hook_accepts_kwargs(cls):
    for hook in HOOKS:
        params = inspect.signature(getattr(cls, hook)).parameters.values()
        assert any(p.kind is p.VAR_KEYWORD for p in params), f"{cls.__name__}.{hook}"
