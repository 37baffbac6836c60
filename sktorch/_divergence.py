"""Detecting a diverging fit: NaN or infinite losses and weights.

Losses are checked once per epoch, after the engine has read them (on an
accelerator that is the epoch's one device sync, which happens anyway): the hot
loop gets no extra work. Divergence is therefore noticed at the end of the epoch in
which it happened, and the message names that epoch and its first bad batch.

A weight that turns NaN shows in the next loss that depends on it, so with
``on_nan='raise'`` the weights themselves are checked only once, when training ends
(a check per epoch costs as much as a few training steps of a small model). A weight
that no loss uses (or whose infinity a mask hides) is therefore reported only then,
as non-finite "when training ended". ``on_nan='stop'`` keeps a copy of the weights
and optimizer state from the start of each epoch and restores it; it checks the
weights every epoch, so that the copy it keeps is always finite. Checkpoint
callbacks check the weights before they write, so a checkpoint on disk is never
replaced by non-finite weights.
"""

from __future__ import annotations

import copy
import math
import numbers
from typing import Any

import torch

from sktorch._data import all_finite
from sktorch._warnings import warn_user
from sktorch.exceptions import SktorchWarning, TrainingDivergedError

__all__ = ["DivergenceGuard", "weights_finite"]

_ADVICE = ("lower lr, scale the inputs, clip gradients (GradientNormClipping), or pass "
           "on_nan='stop' to keep the last finite weights")


def _first_bad_batch(rows: list) -> tuple[str, int, float] | None:
    """``(pass name, 1-based batch number, value)`` of the first non-finite loss."""
    try:  # one sum: finite unless some loss is NaN/inf (or the sum overflows)
        if math.isfinite(sum([row.get("train_loss", 0.0) + row.get("valid_loss", 0.0)
                              for row in rows])):
            return None
    except TypeError:  # a value that is not a number (a callback's): look row by row
        pass
    counts = {"train_loss": 0, "valid_loss": 0}
    for row in rows:
        for key in counts:
            if key in row:
                counts[key] += 1
                value = row[key]
                if isinstance(value, numbers.Real) and not math.isfinite(value):
                    return ("training" if key == "train_loss" else "validation",
                            counts[key], value)
    return None


def weights_finite(module: torch.nn.Module) -> bool:
    """Whether every floating-point parameter of ``module`` is finite (one device sync)."""
    params = [p.detach() for p in module.parameters() if p.is_floating_point()]
    if not params:
        return True
    try:  # a NaN or inf makes its parameter's sum non-finite
        if bool(torch.isfinite(torch.stack([p.sum() for p in params])).all()):
            return True
    except RuntimeError:  # parameters on several devices: no stack
        pass
    return all(all_finite(p) for p in params)  # exact: a large sum may just overflow


def _raise(what: str) -> None:
    raise TrainingDivergedError(f"Training diverged: {what}. To fix it, {_ADVICE}.")


class DivergenceGuard:
    """Watch one fit for NaN/inf; raise or stop as ``net.on_nan`` says.

    Parameters
    ----------
    net : NeuralNet
        Supplies ``on_nan``, ``module_``, ``optimizer_`` and ``history``.
    """

    def __init__(self, net: Any):
        self.net = net
        self.mode = getattr(net, "on_nan", "raise")
        self._snapshot: tuple[dict, dict | None] | None = None

    def epoch_begin(self) -> None:
        """With ``on_nan='stop'``, copy the weights and optimizer state (on the device)."""
        if self.mode != "stop":
            return
        module, optimizer = self.net.module_, self.net.optimizer_
        weights = {k: v.detach().clone() for k, v in module.state_dict().items()}
        state = copy.deepcopy(optimizer.state_dict()) if optimizer is not None else None
        self._snapshot = (weights, state)

    def check_epoch(self) -> str | None:
        """After the epoch's losses are read: None if all is finite, else a stop reason.

        Raises :class:`~sktorch.exceptions.TrainingDivergedError` with ``on_nan='raise'``.
        """
        history = self.net.history
        epoch = history[-1].get("epoch", len(history))
        bad = _first_bad_batch(history[-1]["batches"])
        if bad is not None:
            where, batch, value = bad
            what = f"the {where} loss became {value} at epoch {epoch}, {where} batch {batch}"
        elif self.mode == "stop" and not weights_finite(self.net.module_):
            what = f"the module's weights became NaN or infinite in epoch {epoch}"
        else:
            return None
        if self.mode == "raise":
            _raise(what)
        return self._restore(what)

    def check_end(self) -> None:
        """When training ends: with ``on_nan='raise'``, raise if a weight is not finite.

        Catches weights that the last step made NaN or infinite, and weights that no
        loss depends on. (``on_nan='stop'`` has checked them every epoch.)
        """
        history = self.net.history
        if self.mode == "raise" and history and not weights_finite(self.net.module_):
            epoch = history[-1].get("epoch", len(history))
            _raise("the module's weights were NaN or infinite when training ended "
                   f"(after epoch {epoch}), although every loss was finite")

    def _restore(self, what: str) -> str:
        weights, state = self._snapshot
        self.net.module_.load_state_dict(weights)
        if state is not None:
            self.net.optimizer_.load_state_dict(state)
        self.net.history.pop()  # the diverged epoch's weights are gone; so is its record
        warn_user(
            f"Training diverged: {what}. Training stopped (on_nan='stop') and the net "
            "keeps the weights from before that epoch.",
            SktorchWarning,
        )
        return f"diverged: {what}; weights restored from the previous epoch"
