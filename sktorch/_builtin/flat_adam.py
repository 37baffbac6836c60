"""The built-in model's Adam step, computed on one flat buffer.

The built-in MLP has a few small parameter tensors; ``torch.optim.Adam`` updates
them one by one (about ten tensor operations each, on the CPU), and on small data
that costs as much as the forward and backward passes. :class:`FlatAdamStep`
computes the same update, operation by operation as torch's single-tensor Adam,
on the concatenation of all parameters: the numbers are the same to the bit,
while the step makes a dozen operations in all. The optimizer stays a plain
``torch.optim.Adam`` (saved, loaded, pickled and searched as one); its state
tensors become views of the flat buffers.

The flat step applies only where it is exactly torch's step: one parameter group
with torch's default flags (no ``amsgrad``, ``maximize``, ``foreach``, ``fused``,
``capturable``, ``differentiable``, L2 weight decay), float hyperparameters, every
parameter with a dense gradient of its own dtype, equal step counts, no step
hooks and no wrapper around ``optimizer.step`` (a torch LR scheduler adds one).
Otherwise the net calls ``optimizer.step()`` as usual.
"""

from __future__ import annotations

from typing import Any

import torch
from torch.optim import optimizer as torch_optimizer

__all__ = ["FlatAdamStep", "flat_adam_step"]

_DEFAULT_FLAGS = {"amsgrad": False, "maximize": False, "capturable": False,
                  "differentiable": False, "decoupled_weight_decay": False}


def flat_adam_step(net: Any) -> FlatAdamStep | None:
    """The flat step for ``net.optimizer_`` when the net trains the built-in model."""
    optimizer = getattr(net, "optimizer_", None)
    if net.module is not None or type(optimizer) is not torch.optim.Adam:
        return None
    return FlatAdamStep(optimizer)


def _scalar_dtype() -> torch.dtype:
    """The dtype of torch's ``state['step']`` tensors (as ``torch.optim.Adam`` makes them)."""
    return torch.float64 if torch.get_default_dtype() == torch.float64 else torch.float32


def _has_step_hooks(optimizer: torch.optim.Optimizer) -> bool:
    return bool(optimizer._optimizer_step_pre_hooks or optimizer._optimizer_step_post_hooks
                or getattr(torch_optimizer, "_global_optimizer_pre_hooks", None)
                or getattr(torch_optimizer, "_global_optimizer_post_hooks", None))


