"""The callback base class and the list that dispatches hooks to callbacks.

A callback observes or steers training through hooks. Hooks that no callback
overrides are never called, so an absent feature costs nothing per batch.
"""

from __future__ import annotations

import difflib
import inspect
from collections.abc import Iterable, Sequence
from typing import Any

from sklearn.base import BaseEstimator

__all__ = ["Callback", "CallbackList", "HOOKS"]

HOOKS = (
    "on_train_begin",
    "on_train_end",
    "on_epoch_begin",
    "on_epoch_end",
    "on_batch_begin",
    "on_batch_end",
    "on_grad_computed",
)


class Callback(BaseEstimator):
    """Base class of all callbacks.

    Subclasses override any of the hooks; each hook receives the net and keyword
    arguments and must accept ``**kwargs``. :meth:`initialize` is called at the
    start of every fit and resets the callback's state, so one instance serves many
    fits. Parameters are exposed through ``get_params``/``set_params`` (scikit-learn's
    convention), so ``clone`` copies a callback and ``GridSearchCV`` can search them
    as ``callbacks__<name>__<param>``.

    To stop training, call ``net.request_stop(reason)`` in a hook.

    Examples
    --------
    >>> class CountEpochs(Callback):
    ...     def initialize(self):
    ...         self.n_epochs_ = 0
    ...         return self
    ...     def on_epoch_end(self, net, **kwargs):
    ...         self.n_epochs_ += 1
    >>> CountEpochs().initialize().n_epochs_
    0
    """

    def initialize(self) -> Callback:
        """Reset state at the start of a fit; return ``self``."""
        return self

    def on_train_begin(self, net, X=None, y=None, **kwargs) -> None:
        """Called once before the first epoch."""

    def on_train_end(self, net, X=None, y=None, **kwargs) -> None:
        """Called once after training, also when training stopped early or raised."""

    def on_epoch_begin(self, net, dataset_train=None, dataset_valid=None, **kwargs) -> None:
        """Called at the start of each epoch."""

    def on_epoch_end(self, net, dataset_train=None, dataset_valid=None, **kwargs) -> None:
        """Called at the end of each epoch, after the validation pass."""

    def on_batch_begin(self, net, batch=None, training=None, **kwargs) -> None:
        """Called before each training or validation batch."""

    def on_batch_end(self, net, batch=None, training=None, **kwargs) -> None:
        """Called after each batch with ``loss`` and ``y_pred`` in ``kwargs``."""

    def on_grad_computed(self, net, named_parameters, X=None, y=None, training=None, **kwargs):
        """Called after the backward pass, before the optimizer step.

        ``named_parameters`` yields ``(name, parameter)`` of every learnable
        parameter of the net (``net.get_all_learnable_params()``); ``batch`` in
        ``kwargs`` is the training batch, whose ``X`` and ``y`` are also passed.
        """

    def get_params(self, deep: bool = True) -> dict:
        # Only constructor parameters: fitted state (ending in ``_``) never leaks.
        return BaseEstimator.get_params(self, deep=False)

    def set_params(self, **params) -> Callback:
        valid = set(self._get_param_names())
        for key, value in params.items():
            if key not in valid:
                close = difflib.get_close_matches(key, sorted(valid), n=1, cutoff=0.6)
                hint = f" Did you mean {close[0]!r}?" if close else ""
                raise ValueError(
                    f"{type(self).__name__} has no parameter {key!r}; "
                    f"its parameters are {sorted(valid)}.{hint}"
                )
            setattr(self, key, value)
        return self


def _overrides(callback: Any, hook: str) -> bool:
    impl = getattr(type(callback), hook, None)
    return impl is not None and impl is not getattr(Callback, hook)


def _auto_name(callback: Any) -> str:
    return type(callback).__name__ if not inspect.isclass(callback) else callback.__name__


class CallbackList:
    """Named callbacks and, per hook, the callbacks that implement it.

    Parameters
    ----------
    named_callbacks : sequence of (str, Callback)
        The callbacks in the order their hooks run.
    """

    def __init__(self, named_callbacks: Sequence[tuple[str, Any]]):
        self.named = list(named_callbacks)
        self.by_hook = {
            hook: [cb for _, cb in self.named if _overrides(cb, hook)] for hook in HOOKS
        }

    def has(self, hook: str) -> bool:
        """Whether any callback implements ``hook``."""
        return bool(self.by_hook[hook])

    def notify(self, hook: str, net, **kwargs) -> None:
        """Call ``hook`` on every callback that implements it."""
        for callback in self.by_hook[hook]:
            getattr(callback, hook)(net, **kwargs)

    def __iter__(self):
        return iter(self.named)


def name_callbacks(defaults: Iterable, user: Any) -> list[tuple[str, Any]]:
    """Resolve default and user callbacks into unique ``(name, callback)`` pairs.

    An unnamed callback is named for its class; when several share that name, as in
    skorch, each gets a suffix counted from 1 (``EpochScoring_1``,
    ``EpochScoring_2``), so ``callbacks__EpochScoring_1__*`` configures the first.
    User-given names must be unique. A user callback whose name matches a default
    replaces it; ``(name, None)`` removes it. A callback class stays a class here:
    it is instantiated when the net configures its callbacks.
    """
    from sktorch.callbacks._checks import check_callback_entry

    entries = []  # (name, callback, named by the user)
    for entry in user or []:
        if _is_named_class_or_none(entry):
            entries.append((*entry, True) if isinstance(entry, tuple) else (
                entry.__name__, entry, False))
        else:
            entries.append(check_callback_entry(entry))
    explicit = [name for name, _, named in entries if named]
    for name, callback, named in entries:
        if explicit.count(name) > int(named):  # twice named, or named like an unnamed one
            also = "" if named else (f" (an unnamed {_auto_name(callback)} is named for its "
                                     "class)")
            raise ValueError(
                f"Found duplicate callback name {name!r}{also}; give each callback a "
                "unique name, e.g. callbacks=[('name_a', cb_a), ('name_b', cb_b)]."
            )
    named: dict[str, Any] = dict(defaults)
    for name, callback in _number_repeated(entries, set(explicit) | set(named)):
        named[name] = callback
    return [(n, cb) for n, cb in named.items() if cb is not None]


def _number_repeated(entries: list, taken: set[str]) -> list[tuple[str, Any]]:
    """Name entries; automatic names that repeat become ``{name}_1``, ``{name}_2``, ..."""
    auto = [name for name, _, named in entries if not named]
    seen: dict[str, int] = {}
    out = []
    for name, callback, named in entries:
        if not named and auto.count(name) > 1:
            seen[name] = seen.get(name, 0) + 1
            new = f"{name}_{seen[name]}"
            if new in taken or new in auto:
                raise ValueError(
                    f"Cannot name the unnamed {name} callbacks {name}_1, {name}_2, ...: "
                    f"{new!r} is the name of another callback. Name them yourself, e.g. "
                    f"callbacks=[('{name.lower()}_a', cb_a), ('{name.lower()}_b', cb_b)]."
                )
            name = new
        out.append((name, callback))
    return out


def _is_named_class_or_none(entry: Any) -> bool:
    """A callback class, a ``(name, class)`` pair, or ``(name, None)``."""
    if isinstance(entry, tuple) and len(entry) == 2 and isinstance(entry[0], str):
        entry = entry[1]
        if entry is None:
            return True
    return inspect.isclass(entry) and issubclass(entry, Callback)
