"""Tests that kill the mutants the fourth mutation run (MUTATION.md) found surviving.

Each test names the behaviour a user relies on; the mutants it kills are listed in
MUTATION.md under the fourth run.
"""

import re

import numpy as np
import pytest
import torch
from torch import nn

from sktorch.model_selection._fused import _optim
from sktorch.model_selection._fused._stack import FlatStack

N = 6
X = np.random.RandomState(0).randn(40, 3).astype("float32")
Y = X[:, :1].copy()


def _linear_net(**kwargs):
    from sktorch import NeuralNetRegressor

    params = dict(module__in_features=3, module__out_features=1, max_epochs=20, verbose=0,
                  random_state=0)
    params.update(kwargs)
    return NeuralNetRegressor(nn.Linear, **params)


# ------------------------------------------------------------ callbacks/training.py
def test_early_stopping_waits_five_epochs_by_default():
    from sktorch.callbacks import EarlyStopping

    net = _linear_net(lr=0.0, callbacks=[EarlyStopping()]).fit(X, Y)  # never improves
    assert len(net.history) == 6
    assert net.history[-1]["stop_reason"].startswith(
        "valid_loss did not improve for 5 epochs (best ")


def test_monitoring_a_key_the_history_lacks_names_it_and_says_what_to_do():
    from sktorch.callbacks import EarlyStopping

    net = _linear_net(max_epochs=2, callbacks=[EarlyStopping(monitor="train_acc")])
    with pytest.raises(ValueError) as info:
        net.fit(X, Y)
    message = str(info.value)
    assert message.startswith("EarlyStopping monitors 'train_acc', which is not in the "
                              "history; the last epoch has ['dur', 'epoch', ")
    assert re.search(r"'valid_loss_best'\]\. Add a scoring callback that records it \(e\.g\. "
                     r"EpochScoring\) or monitor one of those keys\.$", message), message


# ------------------------------------------------ fused search: vectorized optimizers
def _torch_members(optimizer, settings, seed=0):
    gen = torch.Generator().manual_seed(seed)
    params = [nn.Parameter(torch.randn(N, generator=gen)) for _ in settings]
    return params, [optimizer([p], **s) for p, s in zip(params, settings)], gen


def _stepped_together(params, torch_opts, vectorized, flat, grads, members=None):
    """One step of the torch optimizers of ``members`` (default all) and the stack."""
    members = range(len(params)) if members is None else members
    for i in members:
        params[i].grad = grads[i].clone()
        torch_opts[i].step()
    vectorized.step(flat, grads[list(members)].clone())


@pytest.mark.parametrize("optimizer", [torch.optim.Adam, torch.optim.AdamW])
def test_make_optimizer_steps_adam_and_adamw_members_as_torch_does(optimizer):
    settings = [dict(lr=0.05, weight_decay=0.2), dict(lr=0.1, weight_decay=0.1)]
    params, torch_opts, gen = _torch_members(optimizer, settings)
    flat = torch.stack([p.detach().clone() for p in params])
    vectorized = _optim.make_optimizer(torch_opts, flat)
    assert type(vectorized) is _optim.Adam
    assert [g["decoupled_weight_decay"] for g in vectorized.groups] == [
        optimizer is torch.optim.AdamW] * 2
    assert all("params" not in g for g in vectorized.groups)
    for _ in range(3):
        _stepped_together(params, torch_opts, vectorized, flat, torch.randn(2, N, generator=gen))
    torch.testing.assert_close(flat, torch.stack([p.detach() for p in params]))


def _two_steps_together(optimizer, settings):
    """Members as torch optimizers and as one vectorized optimizer, after two equal steps."""
    params, torch_opts, gen = _torch_members(optimizer, settings)
    flat = torch.stack([p.detach().clone() for p in params])
    vectorized = _optim.make_optimizer(torch_opts, flat)
    for _ in range(2):
        grads = torch.randn(len(settings), N, generator=gen)
        _stepped_together(params, torch_opts, vectorized, flat, grads)
    return params, torch_opts, gen, flat, vectorized


