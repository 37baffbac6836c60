"""skorch's documented usage, third sweep: each test runs a usage from skorch's user
guide against sktorch (only the import changed) and checks the values it should give."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from torch import nn

from sktorch import NeuralNet, NeuralNetClassifier
from sktorch.callbacks import Checkpoint
from sktorch.history import History


def _data():
    rng = np.random.RandomState(0)
    X = rng.randn(120, 6).astype("float32")
    return X, (X[:, 0] - X[:, 1] > 0).astype(np.int64)


class _Linear(nn.Module):
    def __init__(self, n_in=6, n_out=2):
        super().__init__()
        self.lin = nn.Linear(n_in, n_out)

    def forward(self, X):
        return self.lin(X)


# ------------------------------------------------ customization: a second module
class _TwoModuleNet(NeuralNet):
    """The customization guide's pattern: overrides that take no extra arguments."""

    def initialize_module(self):
        super().initialize_module()
        self.module2_ = nn.Linear(**self.get_params_for("module2"))
        return self

    def initialize_optimizer(self):
        super().initialize_optimizer()
        args, kwargs = self.get_params_for_optimizer(
            "optimizer2", self.module2_.named_parameters())
        self.optimizer2_ = torch.optim.SGD(*args, **kwargs)
        return self

    def infer(self, x, **fit_params):
        return self.module_(x) + self.module2_(x)


def test_initialize_module_overridden_without_arguments_trains_both_modules():
    X, y = _data()
    net = _TwoModuleNet(_Linear, module2__in_features=6, module2__out_features=2,
                        optimizer2__lr=0.3, criterion=nn.CrossEntropyLoss, lr=0.3,
                        max_epochs=5, train_split=None, verbose=0, random_state=0)
    net.initialize()  # raised TypeError: initialize_module() takes 1 positional argument
    start = net.module2_.weight.detach().clone()
    net.fit(X, y)
    assert net.optimizer2_.param_groups[0]["lr"] == 0.3
    # The second optimizer steps module2_ (it is registered with the net).
    assert not torch.equal(start, net.module2_.weight)
    losses = net.history[:, "train_loss"]
    assert losses[-1] < losses[0]
    accuracy = (net.predict(X).argmax(1) == y).mean()
    assert accuracy > 0.8


def test_initialize_criterion_and_optimizer_overrides_without_arguments():
    calls = []

    class MyNet(NeuralNetClassifier):
        def initialize_criterion(self):
            calls.append("criterion")
            return super().initialize_criterion()

        def initialize_optimizer(self):
            calls.append("optimizer")
            return super().initialize_optimizer()

    X, y = _data()
    MyNet(_Linear, criterion=nn.CrossEntropyLoss, max_epochs=1, verbose=0).fit(X, y)
    assert calls == ["criterion", "optimizer"]


# ------------------------------------------------ history: to_file / from_file
def test_history_to_file_and_from_file_round_trip(tmp_path):
    X, y = _data()
    net = NeuralNetClassifier(_Linear, criterion=nn.CrossEntropyLoss, max_epochs=3,
                              verbose=0).fit(X, y)
    path = tmp_path / "history.json"
    net.history.to_file(str(path))
    loaded = History.from_file(str(path))
    assert isinstance(loaded, History)
    assert loaded[:, "train_loss"] == pytest.approx(net.history[:, "train_loss"])
    assert loaded[:, "epoch"] == [1, 2, 3]
    assert loaded[-1, "batches", 0, "train_batch_size"] == (
        net.history[-1, "batches", 0, "train_batch_size"])
    # Open files, text or binary, work as well.
    text, binary = io.StringIO(), io.BytesIO()
    net.history.to_file(text)
    net.history.to_file(binary)
    assert History.from_file(io.StringIO(text.getvalue()))[:, "epoch"] == [1, 2, 3]
    assert History.from_file(io.BytesIO(binary.getvalue()))[:, "epoch"] == [1, 2, 3]


def test_history_from_file_reads_a_checkpoints_history(tmp_path):
    X, y = _data()
    cp = Checkpoint(monitor=None, dirname=str(tmp_path))
    net = NeuralNetClassifier(_Linear, criterion=nn.CrossEntropyLoss, max_epochs=3,
                              verbose=0, callbacks=[cp]).fit(X, y)
    loaded = History.from_file(str(tmp_path / "history.json"))
    assert loaded[:, "epoch"] == [1, 2, 3]
    assert loaded[:, "valid_loss"] == pytest.approx(net.history[:, "valid_loss"])
