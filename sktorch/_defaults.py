"""The constructor defaults that the built-in model's recipe may replace.

``lr``, ``max_epochs``, ``batch_size`` and ``optimizer`` default to *markers*:
objects that are skorch's defaults (``0.01``, ``10``, ``128``, ``torch.optim.SGD``)
in every way a program uses them (arithmetic, comparison, ``repr``, an ``int`` or a
subclass of ``SGD``), but whose type says that nobody wrote them. A value written
by the user (constructor, ``set_params``, a search's grid) is a plain number or
class, even when it equals the default, so the recipe can honour it exactly.

A marker survives what scikit-learn does with parameters: ``get_params`` returns it,
``clone`` (a deep copy) and pickling keep it, and ``set_params`` with it (e.g.
``net.set_params(**other.get_params())``) leaves the parameter untouched. Pickles
refer to the classes below by this module's path, which therefore stays put.
"""

from __future__ import annotations

from typing import Any

import torch

__all__ = ["DEFAULT_LR", "DEFAULT_MAX_EPOCHS", "DEFAULT_BATCH_SIZE", "DEFAULT_OPTIMIZER",
           "untouched", "plain"]


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


class DefaultSGD(torch.optim.SGD, metaclass=_StandIn):
    """``torch.optim.SGD`` as the constructor default nobody wrote.

    A subclass that adds nothing: ``== torch.optim.SGD`` and ``issubclass`` hold, and
    nets build the real ``torch.optim.SGD`` from it (see :func:`plain`).
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
