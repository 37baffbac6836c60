"""``at`` of ParamMapper and its subclasses: an epoch number from 1, or a callable."""


import numpy as np
import pytest
import torch

from sktorch import NeuralNetRegressor
from sktorch.callbacks import Freezer, Initializer, ParamMapper
from tests._exact import raises_exactly

rng = np.random.RandomState(0)
X = rng.randn(32, 3).astype(np.float32)
y = X.sum(axis=1)


def _fit(callback):
    return NeuralNetRegressor(torch.nn.Linear, module__in_features=3, module__out_features=1,
                              max_epochs=3, train_split=None, verbose=0, random_state=0,
                              callbacks=[callback]).fit(X, y)


@pytest.mark.parametrize("callback, shown", [
    (Freezer("weight", at=0), "Freezer(at=0)"),
    (Initializer("weight", fn=torch.nn.init.zeros_, at=-1), "Initializer(at=-1)"),
    (ParamMapper("weight", at=1.5), "ParamMapper(at=1.5)"),
    (ParamMapper("weight", at="2"), "ParamMapper(at='2')"),
])
def test_an_at_that_is_no_epoch_number_is_refused_at_fit(callback, shown):
    message = (f"{shown} never acts: at is the epoch to act at, 1 for the first epoch, or a "
               "callable at(net) -> bool.")
    with raises_exactly(ValueError, message):
        _fit(callback)


def test_a_numpy_integer_at_acts_at_that_epoch():
    epochs = []
    mapper = ParamMapper("weight", fn=lambda p: epochs.append(len(net.history)),
                         at=np.int64(2))
    net = NeuralNetRegressor(torch.nn.Linear, module__in_features=3, module__out_features=1,
                             max_epochs=3, train_split=None, verbose=0, random_state=0,
                             callbacks=[mapper])
    net.fit(X, y)
    assert epochs == [2]


def test_a_schedule_makes_at_irrelevant():
    calls = []
    mapper = ParamMapper("weight", at=0, schedule=lambda net: (
        lambda p: calls.append(len(net.history))))
    _fit(mapper)
    assert calls == [1, 2, 3]


def test_at_one_acts_at_the_first_epoch_and_a_callable_at_when_it_says_so():
    epochs = []

    def fit(at):
        net = NeuralNetRegressor(torch.nn.Linear, module__in_features=3,
                                 module__out_features=1, max_epochs=3, train_split=None,
                                 verbose=0, random_state=0)
        mapper = ParamMapper("weight", fn=lambda p: epochs.append(len(net.history)), at=at)
        net.set_params(callbacks=[mapper]).fit(X, y)

    fit(1)
    assert epochs == [1]
    epochs.clear()
    fit(lambda net: len(net.history) % 2 == 1)
    assert epochs == [1, 3]
