"""Vectorized optimizer steps: one update for every member, hyperparameters per member.

Each member's parameters are one row of a ``(n_members, n_params)`` tensor, and so
are its gradient and its optimizer state. Every hyperparameter (``lr``, momentum,
betas, ...) is a ``(n_members, 1)`` column, so members with different values step
together. Each update follows the arithmetic of torch's own single-tensor
implementation of the optimizer, so a member equals its own optimizer up to float
round-off; at the end :meth:`VectorizedOptimizer.load_into` writes each member's
state into its torch optimizer in torch's own format, so training continues
exactly (``partial_fit``).
"""

from __future__ import annotations

from typing import Any

import torch

__all__ = ["make_optimizer", "optimizer_reason", "VectorizedOptimizer"]

_UNSUPPORTED_FLAGS = ("maximize", "capturable", "differentiable", "fused")


def optimizer_reason(optimizer: torch.optim.Optimizer) -> str:
    """Why a member's optimizer cannot be vectorized ('' when it can)."""
    if type(optimizer) not in _CLASSES:
        name = type(optimizer).__name__
        if isinstance(optimizer, torch.optim.LBFGS):
            return "LBFGS re-evaluates the loss in a closure, which fused training cannot do"
        return (f"optimizer {name} has no vectorized step (supported: "
                f"{', '.join(sorted(c.__name__ for c in _CLASSES))})")
    if len(optimizer.param_groups) != 1:
        return "the optimizer has several parameter groups"
    group = optimizer.param_groups[0]
    for flag in _UNSUPPORTED_FLAGS:
        if group.get(flag):
            return f"optimizer option {flag}=True is not supported by fused training"
    if any(isinstance(v, torch.Tensor) for v in group.values() if not isinstance(v, list)):
        return "a tensor-valued optimizer hyperparameter"
    return ""


def _step_dtype() -> torch.dtype:
    """The dtype of torch's ``state['step']`` (float64 when that is torch's default dtype)."""
    return torch.float64 if torch.get_default_dtype() == torch.float64 else torch.float32


def _column(values: list, like: torch.Tensor, dtype: Any = None) -> torch.Tensor:
    return torch.tensor(values, dtype=dtype or like.dtype, device=like.device).reshape(-1, 1)


