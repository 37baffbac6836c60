"""The constructor defaults that the built-in model's recipe may replace.

``lr``, ``max_epochs``, ``batch_size`` and ``optimizer`` default to *markers*:
objects that are skorch's defaults (``0.01``, ``10``, ``128``, ``torch.optim.SGD``)
in every way a program uses them (arithmetic, comparison, ``repr``, an ``int`` or a
subclass of ``SGD``), but whose type says that nobody wrote them. A value written
by the user (constructor, ``set_params``, a search's grid) is a plain number or
class, even when it equals the default, so the recipe can honour it exactly.

A marker survives what scikit-learn does with parameters: ``get_params`` returns it,
``clone`` (a deep copy) keeps it, and ``set_params`` with it (e.g.
``net.set_params(**other.get_params())``) leaves the parameter untouched, and pickling
keeps it (pickles refer to the classes below by this module's path, which therefore
stays put). A pickled net also records which of its parameters were untouched
(:func:`untouched_names`), so a net pickled before the markers existed is told apart
(:func:`restore_untouched`). No marker may reach torch: ``torch.load(weights_only=True)``
refuses them in a saved optimizer state, so calling the class marker builds a plain
``torch.optim.SGD`` from plain numbers, and nets turn the hyperparameters of every
optimizer they build into plain numbers (:func:`plain_param_groups`).
"""

from __future__ import annotations

from typing import Any

import torch

__all__ = ["DEFAULT_LR", "DEFAULT_MAX_EPOCHS", "DEFAULT_BATCH_SIZE", "DEFAULT_OPTIMIZER",
           "untouched", "plain", "untouched_names", "restore_untouched", "plain_param_groups"]


class _Marker:
    """Mixin of the number markers: immutable, copied as themselves."""

    __slots__ = ()

    def __copy__(self) -> Any:
        return self

    def __deepcopy__(self, memo: dict) -> Any:
        return self

    def __reduce__(self) -> tuple:
        return type(self), (self._plain(),)

    def _plain(self) -> Any:
        raise NotImplementedError


class DefaultFloat(_Marker, float):
    """A float constructor default nobody wrote (behaves as the float)."""

    __slots__ = ()

    def _plain(self) -> float:
        return float(self)


class DefaultInt(_Marker, int):
    """An int constructor default nobody wrote (behaves as the int)."""

    __slots__ = ()

    def _plain(self) -> int:
        return int(self)


class _StandIn(type):
    """Metaclass of a class marker: equal to, hashed and shown as the class it stands for."""

    def __eq__(cls, other: Any) -> bool:
        return other is cls or other is cls.__mro__[1]

    def __ne__(cls, other: Any) -> bool:
        return not (other is cls or other is cls.__mro__[1])

    def __hash__(cls) -> int:
        return hash(cls.__mro__[1])

    def __repr__(cls) -> str:
        return repr(cls.__mro__[1])

    def __instancecheck__(cls, obj: Any) -> bool:
        return isinstance(obj, cls.__mro__[1])

    def __subclasscheck__(cls, sub: type) -> bool:
        return issubclass(sub, cls.__mro__[1])

    def __call__(cls, *args: Any, **kwargs: Any) -> Any:
        """Build the class stood for, from plain values (no marker reaches torch)."""
        args = tuple(plain(a) for a in args)
        return cls.__mro__[1](*args, **{k: plain(v) for k, v in kwargs.items()})


class DefaultSGD(torch.optim.SGD, metaclass=_StandIn):
    """``torch.optim.SGD`` as the constructor default nobody wrote.

    A subclass that adds nothing: ``== torch.optim.SGD``, ``issubclass`` and
    ``isinstance(optimizer_, net.optimizer)`` hold, and calling it (as a subclass's
    ``initialize_optimizer`` may) builds the real ``torch.optim.SGD``.
    """


DEFAULT_LR = DefaultFloat(0.01)
DEFAULT_MAX_EPOCHS = DefaultInt(10)
DEFAULT_BATCH_SIZE = DefaultInt(128)
DEFAULT_OPTIMIZER = DefaultSGD


def untouched(value: Any) -> bool:
    """Whether ``value`` is a constructor default that nobody wrote."""
    return isinstance(value, _Marker) or value is DefaultSGD


def plain(value: Any) -> Any:
    """The plain value a marker stands for (a float, an int, ``torch.optim.SGD``); others as is."""
    if isinstance(value, _Marker):
        return value._plain()
    if value is DefaultSGD:
        return torch.optim.SGD
    return value


_MARKERS = {"lr": DEFAULT_LR, "max_epochs": DEFAULT_MAX_EPOCHS,
            "batch_size": DEFAULT_BATCH_SIZE, "optimizer": DEFAULT_OPTIMIZER}


def untouched_names(state: dict) -> list[str]:
    """Names of the parameters in a net's ``__dict__`` that hold a marker (for pickling)."""
    return sorted(name for name in _MARKERS if name in state and untouched(state[name]))


def restore_untouched(state: dict, names: list[str] | None) -> None:
    """Put the markers back into an unpickled net's ``state`` (in place).

    ``names`` is what :func:`untouched_names` recorded; ``None`` means a pickle from before
    the markers existed, when a value *equal* to skorch's default counted as untouched, so
    those values become markers again and such a net keeps training as it did.
    """
    for name, marker in _MARKERS.items():
        if name not in state:
            continue
        if names is None:
            value = state[name]
            same = value is plain(marker) if name == "optimizer" else (
                type(value) is type(plain(marker)) and value == marker)
            if same:
                state[name] = marker
        elif name in names and state[name] == plain(marker):
            state[name] = marker


def plain_param_groups(optimizer: torch.optim.Optimizer) -> None:
    """Replace markers in ``optimizer``'s hyperparameters by plain numbers (in place).

    A subclass's ``initialize_optimizer`` may pass ``lr=self.lr`` with ``lr`` untouched.
    """
    for group in optimizer.param_groups:
        for key, value in group.items():
            if isinstance(value, _Marker):
                group[key] = value._plain()
