"""The built-in model's default markers never reach torch and survive old pickles."""

from __future__ import annotations

import io
import pickle

import numpy as np
import pytest
import torch
from sklearn.datasets import make_classification

from sktorch import NeuralNetClassifier
from sktorch._defaults import DEFAULT_LR, DefaultSGD, untouched
from sktorch.toy import MLPModule


@pytest.fixture
def data():
    X, y = make_classification(120, 6, random_state=0)
    return X.astype(np.float32), y.astype(np.int64)


class SkorchStyleNet(NeuralNetClassifier):
    """A subclass that builds its optimizer from ``self.optimizer`` and ``self.lr``."""

    def initialize_optimizer(self):
        self.optimizer_ = self.optimizer(self.module_.parameters(), lr=self.lr)
        return self


def _module_kwargs():
    return dict(module=MLPModule, module__input_units=6, module__output_units=2,
                module__output_nonlin=torch.nn.Softmax(dim=-1), max_epochs=2, verbose=0,
                train_split=None, random_state=0)


def test_a_subclass_building_the_default_optimizer_gets_a_plain_sgd_whose_state_reloads(
        data, tmp_path):
    net = SkorchStyleNet(**_module_kwargs()).fit(*data)
    assert type(net.optimizer_) is torch.optim.SGD
    assert isinstance(net.optimizer_, net.optimizer)
    assert type(net.optimizer_.param_groups[0]["lr"]) is float
    net.save_params(f_params=tmp_path / "w.pt", f_optimizer=tmp_path / "o.pt")
    other = SkorchStyleNet(**_module_kwargs()).initialize()
    other.load_params(f_params=tmp_path / "w.pt", f_optimizer=tmp_path / "o.pt")
    assert other.optimizer_.state_dict()["param_groups"][0]["lr"] == 0.01


def test_an_untouched_lr_passed_to_another_optimizer_is_saved_as_a_plain_number(data, tmp_path):
    class AdamNet(NeuralNetClassifier):
        def initialize_optimizer(self):
            self.optimizer_ = torch.optim.Adam(self.module_.parameters(), lr=self.lr)
            return self

    net = AdamNet(**_module_kwargs()).fit(*data)
    assert untouched(net.lr)
    torch.save(net.optimizer_.state_dict(), tmp_path / "o.pt")
    state = torch.load(tmp_path / "o.pt", weights_only=True)
    assert state["param_groups"][0]["lr"] == 0.01


def test_calling_the_sgd_marker_builds_sgd_from_plain_numbers():
    param = torch.nn.Parameter(torch.zeros(3))
    optimizer = DefaultSGD([param], lr=DEFAULT_LR)
    assert type(optimizer) is torch.optim.SGD
    assert type(optimizer.param_groups[0]["lr"]) is float
    assert not isinstance(torch.optim.Adam([param]), DefaultSGD)


def _old_pickle(net):
    """The state a net pickled before the markers existed had: plain defaults, no record."""
    state = net.__getstate__()
    del state["_untouched_defaults"]
    state.update(lr=0.01, max_epochs=10, batch_size=128, optimizer=torch.optim.SGD)
    return state


def test_a_net_pickled_before_the_markers_keeps_the_builtin_recipe():
    old = NeuralNetClassifier.__new__(NeuralNetClassifier)
    old.__setstate__(_old_pickle(NeuralNetClassifier(verbose=0, random_state=0)))
    assert all(untouched(getattr(old, n)) for n in ("lr", "max_epochs", "batch_size",
                                                     "optimizer"))


def test_old_pickle_with_other_values_keeps_them_written():
    state = _old_pickle(NeuralNetClassifier(verbose=0, random_state=0))
    state.update(lr=0.1, max_epochs=10.0)
    old = NeuralNetClassifier.__new__(NeuralNetClassifier)
    old.__setstate__(state)
    assert not untouched(old.lr) and old.lr == 0.1
    assert not untouched(old.max_epochs)  # 10.0 is not the int default
    assert untouched(old.batch_size)


def test_a_written_default_stays_written_through_pickle(data):
    net = NeuralNetClassifier(lr=0.01, verbose=0, random_state=0)
    back = pickle.loads(pickle.dumps(net))
    assert not untouched(back.lr) and untouched(back.max_epochs)
    buffer = io.BytesIO()
    torch.save(back.get_params(deep=False)["lr"], buffer)
    buffer.seek(0)
    assert torch.load(buffer, weights_only=True) == 0.01