class VectorizedOptimizer:
    """Base class: per-member state rows and hyperparameter columns.

    Parameters
    ----------
    groups : list of dict
        Each member's (single) torch param group, in member order.
    flat : Tensor of shape (n_members, n_params)
        The stacked parameters.
    """

    state_names: tuple[str, ...] = ()

    def __init__(self, groups: list[dict], flat: torch.Tensor):
        self.groups = groups
        self.state: dict[str, torch.Tensor] = {}
        # float64 step counts: bias corrections are computed in double, as torch does
        self.steps = torch.zeros(len(groups), 1, dtype=torch.float64, device=flat.device)

    def hyper(self, key: str, like: torch.Tensor, dtype: Any = None) -> torch.Tensor:
        return _column([g[key] for g in self.groups], like, dtype)

    def step(self, flat: torch.Tensor, grad: torch.Tensor,
             frozen: torch.Tensor | None = None) -> None:
        """Update ``flat`` in place; rows in ``frozen`` (member indices) keep everything."""
        saved = None
        if frozen is not None:
            saved = [(t, t[frozen].clone()) for t in (flat, self.steps, *self.state.values())]
        with torch.no_grad():
            self.steps += 1
            self._update(flat, grad)
            if saved is not None:
                for tensor, rows in saved:
                    tensor[frozen] = rows

    def _update(self, flat: torch.Tensor, grad: torch.Tensor) -> None:
        raise NotImplementedError

    def keep(self, rows: torch.Tensor) -> None:
        """Keep only the members at ``rows`` (the others have finished)."""
        self.groups = [self.groups[i] for i in rows.tolist()]
        self.steps = self.steps[rows]
        self.state = {k: v[rows] for k, v in self.state.items()}
        self._hyper_changed()

    def _hyper_changed(self) -> None:
        """Recompute the hyperparameter columns after ``keep``."""

    def member_state(self, row: int) -> dict[str, torch.Tensor]:
        """State rows of one member that torch keeps for this member's settings."""
        return {k: v[row] for k, v in self.state.items() if self._has_state(k, row)}

    def _has_state(self, key: str, row: int) -> bool:
        return True

    def load_into(self, row: int, optimizer: torch.optim.Optimizer, stack: Any) -> None:
        """Write member ``row``'s state into its own torch optimizer, as torch stores it.

        ``stack`` is the ``FlatStack``: it knows where each parameter of the member
        sits in a row (and its own, possibly narrower, shape).
        """
        step = float(self.steps[row, 0])
        rows = self.member_state(row)
        for entry in stack.layout_of(row):
            state = {"step": torch.tensor(step, dtype=_step_dtype())} if self._torch_step() else {}
            for key, value in rows.items():
                state[key] = stack.piece(value, entry).clone(memory_format=torch.contiguous_format)
            if state:  # torch keeps no entry when there is no state (SGD, momentum 0)
                optimizer.state[entry[0]] = state

    def _torch_step(self) -> bool:
        return True

    def load_from(self, row: int, optimizer: torch.optim.Optimizer, stack: Any) -> None:
        """Start member ``row`` from the state of its own torch optimizer (a continued fit).

        The reverse of :meth:`load_into` (``stack`` is the ``FlatStack``); an optimizer
        without state (never stepped) leaves the row as a fresh one.
        """
        layout = stack.layout_of(row)
        states = [optimizer.state.get(entry[0]) for entry in layout]
        if not any(states):
            return
        with torch.no_grad():
            for entry, state in zip(layout, states):
                for key, value in (state or {}).items():
                    if key in self.state:
                        stack.piece(self.state[key][row], entry).copy_(
                            value.reshape(entry[4]).to(self.state[key].dtype))
            step = states[0].get("step") if states[0] else None
            # torch's SGD keeps no step: one means "the momentum buffer exists"
            self.steps[row, 0] = float(step) if step is not None else 1.0
        self._steps_diverged()

    def _steps_diverged(self) -> None:
        """Members' step counts may now differ (a continued member joined)."""


class SGD(VectorizedOptimizer):
    """``torch.optim.SGD``: momentum, dampening, Nesterov and weight decay per member."""

    def __init__(self, groups: list[dict], flat: torch.Tensor):
        super().__init__(groups, flat)
        self._flat_like = flat
        self._hyper_changed()
        if self.any_momentum:
            self.state["momentum_buffer"] = torch.zeros_like(flat.detach())

    def _hyper_changed(self) -> None:
        like = self._flat_like
        self.lr = self.hyper("lr", like)
        self.momentum = self.hyper("momentum", like)
        self.dampening = self.hyper("dampening", like)
        self.weight_decay = self.hyper("weight_decay", like)
        self.nesterov = self.hyper("nesterov", like, torch.bool)
        self.any_momentum = bool((self.momentum != 0).any())
        self.any_decay = bool((self.weight_decay != 0).any())

    def _update(self, flat, grad):
        if self.any_decay:
            grad = grad + self.weight_decay * flat
        if self.any_momentum:
            buf = self.state["momentum_buffer"]
            first = self.steps == 1  # torch starts the buffer as a copy of the gradient
            new = torch.where(first, grad, buf * self.momentum + grad * (1 - self.dampening))
            buf.copy_(new)
            direction = torch.where(self.nesterov, grad + buf * self.momentum, buf)
            grad = torch.where(self.momentum != 0, direction, grad)
        flat.sub_(self.lr * grad)

    def _torch_step(self) -> bool:
        return False  # SGD keeps no step count

    def _has_state(self, key, row):
        return self.groups[row]["momentum"] != 0


