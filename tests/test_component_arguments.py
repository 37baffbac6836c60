"""A misspelled argument after a valid prefix (``optimizer__weight_decya``) fails where it is
written, naming the close valid names, instead of as torch's TypeError at fit (or never)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.base import clone

from sktorch import NeuralNet, NeuralNetClassifier, NeuralNetRegressor
from sktorch.toy import MLPModule


@pytest.mark.parametrize("name, close", [
    ("optimizer__weight_decya", "optimizer__weight_decay"),
    ("module__hiden_units", "module__hidden_units"),
    ("criterion__reductoin", "criterion__reduction"),
])
def test_constructor_and_set_params_name_the_close_argument(name, close):
    with pytest.raises(ValueError, match=f"{name}.*did you mean '{close}'"):
        NeuralNetRegressor(**{name: 1})
    net = NeuralNetRegressor(lr=0.1)
    with pytest.raises(ValueError, match=f"did you mean '{close}'"):
        net.set_params(lr=0.5, **{name: 1})
    assert net.lr == 0.1 and net._kwargs == {}  # the failed set_params changed nothing


def test_arguments_are_checked_against_the_component_being_set_in_the_same_call():
    net = NeuralNetClassifier(MLPModule).set_params(optimizer=torch.optim.Adam,
                                                    optimizer__betas=(0.8, 0.9))
    assert net.optimizer is torch.optim.Adam
    assert clone(net).get_params()["optimizer__betas"] == (0.8, 0.9)
    with pytest.raises(ValueError, match="Adam takes no argument 'betaz'.*'optimizer__betas'"):
        NeuralNetClassifier(MLPModule, optimizer=torch.optim.Adam, optimizer__betaz=(0.8, 0.9))


def test_a_real_argument_of_another_component_fails_at_fit_so_error_score_applies():
    from sklearn.exceptions import FitFailedWarning
    from sklearn.model_selection import GridSearchCV

    X = np.random.RandomState(0).randn(80, 20).astype(np.float32)
    y = (X[:, 0] > 0).astype(np.int64)
    net = NeuralNetClassifier(MLPModule, max_epochs=2, lr=0.1, train_split=None, verbose=0)
    grid = {"optimizer": [torch.optim.SGD, torch.optim.Adam], "optimizer__momentum": [0.9]}
    with pytest.warns(FitFailedWarning, match="2 fits failed"):
        search = GridSearchCV(net, grid, cv=2, error_score=np.nan).fit(X, y)
    scores = search.cv_results_["mean_test_score"]
    assert np.isfinite(scores[0]) and np.isnan(scores[1])  # SGD trains, Adam gets nan


def test_what_the_net_cannot_check_is_left_to_the_component():
    class Kw(torch.nn.Module):
        def __init__(self, **kwargs):
            super().__init__()
            self.lin = torch.nn.Linear(3, 1)

        def forward(self, X):
            return self.lin(X)

    NeuralNetRegressor(Kw, module__anything=1)  # **kwargs: any name may be right
    NeuralNetRegressor(MLPModule(), module__whatever=1)  # an instance: rebuilt from its class
    NeuralNetRegressor(MLPModule, optimizer__param_groups=[("lin.*", {"lr": 0.1})])

    class Own(NeuralNet):
        def initialize_module(self):  # consumes module__ arguments itself
            self.module_ = torch.nn.Linear(self.get_params_for("module")["width"], 1)
            return self

    net = Own(torch.nn.Linear, criterion=torch.nn.MSELoss, module__width=3, max_epochs=1, verbose=0,
              train_split=None)
    X = np.ones((8, 3), np.float32)
    net.fit(X, np.ones((8, 1), np.float32))
    assert net.module_.in_features == 3