@pytest.mark.parametrize("optimizer, settings", [
    (torch.optim.SGD, [dict(lr=0.1, momentum=0.9), dict(lr=0.3),
                       dict(lr=0.05, momentum=0.5, weight_decay=0.1)]),
    (torch.optim.Adam, [dict(lr=0.01, amsgrad=True), dict(lr=0.03, betas=(0.8, 0.9)),
                        dict(lr=0.02)]),
    (torch.optim.RMSprop, [dict(lr=0.01, centered=True), dict(lr=0.02, momentum=0.5),
                           dict(lr=0.03, alpha=0.9)]),
    (torch.optim.Adagrad, [dict(lr=0.1, lr_decay=0.2), dict(lr=0.2),
                           dict(lr=0.05, weight_decay=0.1)]),
])
def test_members_kept_after_others_finish_step_on_with_their_own_settings(optimizer, settings):
    params, torch_opts, gen, flat, vectorized = _two_steps_together(optimizer, settings)
    rows = torch.tensor([2, 0])  # member 1 finished; the kept ones change places
    vectorized.keep(rows)
    flat = flat[rows]
    assert [g["lr"] for g in vectorized.groups] == [settings[2]["lr"], settings[0]["lr"]]
    for _ in range(2):
        grads = torch.randn(3, N, generator=gen)
        _stepped_together(params, torch_opts, vectorized, flat, grads, members=[2, 0])
    torch.testing.assert_close(flat, torch.stack([params[2].detach(), params[0].detach()]))


@pytest.mark.parametrize("optimizer, settings", [
    (torch.optim.SGD, [dict(lr=0.1, momentum=0.9), dict(lr=0.1)]),
    (torch.optim.Adam, [dict(lr=0.01, amsgrad=True), dict(lr=0.01)]),
    (torch.optim.RMSprop, [dict(lr=0.01, centered=True, momentum=0.5), dict(lr=0.01)]),
    (torch.optim.Adagrad, [dict(lr=0.1), dict(lr=0.2)]),
])
def test_state_written_to_torch_has_exactly_torchs_entries(optimizer, settings):
    params, torch_opts, gen, flat, vectorized = _two_steps_together(optimizer, settings)
    holders = []
    for row in flat:
        holder = nn.Module()
        holder.weight = nn.Parameter(row.clone())
        holders.append(holder)
    stack = FlatStack(holders)
    for i, s in enumerate(settings):
        written = optimizer([holders[i].weight], **s)
        vectorized.load_into(i, written, stack)
        expected = torch_opts[i].state.get(params[i], {})
        got = written.state.get(holders[i].weight, {})
        assert sorted(got) == sorted(expected), f"member {i}"
        for key, value in expected.items():
            torch.testing.assert_close(got[key], value, msg=f"member {i} {key}")
        if not expected:  # torch keeps no entry at all for a stateless member
            assert holders[i].weight not in written.state


@pytest.mark.parametrize("optimizer, settings", [
    # shared betas: torch's own scalar calls; decoupled decay shrinks the weights first
    (torch.optim.AdamW, [dict(lr=0.01, weight_decay=0.3), dict(lr=0.02, weight_decay=0.1)]),
    # betas per member: the coefficients are columns, 1 - beta2 computed in double
    (torch.optim.Adam, [dict(lr=0.01, betas=(0.9, 0.999)), dict(lr=0.02, betas=(0.8, 0.99))]),
])
def test_adam_members_match_torchs_single_tensor_step_bit_for_bit(optimizer, settings):
    # The update is written operation by operation as torch's single-tensor step, so on
    # the CPU it rounds exactly as torch does: a coefficient rounded to single precision
    # (1 - beta2 from a float32 beta2, a float64 shrink factor) shows as a changed bit.
    gen = torch.Generator().manual_seed(0)
    params = [nn.Parameter(torch.randn(2000, generator=gen)) for _ in settings]
    torch_opts = [optimizer([p], foreach=False, **s) for p, s in zip(params, settings)]
    flat = torch.stack([p.detach().clone() for p in params])
    vectorized = _optim.make_optimizer(torch_opts, flat)
    for _ in range(3):
        _stepped_together(params, torch_opts, vectorized, flat,
                          torch.randn(2, 2000, generator=gen))
    for i, p in enumerate(params):
        torch.testing.assert_close(flat[i], p.detach(), rtol=0, atol=0)
        torch.testing.assert_close(vectorized.state["exp_avg_sq"][i],
                                   torch_opts[i].state[p]["exp_avg_sq"], rtol=0, atol=0)


