"""Checks of what users put in ``callbacks=[...]``, with messages that say what to write."""

from __future__ import annotations

import inspect
from typing import Any

import torch


def _is_lr_scheduler(obj: Any) -> bool:
    cls = obj if inspect.isclass(obj) else type(obj)
    bases = tuple(
        b
        for b in (
            getattr(torch.optim.lr_scheduler, "LRScheduler", None),
            getattr(torch.optim.lr_scheduler, "_LRScheduler", None),
            getattr(torch.optim.lr_scheduler, "ReduceLROnPlateau", None),
        )
        if b is not None
    )
    return isinstance(cls, type) and issubclass(cls, bases)


def _describe(obj: Any) -> str:
    return obj.__name__ if inspect.isclass(obj) else f"{type(obj).__name__} instance"


def check_callback_entry(entry: Any) -> tuple[str, Any, bool]:
    """Return ``(name, callback, name_was_given)`` for one entry of ``callbacks``.

    Raises
    ------
    TypeError
        If the entry is not a callback, a callback class, or a ``(name, callback)``
        pair. A torch LR scheduler gets a message showing the ``LRScheduler``
        callback to use instead.
    """
    from sktorch.callbacks.base import Callback

    explicit = isinstance(entry, tuple)
    if explicit:
        if len(entry) != 2 or not isinstance(entry[0], str):
            raise TypeError(
                f"A callbacks entry given as a tuple must be (name, callback); got {entry!r}."
            )
        name, callback = entry
    else:
        callback = entry
        name = None
    if inspect.isclass(callback) and issubclass(callback, Callback):
        callback = callback()
    if not isinstance(callback, Callback):
        if _is_lr_scheduler(callback):
            policy = callback if inspect.isclass(callback) else type(callback)
            raise TypeError(
                f"callbacks got the torch LR scheduler {_describe(callback)}, which is not a "
                "callback. Wrap it in sktorch's LRScheduler callback instead, e.g. "
                f"callbacks=[LRScheduler(policy=torch.optim.lr_scheduler.{policy.__name__}, "
                "...)] with the scheduler's arguments as keywords."
            )
        raise TypeError(
            f"callbacks got {_describe(callback)} ({callback!r}), which is not a callback. "
            "Each entry must be a sktorch.callbacks.Callback instance or a "
            "(name, callback) pair."
        )
    if name is None:
        name = type(callback).__name__
    return name, callback, explicit
