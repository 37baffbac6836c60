"""The vectorized optimizers alone: several members, each its own hyperparameters.

Fast unit tests of ``_fused/_optim.py`` (the search-level fused tests are slow, so
mutation testing sees these): every member's update, its frozen rows, its state
written back to torch and read from it equal a torch optimizer per member.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from sktorch.model_selection._fused import _optim
from sktorch.model_selection._fused._stack import FlatStack

N = 12

CASES = [
    (torch.optim.SGD, [dict(lr=0.1, momentum=0.9, dampening=0.2, weight_decay=0.01),
                       dict(lr=0.05, momentum=0.5, nesterov=True),
                       dict(lr=0.2)]),
    (torch.optim.Adam, [dict(lr=0.01, betas=(0.7, 0.95), weight_decay=0.05),
                        dict(lr=0.03, eps=1e-6),
                        dict(lr=0.02, betas=(0.8, 0.9), amsgrad=True)]),
    # shared betas and eps: the bias corrections in Python floats while steps agree
    (torch.optim.Adam, [dict(lr=0.01), dict(lr=0.03, weight_decay=0.1), dict(lr=0.02)]),
    (torch.optim.AdamW, [dict(lr=0.01, weight_decay=0.3), dict(lr=0.02, weight_decay=0.0),
                         dict(lr=0.005, betas=(0.85, 0.99))]),
    (torch.optim.RMSprop, [dict(lr=0.01, alpha=0.8, momentum=0.3, centered=True),
                           dict(lr=0.02, weight_decay=0.01),
                           dict(lr=0.005, alpha=0.95, momentum=0.6)]),
    (torch.optim.Adagrad, [dict(lr=0.1, lr_decay=0.1, initial_accumulator_value=0.2),
                           dict(lr=0.05, weight_decay=0.01),
                           dict(lr=0.2, eps=1e-6)]),
]


def _members(optimizer, settings, gen):
    params = [nn.Parameter(torch.randn(N, generator=gen)) for _ in settings]
    torch_opts = [optimizer([p], **s) for p, s in zip(params, settings)]
    flat = torch.stack([p.detach().clone() for p in params]).requires_grad_(True)
    groups = []
    for opt in torch_opts:
        group = {k: v for k, v in opt.param_groups[0].items() if k != "params"}
        group.setdefault("decoupled_weight_decay", optimizer is torch.optim.AdamW)
        groups.append(group)
    return params, torch_opts, flat, _optim._CLASSES[optimizer](groups, flat)


@pytest.mark.parametrize("optimizer, settings", CASES)
def test_each_member_steps_as_its_own_torch_optimizer_and_frozen_rows_keep_everything(
        optimizer, settings):
    gen = torch.Generator().manual_seed(0)
    params, torch_opts, flat, vectorized = _members(optimizer, settings, gen)
    for step in range(6):
        grads = torch.randn(len(settings), N, generator=gen)
        frozen = torch.tensor([1]) if step in (2, 3) else None  # member 1 sits out
        for i, (p, opt) in enumerate(zip(params, torch_opts)):
            if frozen is not None and i == 1:
                continue
            p.grad = grads[i].clone()
            opt.step()
        vectorized.step(flat, grads.clone(), frozen)
        for i, p in enumerate(params):
            torch.testing.assert_close(flat.detach()[i], p.detach(), rtol=1e-5, atol=1e-6,
                                       msg=f"member {i} after step {step}")


@pytest.mark.parametrize("optimizer, settings", CASES)
def test_state_written_to_torch_and_read_back_continues_exactly(optimizer, settings):
    gen = torch.Generator().manual_seed(1)
    params, torch_opts, flat, vectorized = _members(optimizer, settings, gen)
    for _ in range(3):
        grads = torch.randn(len(settings), N, generator=gen)
        for i, (p, opt) in enumerate(zip(params, torch_opts)):
            p.grad = grads[i].clone()
            opt.step()
        vectorized.step(flat, grads.clone())
    holders = []
    for p in params:
        holder = nn.Module()
        holder.weight = nn.Parameter(p.detach().clone())
        holders.append(holder)
    stack = FlatStack(holders)
    written = [optimizer([h.weight], **s) for h, s in zip(holders, settings)]
    for i, opt in enumerate(written):
        vectorized.load_into(i, opt, stack)
        for key, value in torch_opts[i].state[params[i]].items():
            torch.testing.assert_close(opt.state[holders[i].weight][key], value,
                                       rtol=1e-5, atol=1e-6, msg=f"member {i} {key}")
    # A fresh vectorized optimizer started from the torch states goes on as torch does.
    fresh = _optim._CLASSES[optimizer](vectorized.groups, stack.flat)
    for i, opt in enumerate(written):
        fresh.load_from(i, opt, stack)
    grads = torch.randn(len(settings), N, generator=gen)
    for i, (p, opt) in enumerate(zip(params, torch_opts)):
        p.grad = grads[i].clone()
        opt.step()
    with torch.no_grad():
        fresh.step(stack.flat, grads.clone())
    for i, p in enumerate(params):
        torch.testing.assert_close(stack.flat.detach()[i], p.detach(), rtol=1e-5, atol=1e-6,
                                   msg=f"member {i} after continuing")
