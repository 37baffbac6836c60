"""The built-in model's recipe at a refit, with a plain NeuralNet, at loading and in params."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sktorch import NeuralNet, NeuralNetClassifier, NeuralNetRegressor
from sktorch._builtin import LR, LR_ONE_BATCH, stops_on_plateau, uses_recipe_optimizer
from sktorch.exceptions import NotInitializedError


def _data(n=1000, seed=0):
    rs = np.random.RandomState(seed)
    X = rs.randn(n, 4).astype("float32")
    return X, (X[:, 0] + 0.5 * X[:, 1] > 0).astype(int)


def _lr(net):
    return net.optimizer_.param_groups[0]["lr"]


def test_warm_start_refit_chooses_the_recipe_lr_from_the_new_rows():
    X, y = _data()
    net = NeuralNetClassifier(verbose=0, random_state=0, warm_start=True)
    net.fit(X[:100], y[:100])  # 80 training rows: one batch
    assert _lr(net) == LR_ONE_BATCH
    weights = net.module_.sequential[0].weight.detach().clone()
    mean = net.module_.standardize.mean.clone()
    net.fit(X, y)  # 800 training rows: batches of 200
    assert _lr(net) == LR
    assert not torch.equal(net.module_.sequential[0].weight, weights)  # trained on
    # a continued fit keeps the statistics its weights were trained with
    assert torch.equal(net.module_.standardize.mean, mean)
    net.partial_fit(X[:50], y[:50])
    assert _lr(net) == LR_ONE_BATCH


def test_warm_start_refit_keeps_a_written_lr():
    X, y = _data()
    net = NeuralNetClassifier(verbose=0, random_state=0, warm_start=True, lr=0.05,
                              optimizer=torch.optim.Adam, max_epochs=2)
    net.fit(X[:100], y[:100])
    net.fit(X, y)
    assert _lr(net) == 0.05


@pytest.mark.parametrize("loss", [torch.nn.CrossEntropyLoss, torch.nn.NLLLoss])
def test_plain_net_with_a_class_index_loss_says_to_use_the_classifier(loss):
    X, y = _data(100)
    with pytest.raises(ValueError, match="Use NeuralNetClassifier") as info:
        NeuralNet(criterion=loss, verbose=0, max_epochs=1).fit(X, y)
    assert "module__output_units" in str(info.value)
    assert loss.__name__ in str(info.value)


def test_plain_net_with_a_class_index_loss_and_output_units_trains():
    X, y = _data(100)
    net = NeuralNet(criterion=torch.nn.CrossEntropyLoss, verbose=0, max_epochs=2,
                    module__output_units=2, random_state=0).fit(X, y)
    assert net.predict(X).shape == (100, 2)


def test_plain_net_regression_with_the_builtin_model_is_unchanged():
    X, _ = _data(100)
    net = NeuralNet(criterion=torch.nn.MSELoss, verbose=0, max_epochs=2,
                    random_state=0).fit(X, X[:, :1])
    assert net.predict(X).shape == (100, 1)


def test_loading_weights_into_an_unbuilt_builtin_model_says_why_and_what_to_do(tmp_path):
    X, y = _data(100)
    fitted = NeuralNetClassifier(verbose=0, random_state=0).fit(X, y)
    path = tmp_path / "params.pt"
    fitted.save_params(f_params=path)
    net = NeuralNetClassifier(verbose=0).initialize()
    with pytest.raises(NotInitializedError) as info:
        net.load_params(f_params=path)
    message = str(info.value)
    assert "sized from the training data" in message
    assert "initialize_like" in message and "fit" in message
    # what the message says works
    net = NeuralNetClassifier(verbose=0).initialize_like(fitted)
    net.load_params(f_params=path)
    np.testing.assert_array_equal(net.predict_proba(X), fitted.predict_proba(X))


@pytest.mark.parametrize("cls", [NeuralNetClassifier, NeuralNetRegressor])
def test_params_round_trip_keeps_the_recipe(cls):
    X, y = _data(200)
    if cls is NeuralNetRegressor:
        y = X[:, 0].copy()
    fitted = cls(verbose=0, random_state=0).fit(X, y)
    for source in (cls(verbose=0, random_state=0), fitted):
        params = source.get_params(deep=True)
        assert not [k for k in params if k.startswith("optimizer__")]
        # supplied by the net (the classifier's softmax): a listed None would remove it
        assert "module__output_nonlin" not in params and "module__hidden_units" in params
        copy_ = cls().set_params(**params)
        assert uses_recipe_optimizer(copy_) and stops_on_plateau(copy_)
    fitted.set_params(**fitted.get_params(deep=True))
    assert uses_recipe_optimizer(fitted)
    written = cls(module__output_nonlin=torch.nn.Identity()).get_params(deep=True)
    assert isinstance(written["module__output_nonlin"], torch.nn.Identity)
    again = cls().set_params(**fitted.get_params(deep=True)).fit(X, y)
    assert isinstance(again.optimizer_, torch.optim.Adam)
    np.testing.assert_array_equal(again.predict(X), cls(verbose=0, random_state=0).fit(
        X, y).predict(X))
