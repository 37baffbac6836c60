"""A fit's shuffling generator, continued across fits (budget-aware halving).

A fit draws a seed from ``random_state`` and shuffles every epoch from a
``torch.Generator`` seeded with it. To continue a net trained for 10 epochs so
that 20 more give the model a 30-epoch fit gives, the 11th epoch must shuffle
from the generator where the 10th left it. Inside :func:`continuing`, the next
fit on this thread takes its shuffling generator from the slot (when one is
given) and leaves the generator it used there, so the caller can save its state.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator

import torch

__all__ = ["Slot", "continuing", "shuffle_generator"]

_local = threading.local()


class Slot:
    """The shuffling generator handed to, then taken from, a fit."""

    def __init__(self, generator: torch.Generator | None = None):
        self.generator = generator


@contextlib.contextmanager
def continuing(generator: torch.Generator | None = None) -> Iterator[Slot]:
    """Fits in the block shuffle from ``generator`` (None: their own); the slot keeps it."""
    previous = getattr(_local, "slot", None)
    _local.slot = slot = Slot(generator)
    try:
        yield slot
    finally:
        _local.slot = previous


def shuffle_generator(seed: int | None) -> torch.Generator | None:
    """The generator a fit shuffles from: the slot's, else one seeded with ``seed``."""
    slot = getattr(_local, "slot", None)
    if slot is not None and slot.generator is not None:
        return slot.generator
    generator = None if seed is None else torch.Generator().manual_seed(seed)
    if slot is not None:
        slot.generator = generator
    return generator
