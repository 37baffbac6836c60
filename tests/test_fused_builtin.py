"""Fused training of the built-in model (``module=None``) with its training recipe.

Members whose parameters are left at skorch's defaults train with the recipe
(Adam, the plateau stop that restores the best weights, batch size min(200, n))
and with standardization statistics fitted on their own training split; fused,
each must equal its sequential fit exactly.
"""

from __future__ import annotations

import numpy as np
import torch

from sktorch import NeuralNetClassifier, NeuralNetRegressor
from sktorch._builtin import MAX_EPOCHS, PlateauStop
from sktorch.model_selection._fused import Member, fit_members
from tests.test_fused_core import _only_fused, run_both


def _data(n=160, seed=0):
    rs = np.random.RandomState(seed)
    X = (rs.randn(n, 5) * [1, 10, 100, 0.1, 1] + [0, 5, -50, 1, 3]).astype("float32")
    return X


def test_builtin_regressor_recipe_members_fuse_and_equal_sequential_fits():
    X = _data()
    noise = np.random.RandomState(5).randn(len(X))
    y = (X[:, 0] * 3 + X[:, 1] / 10 + 7 + noise).astype("float32")
    data = [(X[:n], y[:n]) for n in (160, 120, 100)]  # each fold its own statistics

    def nets():
        return [NeuralNetRegressor(verbose=0, random_state=i, hidden_units=8)
                for i in range(3)]

    seq, fused, reports = run_both(nets, data)
    _only_fused(reports, 3)
    for net, (Xf, _yf) in zip(fused, data):
        assert isinstance(dict(net.callbacks_)["stop_on_plateau"], PlateauStop)
        assert isinstance(net.optimizer_, torch.optim.Adam)
        assert net.optimizer_.param_groups[0]["lr"] == 1e-2  # one batch per epoch
        # statistics of the member's own training split (80 % of its rows): near the
        # fold's own, but not the whole fold's (and equal to the sequential fit's)
        mean = net.module_.standardize.mean.numpy()
        assert np.allclose(mean, Xf.mean(0), atol=0.3 * Xf.std(0).max())
        assert not np.allclose(mean, Xf.mean(0), rtol=1e-4, atol=1e-4)
    means = [net.module_.standardize.mean.numpy() for net in fused]
    assert not np.allclose(means[0], means[2])  # per member, not shared
    # the plateau stop ended some members before the recipe's epoch budget
    assert any(len(net.history_) < MAX_EPOCHS for net in fused)
    # batch size min(200, n): the 128 training rows of the first fold in one batch
    assert fused[0].history_[-1]["batches"][0]["train_batch_size"] == 128


def test_builtin_classifier_recipe_with_weights_fuses():
    X = _data(seed=1)
    y = (X[:, 0] + X[:, 1] / 10 > 0.5).astype(int)
    weights = [np.r_[np.ones(80), np.full(80, 3.0)], np.ones(160)]

    def nets():
        return [NeuralNetClassifier(verbose=0, random_state=0, hidden_units=6)
                for _ in range(2)]

    seq, fused, reports = run_both(nets, [(X, y)] * 2, sample_weights=weights)
    _only_fused(reports, 2)
    # weighted statistics differ from unweighted ones, member by member
    assert not torch.allclose(fused[0].module_.standardize.mean,
                              fused[1].module_.standardize.mean)
    assert fused[0].history_[-1]["batches"][0]["train_batch_size"] == 128  # min(200, 128 rows)


def test_recipe_and_plain_members_group_apart_and_say_why():
    """A member with explicit settings (SGD, 3 epochs) never fuses with recipe members."""
    X = _data()
    y = (X[:, 0] > 0).astype(int)
    nets = [NeuralNetClassifier(verbose=0, random_state=i, hidden_units=4) for i in range(2)]
    nets.append(NeuralNetClassifier(verbose=0, random_state=0, hidden_units=4, max_epochs=3,
                                    lr=0.05))
    reports = fit_members([Member(net, X, y) for net in nets])
    fused = [r for r in reports if r.fused]
    assert [sorted(r.members) for r in fused] == [[0, 1]]
    alone = [r for r in reports if not r.fused]
    assert alone[0].members == [2] and "alone" in alone[0].reason
    assert len(nets[2].history_) == 3


def test_builtin_regressor_with_sgd_on_large_targets_fuses_with_each_members_units():
    """SGD at a user's lr on targets in the thousands: each member's loss is in its own
    standardized units (statistics of its own training rows), as in its sequential fit."""
    X = _data(seed=2)
    y = (1000.0 * (X[:, 0] + X[:, 1] / 10) + 5000.0).astype("float32")
    data = [(X[:n], y[:n] * k) for n, k in ((150, 1.0), (120, 3.0), (100, 0.5))]

    def nets():
        return [NeuralNetRegressor(lr=lr, max_epochs=6, batch_size=32, verbose=0,
                                   random_state=0, hidden_units=6) for lr in (0.05, 0.1, 0.08)]

    seq, fused, reports = run_both(nets, data)
    _only_fused(reports, 3)
    for net, (Xf, yf) in zip(fused, data):
        assert isinstance(net.optimizer_, torch.optim.SGD)
        losses = net.history_[:, "train_loss"]
        assert all(np.isfinite(losses)) and losses[-1] < 1.0  # standardized units
        assert net.score(Xf, yf) > 0.5
