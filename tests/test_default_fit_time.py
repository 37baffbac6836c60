"""The built-in model's faster fit computes the same numbers as before.

Three shortcuts (see ``sktorch._builtin.flat_adam``, ``Standardize._is_identity`` and
``TensorBatches``) each must leave every weight, loss and optimizer state bit for bit
as the general path computes it; here each is compared with that path.
"""

from __future__ import annotations

import copy
import pickle

import numpy as np
import pytest
import torch

from sktorch import NeuralNetClassifier, NeuralNetRegressor
from sktorch._builtin import flat_adam
from sktorch._builtin.flat_adam import FlatAdamStep
from sktorch._data import TensorBatches
from sktorch.toy import DefaultMLP, Standardize


def _pair(dtype=torch.float32, **adam):
    torch.manual_seed(0)
    module = DefaultMLP(input_units=5, output_units=3, hidden_units=7, num_hidden=2).to(dtype)
    twin = copy.deepcopy(module)
    kwargs = {"lr": 0.01, "weight_decay": 3e-3, **adam}
    return (module, torch.optim.Adam(module.parameters(), **kwargs),
            twin, torch.optim.Adam(twin.parameters(), **kwargs))


def _backward(module, seed, dtype):
    g = torch.Generator().manual_seed(seed)
    X = torch.randn(40, 5, generator=g, dtype=dtype)
    y = torch.randn(40, 3, generator=g, dtype=dtype)
    module.zero_grad(set_to_none=True)
    ((module(X) - y) ** 2).mean().backward()


def _assert_same(module, optimizer, twin, twin_optimizer):
    for a, b in zip(module.parameters(), twin.parameters()):
        assert torch.equal(a, b)
    ours, theirs = optimizer.state_dict(), twin_optimizer.state_dict()
    assert ours["param_groups"] == theirs["param_groups"]
    for key, state in ours["state"].items():
        for name, value in state.items():
            assert value.dtype == theirs["state"][key][name].dtype, name
            assert torch.equal(value, theirs["state"][key][name]), name


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_flat_adam_step_is_torch_adam_bit_for_bit(dtype):
    module, optimizer, twin, twin_optimizer = _pair(dtype)
    flat = FlatAdamStep(twin_optimizer)
    for i in range(60):
        _backward(module, i, dtype)
        _backward(twin, i, dtype)
        optimizer.step()
        assert flat.step()
    _assert_same(module, optimizer, twin, twin_optimizer)
    # the torch optimizer's state lives in the flat buffers
    bases = {id(s["exp_avg"]._base) for s in twin_optimizer.state.values()}
    assert len(bases) == 1 and None not in bases


def test_flat_adam_follows_lr_changes_loaded_state_and_torch_steps_in_between():
    module, optimizer, twin, twin_optimizer = _pair()
    flat = FlatAdamStep(twin_optimizer)
    for i in range(30):
        _backward(module, i, torch.float32)
        _backward(twin, i, torch.float32)
        if i == 5:  # an LR scheduler's change
            for opt in (optimizer, twin_optimizer):
                opt.param_groups[0]["lr"] = 0.002
        if i == 10:  # state loaded from a file (other tensors than the flat buffers)
            saved = copy.deepcopy(optimizer.state_dict())
            optimizer.load_state_dict(saved)
            twin_optimizer.load_state_dict(copy.deepcopy(saved))
        optimizer.step()
        if i in (15, 16):  # a step hook: torch's own step, on the flat buffers' views
            handle = twin_optimizer.register_step_post_hook(lambda *a: None)
            assert not flat.step()
            twin_optimizer.step()
            handle.remove()
        else:
            assert flat.step()
    _assert_same(module, optimizer, twin, twin_optimizer)


@pytest.mark.parametrize("option", [{"amsgrad": True}, {"maximize": True},
                                    {"foreach": True}, {"decoupled_weight_decay": True}])
def test_flat_adam_leaves_other_adam_options_to_torch(option):
    _, _, twin, twin_optimizer = _pair(**option)
    _backward(twin, 0, torch.float32)
    assert not FlatAdamStep(twin_optimizer).step()


def test_flat_adam_waits_for_every_gradient():
    _, _, twin, twin_optimizer = _pair()
    _backward(twin, 0, torch.float32)
    twin.sequential[0].weight.grad = None  # torch would skip this parameter
    assert not FlatAdamStep(twin_optimizer).step()


def _data(n=120, seed=0):
    rs = np.random.RandomState(seed)
    X = (rs.randn(n, 4) * [1, 10, 0.1, 3] + [0, 5, -1, 2]).astype("float32")
    y = (X[:, 0] + X[:, 1] / 10 > 0.5).astype(int) + (X[:, 2] > -1)
    return X, y


def _fit_twice(monkeypatch, make, X, y, disable):
    fast = make().fit(X, y)
    with monkeypatch.context() as patch:
        disable(patch)
        slow = make().fit(X, y)
    return fast, slow


def _assert_same_fit(fast, slow):
    assert len(fast.history) == len(slow.history)
    for key in ("train_loss", "valid_loss"):
        assert fast.history[:, key] == slow.history[:, key]
    for (name, a), (_, b) in zip(fast.module_.state_dict().items(),
                                 slow.module_.state_dict().items()):
        assert torch.equal(a, b), name
    ours, theirs = fast.optimizer_.state_dict()["state"], slow.optimizer_.state_dict()["state"]
    for key in ours:
        for name in ours[key]:
            assert torch.equal(ours[key][name], theirs[key][name]), name