class Adam(VectorizedOptimizer):
    """``torch.optim.Adam`` and ``AdamW``: betas, eps, weight decay, amsgrad per member.

    The update follows torch's single-tensor step operation by operation (torch's
    fused kernels compute the bias corrections in single precision, which
    drifts further). While every member has taken the same number of steps (no
    member skipped one) and shares ``betas`` and ``eps``, the bias corrections are
    Python floats computed as torch computes them, so each step is a few large
    operations and no small ones.
    """

    def __init__(self, groups: list[dict], flat: torch.Tensor):
        super().__init__(groups, flat)
        self._flat_like = flat
        zeros = torch.zeros_like(flat.detach())
        self.state = {"exp_avg": zeros, "exp_avg_sq": zeros.clone()}
        self._hyper_changed()
        if self.any_amsgrad:
            self.state["max_exp_avg_sq"] = zeros.clone()
        self._count = 0  # the steps every member took, while they agree (else None)

    def step(self, flat: torch.Tensor, grad: torch.Tensor,
             frozen: torch.Tensor | None = None) -> None:
        if self._count is not None:
            self._count = None if frozen is not None else self._count + 1
        super().step(flat, grad, frozen)

    def _steps_diverged(self) -> None:
        self._count = None  # bias corrections from each member's own step count

    def _hyper_changed(self) -> None:
        like = self._flat_like
        f64 = torch.float64
        self.lr = self.hyper("lr", like, f64)
        self.beta1 = _column([g["betas"][0] for g in self.groups], like, f64)
        self.beta2 = _column([g["betas"][1] for g in self.groups], like, f64)
        self.eps = self.hyper("eps", like)
        self.weight_decay = self.hyper("weight_decay", like, f64)
        self.decoupled = self.hyper("decoupled_weight_decay", like, torch.bool)
        self.amsgrad = self.hyper("amsgrad", like, torch.bool)
        self.any_amsgrad = bool(self.amsgrad.any())
        self.any_decay = bool((self.weight_decay != 0).any())
        dtype = like.dtype
        self.one_minus_beta1 = (1 - self.beta1).to(dtype)
        self.beta2_t = self.beta2.to(dtype)
        self.one_minus_beta2 = (1 - self.beta2).to(dtype)
        shared = {(float(g["betas"][0]), float(g["betas"][1]), float(g["eps"]))
                  for g in self.groups}
        self.shared = next(iter(shared)) if len(shared) == 1 else None

    def _bias_corrections(self, dtype: torch.dtype) -> tuple[Any, Any]:
        """``lr / (1 - beta1**step)`` per member and ``sqrt(1 - beta2**step)``."""
        if self._count is not None and self.shared is not None:  # Python floats, as torch
            beta1, beta2, _ = self.shared
            bias1, bias2 = 1 - beta1 ** self._count, 1 - beta2 ** self._count
            return (self.lr / bias1).to(dtype), bias2 ** 0.5
        bias1 = 1 - self.beta1 ** self.steps
        bias2_sqrt = (1 - self.beta2 ** self.steps).sqrt()
        return (self.lr / bias1).to(dtype), bias2_sqrt.to(dtype)

    def _update(self, flat, grad):
        dtype = flat.dtype
        if self.any_decay:
            decay = (self.weight_decay * ~self.decoupled).to(dtype)
            shrink = (1 - self.lr * self.weight_decay * self.decoupled).to(dtype)
            grad = grad + decay * flat
            flat.mul_(shrink)
        exp_avg, exp_avg_sq = self.state["exp_avg"], self.state["exp_avg_sq"]
        if self.shared is not None:  # torch's own calls, with its scalars
            beta1, beta2, eps = self.shared
            exp_avg.lerp_(grad, 1 - beta1)
            exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
        else:
            eps = self.eps
            exp_avg.lerp_(grad, self.one_minus_beta1)
            exp_avg_sq.mul_(self.beta2_t).addcmul_(grad, grad * self.one_minus_beta2)
        step_size, bias2_sqrt = self._bias_corrections(dtype)
        second = exp_avg_sq
        if self.any_amsgrad:
            peak = self.state["max_exp_avg_sq"]
            peak.copy_(torch.where(self.amsgrad, torch.maximum(peak, exp_avg_sq), peak))
            second = torch.where(self.amsgrad, peak, exp_avg_sq)
        denom = second.sqrt().div_(bias2_sqrt).add_(eps)
        # torch: param.addcdiv_(exp_avg, denom, value=-step_size), which computes
        # (value * exp_avg) / denom: the same order, with a step size per member
        flat.sub_(exp_avg.mul(step_size).div_(denom))

    def _has_state(self, key, row):
        return key != "max_exp_avg_sq" or bool(self.groups[row]["amsgrad"])


