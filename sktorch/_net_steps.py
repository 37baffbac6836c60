"""The per-batch steps of a net: what the engine calls for each batch.

``StepsMixin`` gives :class:`~sktorch.NeuralNet` skorch's step methods
(``train_step``, ``train_step_single``, ``validation_step``, ``evaluation_step``,
``infer``, ``get_loss``), each overridable as in skorch. The engine
(:mod:`sktorch.engine`) runs the loop; these compute one batch.
"""

from __future__ import annotations

import contextlib
from typing import Any

import torch

from sktorch import _weights
from sktorch._predict import loss_input
from sktorch.utils import FirstStepAccumulator, TeeGenerator

__all__ = ["StepsMixin"]

_AUTOCAST = {"bf16": torch.bfloat16, "16-mixed": torch.float16}
_NO_AUTOCAST = contextlib.nullcontext()  # reusable: no new object per step


class StepsMixin:
    """Forward, loss, backward and optimizer step of one batch (see the module doc)."""

    _flat_adam: Any = None  # set with the optimizer (see sktorch._builtin.flat_adam)

    def _autocast(self):
        dtype = _AUTOCAST.get(self.precision)
        if dtype is None:
            return _NO_AUTOCAST
        return torch.autocast(torch.device(self.device or "cpu").type, dtype=dtype)

    def train_step_single(self, batch: Any, **fit_params: Any) -> dict[str, Any]:
        """Forward, loss and backward for one batch (no optimizer step)."""
        Xi, yi = batch[0], batch[1]
        with self._autocast():
            y_pred = self.infer(Xi, **fit_params)
            loss = self._batch_loss(y_pred, batch, training=True)
        scaler = self._grad_scaler
        (loss if scaler is None else scaler.scale(loss)).backward()
        if self._callback_list.by_hook["on_grad_computed"]:  # every learnable parameter
            self._callback_list.notify(
                "on_grad_computed", self,
                named_parameters=TeeGenerator(self.get_all_learnable_params()),
                X=Xi, y=yi, batch=batch, training=True)
        return {"loss": loss, "y_pred": y_pred}

    def get_train_step_accumulator(self) -> FirstStepAccumulator:
        """What keeps the result of ``train_step_single`` that ``train_step`` returns.

        An optimizer that evaluates the loss several times per step (LBFGS) calls
        ``train_step_single`` several times; the default keeps the first result, so
        the recorded ``train_loss`` is the loss before the step. Return an object with
        ``store_step(step)`` and ``get_step()`` to keep another.
        """
        return FirstStepAccumulator()

    def train_step(self, batch: Any, **fit_params: Any) -> dict[str, Any]:
        """One optimization step; a closure is built only for optimizers that need one."""
        optimizer = self.optimizer_
        accumulator = self.get_train_step_accumulator()
        if self._needs_closure:

            def closure():
                optimizer.zero_grad()
                for extra in self._extra_optimizers:
                    extra.zero_grad()
                step = self.train_step_single(batch, **fit_params)
                accumulator.store_step(step)
                return step["loss"]

            optimizer.step(closure)
            for extra in self._extra_optimizers:
                extra.step()
            return accumulator.get_step()
        optimizer.zero_grad(set_to_none=True)
        for extra in self._extra_optimizers:  # a subclass's own optimizers (optimizer2_)
            extra.zero_grad(set_to_none=True)
        accumulator.store_step(self.train_step_single(batch, **fit_params))
        if self._grad_scaler is not None:
            self._grad_scaler.step(optimizer)
            self._grad_scaler.update()
        else:
            flat = self._flat_adam  # the built-in model's Adam: the same bits, fewer operations
            if flat is None or flat.optimizer is not optimizer or not flat.step():
                optimizer.step()
        for extra in self._extra_optimizers:
            extra.step()
        return accumulator.get_step()

    def validation_step(self, batch: Any, **fit_params: Any) -> dict[str, Any]:
        """Forward and loss for one validation batch, without gradients."""
        Xi = batch[0]
        with torch.no_grad(), self._autocast():
            y_pred = self.infer(Xi, **fit_params)
            loss = self._batch_loss(y_pred, batch, training=False)
        return {"loss": loss, "y_pred": y_pred}

    def _batch_loss(self, y_pred: Any, batch: Any, training: bool) -> torch.Tensor:
        """``get_loss`` of a batch; weighted when the fit has sample weights (``batch[2]``)."""
        if self._weighted and len(batch) > 2:
            return _weights.weighted_loss(self, y_pred, batch[1], batch[0], batch[2], training)
        return self.get_loss(y_pred, batch[1], X=batch[0], training=training)

    def evaluation_step(self, batch: Any, training: bool = False) -> Any:
        """The module's output for one batch (gradients only when ``training``)."""
        Xi = batch[0] if isinstance(batch, (tuple, list)) else batch
        if self.module_.training != training:  # forward_iter set every submodule once
            self._set_training(training)
        if torch.is_grad_enabled() == training and self.precision not in _AUTOCAST:
            return self.infer(Xi)  # e.g. under predict_proba's no_grad: no context to enter
        with torch.set_grad_enabled(training), self._autocast():
            return self.infer(Xi)

    def infer(self, x: Any, **fit_params: Any) -> Any:
        """Call the module; a dict ``x`` is passed as keyword arguments."""
        if isinstance(x, dict):
            return self._forward_module(**x, **fit_params)
        return self._forward_module(x, **fit_params)

    def get_loss(self, y_pred: Any, y_true: Any, X: Any = None, training: bool = False):
        """The criterion applied to predictions and targets.

        torch's losses get a tuple output's first element, losses of your own the
        whole output (see :func:`~sktorch._predict.loss_input`).
        """
        return self.criterion_(loss_input(self.criterion_, y_pred), y_true)