def test_a_member_whose_torch_optimizer_never_stepped_starts_fresh():
    settings = [dict(lr=0.1, momentum=0.9), dict(lr=0.1, momentum=0.9)]
    params, torch_opts, gen = _torch_members(torch.optim.SGD, settings)
    flat = torch.stack([p.detach().clone() for p in params])
    vectorized = _optim.make_optimizer(torch_opts, flat)
    holder = nn.Module()
    holder.weight = nn.Parameter(params[0].detach().clone())
    stack = FlatStack([holder, holder])
    vectorized.load_from(0, torch.optim.SGD([holder.weight], lr=0.1), stack)
    assert vectorized.steps.flatten().tolist() == [0.0, 0.0]
    assert not vectorized.state["momentum_buffer"].any()
    _stepped_together(params, torch_opts, vectorized, flat, torch.randn(2, N, generator=gen))
    torch.testing.assert_close(flat, torch.stack([p.detach() for p in params]))


def test_the_reason_an_optimizer_cannot_be_fused_names_what_to_change():
    p = [nn.Parameter(torch.zeros(2))]
    reason = _optim.optimizer_reason
    assert reason(torch.optim.LBFGS(p)) == (
        "LBFGS re-evaluates the loss in a closure, which fused training cannot do")
    two_groups = torch.optim.SGD([{"params": p}, {"params": [nn.Parameter(torch.zeros(1))]}],
                                 lr=0.1)
    assert reason(two_groups) == "the optimizer has several parameter groups"
    for flag in ("maximize", "differentiable"):
        assert reason(torch.optim.Adam(p, **{flag: True})) == (
            f"optimizer option {flag}=True is not supported by fused training")
    assert reason(torch.optim.SGD(p, lr=torch.tensor(0.1))) == (
        "a tensor-valued optimizer hyperparameter")
    assert reason(torch.optim.Adam(p, betas=(0.8, 0.9), foreach=False)) == ""


# ----------------------------------------------------------------------- classifier.py
def test_predicting_labels_after_loading_weights_without_them_says_how_to_give_them(tmp_path):
    save_file = pytest.importorskip("safetensors.torch").save_file
    from sktorch import NeuralNetClassifier
    from sktorch.toy import MLPModule

    def classifier():
        return NeuralNetClassifier(MLPModule, module__input_units=3, module__output_units=2,
                                   module__output_nonlin=nn.Softmax(dim=-1), max_epochs=1,
                                   train_split=None, verbose=0, random_state=0)

    net = classifier().fit(X, np.where(Y[:, 0] > 0, "yes", "no"))
    # written by another tool (sktorch's own safetensors files record the labels)
    save_file(net.module_.state_dict(), str(tmp_path / "p.safetensors"))
    restored = classifier().initialize()
    restored.load_params(tmp_path / "p.safetensors", use_safetensors=True)
    expected = (
        "This NeuralNetClassifier loaded its weights with load_params(f_params=...) from a "
        "file that does not record the labels (classes_) the net was trained with (a "
        "safetensors file, or one written by skorch or an older sktorch), so predict cannot "
        "tell which label each output column stands for. Pass classes=[...] (the labels it "
        "was fitted with) to the constructor before initialize(), or set net.classes_ = "
        "np.array([...]); predict_proba works without them.")
    with pytest.raises(ValueError, match=re.escape(expected) + "$"):
        restored.predict(X)


def test_more_output_columns_than_classes_says_which_fix_to_write():
    from sktorch import NeuralNetClassifier
    from sktorch.toy import MLPModule

    net = NeuralNetClassifier(MLPModule, module__input_units=3, module__output_units=3,
                              module__output_nonlin=nn.Softmax(dim=-1), max_epochs=1,
                              train_split=None, verbose=0, random_state=0)
    net.fit(X, np.where(Y[:, 0] > 0, "yes", "no"))
    expected = (
        "The module outputs 3 class columns, but NeuralNetClassifier knows 2 classes "
        "['no', 'yes']: each output column must stand for one label of classes_. If y did "
        "not show every class, pass classes=[...] with all labels; otherwise give the "
        "module 2 outputs.")
    with pytest.raises(ValueError, match=re.escape(expected) + "$"):
        net.predict_proba(X)


def test_labels_outside_the_classes_are_named_wherever_they_sort():
    from sktorch.classifier import encode_labels

    classes = np.array(["b", "d"])
    np.testing.assert_array_equal(encode_labels(classes, np.array(["d", "b", "d"])), [1, 0, 1])
    for labels, unknown in [(["e"], "['e']"),  # sorts after every class
                            (["b", "a", "c", "e", "a"], "['a', 'c', 'e']")]:
        expected = (f"y has labels {unknown} that are not among the classes ['b', 'd']; "
                    "pass classes=[...] with all labels, or fit from scratch.")
        with pytest.raises(ValueError, match=re.escape(expected) + "$"):
            encode_labels(classes, np.array(labels))
