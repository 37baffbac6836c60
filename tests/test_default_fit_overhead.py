"""The per-epoch shortcuts of small fits keep behaviour: train/eval modes, best weights.

A fit sets the modules' train/eval flags directly (no ``Module.train`` recursion)
unless a module overrides ``train``; the built-in model's plateau stop copies the
best weights into its previous copy. Neither may change what a fit does.
"""

import numpy as np
import torch
from sklearn.datasets import load_iris

from sktorch import NeuralNetClassifier
from sktorch.callbacks import Callback


class _Modes(Callback):
    def initialize(self):
        self.seen = []
        return self

    def on_batch_begin(self, net, batch=None, training=None, **kwargs):
        flags = {m.training for m in net.module_.modules()}
        self.seen.append((training, flags))


def test_every_module_is_in_train_mode_for_training_and_eval_mode_for_validation():
    X, y = load_iris(return_X_y=True)
    modes = _Modes()
    net = NeuralNetClassifier(module__dropout=0.5, max_epochs=3, verbose=0, random_state=0,
                              callbacks=[("modes", modes)]).fit(X, y)
    assert [t for t, _ in modes.seen] == [True, False] * 3
    assert all(flags == {training} for training, flags in modes.seen)
    net.predict(X)
    assert not any(m.training for m in net.module_.modules())


class _Tracked(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = torch.nn.Linear(4, 3)
        self.calls = []

    def train(self, mode=True):
        self.calls.append(mode)
        return super().train(mode)

    def forward(self, X):
        return torch.softmax(self.linear(X), dim=-1)


def test_a_module_that_overrides_train_is_switched_through_it():
    X, y = load_iris(return_X_y=True)
    net = NeuralNetClassifier(_Tracked, max_epochs=2, verbose=0, random_state=0)
    net.fit(X.astype(np.float32), y)
    assert net.module_.calls[:4] == [True, False, True, False]


class _Weights(Callback):
    def initialize(self):
        self.by_epoch = {}
        return self

    def on_epoch_end(self, net, **kwargs):
        epoch = net.history[-1, "epoch"]
        self.by_epoch[epoch] = {k: v.clone() for k, v in net.module_.state_dict().items()}


def test_plateau_stop_restores_exactly_the_best_epochs_weights():
    X, y = load_iris(return_X_y=True)
    weights = _Weights()
    # random_state=1: a fit that stops after its best epoch (with 0 it stops at the best,
    # counted as scikit-learn counts, and restores nothing)
    net = NeuralNetClassifier(verbose=0, random_state=1, callbacks=[("w", weights)]).fit(X, y)
    best, best_loss = None, None  # the best epoch: better than the best by more than 1e-4
    for epoch, loss in enumerate(net.history[:, "valid_loss"], start=1):
        if best_loss is None or loss < best_loss - 1e-4:
            best, best_loss = epoch, loss
    assert dict(net.callbacks_)["stop_on_plateau"].best_epoch_ == best
    assert best < len(net.history)  # stopped on a plateau after the best epoch
    for key, value in net.module_.state_dict().items():
        torch.testing.assert_close(value, weights.by_epoch[best][key], rtol=0, atol=0)