class RMSprop(VectorizedOptimizer):
    """``torch.optim.RMSprop``: alpha, eps, weight decay, momentum, centered per member."""

    def __init__(self, groups: list[dict], flat: torch.Tensor):
        super().__init__(groups, flat)
        self._flat_like = flat
        zeros = torch.zeros_like(flat.detach())
        self.state = {"square_avg": zeros}
        self._hyper_changed()
        if self.any_momentum:
            self.state["momentum_buffer"] = zeros.clone()
        if self.any_centered:
            self.state["grad_avg"] = zeros.clone()

    def _hyper_changed(self) -> None:
        like = self._flat_like
        self.lr = self.hyper("lr", like)
        self.alpha = self.hyper("alpha", like)
        self.eps = self.hyper("eps", like)
        self.weight_decay = self.hyper("weight_decay", like)
        self.momentum = self.hyper("momentum", like)
        self.centered = self.hyper("centered", like, torch.bool)
        self.any_momentum = bool((self.momentum > 0).any())
        self.any_centered = bool(self.centered.any())
        self.any_decay = bool((self.weight_decay != 0).any())

    def _update(self, flat, grad):
        if self.any_decay:
            grad = grad + self.weight_decay * flat
        square_avg = self.state["square_avg"]
        square_avg.mul_(self.alpha).addcmul_(grad, grad * (1 - self.alpha))
        if self.any_centered:
            grad_avg = self.state["grad_avg"]
            grad_avg.copy_(torch.where(self.centered, grad_avg.lerp(grad, 1 - self.alpha),
                                       grad_avg))
            centered = (square_avg - grad_avg * grad_avg).sqrt()
            avg = torch.where(self.centered, centered, square_avg.sqrt())
        else:
            avg = square_avg.sqrt()
        avg = avg.add_(self.eps)
        scaled = grad / avg
        if self.any_momentum:
            buf = self.state["momentum_buffer"]
            buf.copy_(torch.where(self.momentum > 0, buf * self.momentum + scaled, buf))
            scaled = torch.where(self.momentum > 0, buf, scaled)
        flat.sub_(self.lr * scaled)

    def _has_state(self, key, row):
        group = self.groups[row]
        if key == "momentum_buffer":
            return group["momentum"] > 0
        if key == "grad_avg":
            return bool(group["centered"])
        return True


class Adagrad(VectorizedOptimizer):
    """``torch.optim.Adagrad``: lr decay, weight decay, eps, initial accumulator per member."""

    def __init__(self, groups: list[dict], flat: torch.Tensor):
        super().__init__(groups, flat)
        self._flat_like = flat
        self._hyper_changed()
        start = self.hyper("initial_accumulator_value", flat)
        self.state = {"sum": torch.zeros_like(flat.detach()) + start}

    def _hyper_changed(self) -> None:
        like = self._flat_like
        self.lr = self.hyper("lr", like, torch.float64)
        self.lr_decay = self.hyper("lr_decay", like, torch.float64)
        self.eps = self.hyper("eps", like)
        self.weight_decay = self.hyper("weight_decay", like)
        self.any_decay = bool((self.weight_decay != 0).any())

    def _update(self, flat, grad):
        if self.any_decay:
            grad = grad + self.weight_decay * flat
        clr = (self.lr / (1 + (self.steps - 1) * self.lr_decay)).to(flat.dtype)
        state_sum = self.state["sum"]
        state_sum.addcmul_(grad, grad)
        std = state_sum.sqrt().add_(self.eps)
        flat.sub_(clr * grad / std)


_CLASSES: dict[type, type] = {
    torch.optim.SGD: SGD,
    torch.optim.Adam: Adam,
    torch.optim.AdamW: Adam,
    torch.optim.RMSprop: RMSprop,
    torch.optim.Adagrad: Adagrad,
}


def make_optimizer(optimizers: list[torch.optim.Optimizer], flat: torch.Tensor
                   ) -> VectorizedOptimizer:
    """The vectorized step for members whose torch optimizers are ``optimizers``."""
    groups = []
    for optimizer in optimizers:
        group = {k: v for k, v in optimizer.param_groups[0].items() if k != "params"}
        group.setdefault("decoupled_weight_decay", isinstance(optimizer, torch.optim.AdamW))
        groups.append(group)
    return _CLASSES[type(optimizers[0])](groups, flat)