@pytest.mark.parametrize("make", [
    lambda: NeuralNetClassifier(verbose=0, random_state=0),
    lambda: NeuralNetClassifier(verbose=0, random_state=0, batch_size=32),
    lambda: NeuralNetRegressor(verbose=0, random_state=0),
])
def test_default_fit_with_flat_adam_equals_torch_adam(monkeypatch, make):
    X, y = _data()
    if isinstance(make(), NeuralNetRegressor):
        y = (X[:, 0] * 3 + X[:, 1]).astype("float32")
    fast, slow = _fit_twice(monkeypatch, make, X, y, lambda patch: patch.setattr(
        "sktorch._components.flat_adam_step", lambda net: None))
    assert isinstance(fast._flat_adam, FlatAdamStep) and slow._flat_adam is None
    assert fast.history[-1]["epoch"] > 10  # the recipe's epochs, not skorch's 10
    _assert_same_fit(fast, slow)


def test_flat_adam_only_for_the_builtin_model_and_plain_adam():
    X, y = _data()
    kwargs = {"verbose": 0, "max_epochs": 1, "random_state": 0}
    assert isinstance(NeuralNetClassifier(**kwargs).fit(X, y)._flat_adam, FlatAdamStep)
    sgd = NeuralNetClassifier(optimizer=torch.optim.SGD, **kwargs).fit(X, y)
    assert sgd._flat_adam is None  # SGD as written
    net = NeuralNetClassifier(optimizer=torch.optim.Adam, **kwargs).fit(X, y)
    assert isinstance(net._flat_adam, FlatAdamStep)
    own = NeuralNetClassifier(torch.nn.Linear, module__in_features=4, module__out_features=3,
                              criterion=torch.nn.CrossEntropyLoss, optimizer=torch.optim.Adam,
                              **kwargs).fit(X, y)
    assert own._flat_adam is None  # a user's module: torch's step, as written
    assert flat_adam.flat_adam_step(own) is None


def test_pickled_default_net_trains_on_as_the_original(monkeypatch):
    X, y = _data()
    net = NeuralNetClassifier(verbose=0, random_state=0, warm_start=True).fit(X, y)
    copy_ = pickle.loads(pickle.dumps(net))
    assert isinstance(copy_._flat_adam, FlatAdamStep)
    assert copy_._flat_adam.optimizer is copy_.optimizer_
    net.partial_fit(X, y)
    copy_.partial_fit(X, y)
    _assert_same_fit(net, copy_)


def test_identity_standardize_returns_its_input_until_the_statistics_change():
    layer = Standardize(2, inverse=True)
    X = torch.randn(5, 2)
    assert layer(X) is X  # zeros and ones: nothing to compute
    layer.set_statistics(torch.tensor([1.0, 2.0]), torch.tensor([2.0, 3.0]))
    assert torch.equal(layer(X), X * torch.tensor([2.0, 3.0]) + torch.tensor([1.0, 2.0]))
    layer.mean.zero_()
    layer.scale.fill_(1.0)  # written in place: seen through the version counters
    assert layer(X) is X
    layer.load_state_dict({"mean": torch.tensor([5.0, 5.0]), "scale": torch.ones(2)})
    assert torch.equal(layer(X), X + 5.0)
    layer.to(torch.float64)  # new buffers
    assert torch.equal(layer(X.double()), X.double() + 5.0)
    forward = Standardize(2)
    forward.scale.fill_(2.0)
    assert torch.equal(forward(X), X / 2.0)


def test_classifier_fit_skipping_the_identity_layer_equals_computing_it(monkeypatch):
    X, y = _data()

    def make():
        return NeuralNetClassifier(verbose=0, random_state=0)

    fast, slow = _fit_twice(monkeypatch, make, X, y, lambda patch: patch.setattr(
        Standardize, "_is_identity", lambda self: False))
    assert fast.module_.unstandardize._is_identity()
    assert not fast.module_.standardize._is_identity()
    _assert_same_fit(fast, slow)
    np.testing.assert_array_equal(fast.predict_proba(X), slow.predict_proba(X))


def test_one_batch_epoch_is_the_permuted_rows_in_a_fresh_tensor():
    X, y = torch.arange(30.0).reshape(10, 3), torch.arange(10)
    for size in (10, 64, -1):
        generator = torch.Generator().manual_seed(3)
        order = torch.randperm(10, generator=copy.deepcopy(generator))
        batches = list(TensorBatches((X, y, None), size, shuffle=True, generator=generator))
        assert len(batches) == 1
        Xb, yb, wb = batches[0]
        assert torch.equal(Xb, X[order]) and torch.equal(yb, y[order]) and wb is None
        Xb.add_(100.0)  # a step that writes to its batch leaves the data alone
        assert X.max() == 29.0
    # more rows than a batch: the same rows in the same order, in batches
    generator = torch.Generator().manual_seed(3)
    order = torch.randperm(10, generator=copy.deepcopy(generator))
    batches = list(TensorBatches((X, y), 4, shuffle=True, generator=generator))
    assert [len(b[0]) for b in batches] == [4, 4, 2]
    assert torch.equal(torch.cat([b[1] for b in batches]), y[order])
