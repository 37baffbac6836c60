"""Silent wrong results and lost models found in the fourth reliability round.

Each test fails without its fix.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from sktorch import NeuralNetRegressor


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
