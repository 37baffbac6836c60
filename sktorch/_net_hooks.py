"""The net's own extension points, as skorch names them.

``HooksMixin`` gives :class:`~sktorch.NeuralNet` the methods that skorch users
override: the net's own ``on_*`` hooks (called like a callback's, before the
callbacks), ``notify``, ``run_single_epoch``, ``check_data``,
``initialize_history`` and ``torch_compile``. Hooks a subclass does not override
are never called, so they cost nothing per batch.
"""

from __future__ import annotations

from typing import Any

import torch

from sktorch import _params
from sktorch.callbacks.base import HOOKS, CallbackList
from sktorch.engine import StopFlag, run_pass
from sktorch.history import History

__all__ = ["HooksMixin", "with_own_hooks"]


class HooksMixin:
    """Overridable steps and hooks of a net (mixed into ``NeuralNet``)."""

    # ------------------------------------------------------------ own hooks
    def on_train_begin(self, net: Any, X: Any = None, y: Any = None, **kwargs: Any) -> None:
        """Called before training, before the callbacks' ``on_train_begin``."""

    def on_train_end(self, net: Any, X: Any = None, y: Any = None, **kwargs: Any) -> None:
        """Called after training, before the callbacks' ``on_train_end``."""

    def on_epoch_begin(self, net: Any, dataset_train: Any = None, dataset_valid: Any = None,
                       **kwargs: Any) -> None:
        """Called at the start of each epoch (its history row exists already)."""

    def on_epoch_end(self, net: Any, dataset_train: Any = None, dataset_valid: Any = None,
                     **kwargs: Any) -> None:
        """Called at the end of each epoch, before the callbacks' ``on_epoch_end``."""

    def on_batch_begin(self, net: Any, batch: Any = None, training: Any = None,
                       **kwargs: Any) -> None:
        """Called before each batch (its history row exists already)."""

    def on_batch_end(self, net: Any, batch: Any = None, training: Any = None,
                     **kwargs: Any) -> None:
        """Called after each batch with ``loss`` and ``y_pred``."""

    def on_grad_computed(self, net: Any, named_parameters: Any, X: Any = None, y: Any = None,
                         training: Any = None, **kwargs: Any) -> None:
        """Called after the backward pass, before the optimizer step."""

    def notify(self, method_name: str, **cb_kwargs: Any) -> None:
        """Call hook ``method_name`` on the net itself and then on every callback.

        For use in an overridden ``run_single_epoch`` or ``fit_loop``:
        ``notify('on_batch_begin', ...)`` also starts the batch's history row, so
        that ``history.record_batch`` writes to it, as in skorch.
        """
        if method_name not in HOOKS:
            raise ValueError(
                f"notify got unknown hook {method_name!r}; the hooks are {', '.join(HOOKS)}."
            )
        if method_name == "on_batch_begin":
            self.history.new_batch()
        callbacks = with_own_hooks(self, getattr(self, "_callback_list", None)
                                   or CallbackList([]))
        callbacks.notify(method_name, self, **cb_kwargs)

    # ---------------------------------------------------------------- steps
    def run_single_epoch(self, iterator: Any, training: bool, prefix: str, step_fn: Any,
                         **fit_params: Any) -> Any:
        """One pass over ``iterator`` (training or validation), writing batch rows.

        Parameters
        ----------
        iterator : iterable of batches, or None (then nothing happens)
        training : bool
        prefix : {'train', 'valid'}
            Prefix of the history keys (``train_loss``, ``valid_batch_size``, ...).
        step_fn : callable
            ``train_step`` or ``validation_step``.
        **fit_params
            Passed to ``step_fn``.
        """
        if iterator is None:
            return False
        stop = getattr(self, "_stop_flag", None) or StopFlag()
        return run_pass(self, self._callback_list, stop, iterator, training, step_fn,
                        fit_params)

    def check_data(self, X: Any, y: Any = None) -> None:
        """Check the data given to ``fit`` before anything else; override to add checks."""

    def initialize_history(self) -> Any:
        """Start an empty ``history_``; a history passed as ``history=`` is cleared and kept."""
        given = getattr(self, "_history_given", None)
        if given is not None:
            given.clear()
            self.history_ = given
        else:
            self.history_ = History()
        return self

    def torch_compile(self, module: torch.nn.Module, name: str) -> Any:
        """``module`` compiled with ``torch.compile(**compile__*)`` when ``compile=True``."""
        if not self.compile:
            return module
        return torch.compile(module, **_params.params_for("compile", self._kwargs))


def with_own_hooks(net: Any, callbacks: CallbackList) -> CallbackList:
    """``callbacks`` with the net's overridden ``on_*`` hooks called first."""
    if getattr(callbacks, "_owner", None) is net:
        return callbacks
    own = [hook for hook in HOOKS if getattr(type(net), hook) is not getattr(HooksMixin, hook)]
    if not own:
        return callbacks
    merged = CallbackList(callbacks.named)
    merged._owner = net
    for hook in own:
        merged.by_hook[hook] = [net, *merged.by_hook[hook]]
    return merged