class FlatAdamStep:
    """Adam's step for all parameters of one ``torch.optim.Adam`` at once.

    Parameters
    ----------
    optimizer : torch.optim.Adam
        The optimizer whose step this computes; its ``param_groups`` (learning
        rate included) are read at each step, and its state is kept in flat
        buffers (``state[p]['exp_avg']`` and the others are views of them).
    """

    def __init__(self, optimizer: torch.optim.Adam):
        self.optimizer = optimizer
        self._params: list[torch.Tensor] = []
        self._views: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = []
        self._sizes: list[int] = []
        self._exp_avg = self._exp_avg_sq = self._steps = None

    def step(self) -> bool:
        """Update the parameters as ``optimizer.step()`` would; False when it cannot."""
        optimizer = self.optimizer
        if "step" in vars(optimizer) or _has_step_hooks(optimizer):
            return False
        groups = optimizer.param_groups
        if len(groups) != 1:
            return False
        group = groups[0]
        params = group["params"]
        if not self._usable(group, params):
            return False
        with torch.no_grad():
            self._update(group, params)
        return True

    def _usable(self, group: dict, params: list) -> bool:
        """Whether this step is exactly torch's for ``group`` (setting up the buffers)."""
        if any(group.get(key, value) != value for key, value in _DEFAULT_FLAGS.items()):
            return False
        if group.get("foreach") or group.get("fused"):
            return False
        lr, (beta1, beta2) = group["lr"], group["betas"]
        if not all(isinstance(v, (float, int)) for v in (lr, beta1, beta2, group["eps"],
                                                         group["weight_decay"])):
            return False
        if not params:
            return False
        dtype, device = params[0].dtype, params[0].device
        for p in params:
            grad = p.grad
            if (grad is None or grad.is_sparse or grad.dtype != dtype or p.dtype != dtype
                    or p.device != device or p.is_complex()):
                return False
        if len(params) != len(self._params) or any(
                a is not b for a, b in zip(params, self._params)) or not self._owns_state():
            return self._adopt(params)
        # torch's own step (e.g. while some parameters had no gradient) may have advanced
        # some parameters' counts and not others: one bias correction would be wrong.
        return bool((self._steps == self._steps[0]).all())

    def _owns_state(self) -> bool:
        state = self.optimizer.state
        for p, (exp_avg, exp_avg_sq, step) in zip(self._params, self._views):
            s = state.get(p)
            if (s is None or s.get("exp_avg") is not exp_avg
                    or s.get("exp_avg_sq") is not exp_avg_sq or s.get("step") is not step):
                return False
        return True

    def _adopt(self, params: list) -> bool:
        """Move the optimizer's state for ``params`` into flat buffers (fresh state: zeros)."""
        state = self.optimizer.state
        entries = [state.get(p) for p in params]
        if any(entries) and not all(entries):
            return False  # some parameters have state, others not: torch's own step
        if any(not p.is_contiguous() for p in params):
            return False  # state views must have each parameter's strides (as zeros_like)
        first = params[0]
        numels = [p.numel() for p in params]
        if all(entries):
            steps = [s.get("step") for s in entries]
            if any(not isinstance(t, torch.Tensor) or t.numel() != 1 or t.device.type != "cpu"
                   for t in steps):
                return False
            values = {float(t) for t in steps}
            if len(values) != 1 or any(set(s) != {"step", "exp_avg", "exp_avg_sq"}
                                       for s in entries):
                return False
            exp_avg = torch.cat([s["exp_avg"].reshape(-1) for s in entries]).to(first)
            exp_avg_sq = torch.cat([s["exp_avg_sq"].reshape(-1) for s in entries]).to(first)
            step_flat = torch.cat([t.reshape(1) for t in steps])
        else:
            total = sum(numels)
            exp_avg = torch.zeros(total, dtype=first.dtype, device=first.device)
            exp_avg_sq = torch.zeros_like(exp_avg)
            step_flat = torch.zeros(len(params), dtype=_scalar_dtype())
        views = []
        for i, (p, a, b) in enumerate(zip(params, exp_avg.split(numels),
                                          exp_avg_sq.split(numels))):
            views.append((a.view_as(p), b.view_as(p), step_flat[i]))
            state[p] = {"step": views[-1][2], "exp_avg": views[-1][0],
                        "exp_avg_sq": views[-1][1]}
        self._params, self._views, self._sizes = list(params), views, numels
        self._exp_avg, self._exp_avg_sq, self._steps = exp_avg, exp_avg_sq, step_flat
        return True

    def _update(self, group: dict, params: list) -> None:
        # torch's _single_tensor_adam, on the concatenation of the parameters: the same
        # elementwise operations with the same Python scalars, so the same bits.
        grad = torch.cat([p.grad.reshape(-1) for p in params])
        flat = torch.cat([p.reshape(-1) for p in params])
        beta1, beta2 = group["betas"]
        lr, eps, weight_decay = group["lr"], group["eps"], group["weight_decay"]
        self._steps.add_(1)
        step = self._steps[0].item()
        if weight_decay != 0:
            grad = grad.add(flat, alpha=weight_decay)
        self._exp_avg.lerp_(grad, 1 - beta1)
        self._exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
        bias_correction1 = 1 - beta1**step
        bias_correction2 = 1 - beta2**step
        step_size = lr / bias_correction1
        bias_correction2_sqrt = bias_correction2**0.5
        denom = (self._exp_avg_sq.sqrt() / bias_correction2_sqrt).add_(eps)
        flat.addcdiv_(self._exp_avg, denom, value=-step_size)
        for p, new in zip(params, flat.split(self._sizes)):
            p.copy_(new.view_as(p))
