"""Callbacks: hooks into training (logging, scoring, early stopping, checkpoints, ...)."""

from sktorch.callbacks.base import Callback
from sktorch.callbacks.logging import EpochTimer, PrintLog
from sktorch.callbacks.scoring import BatchScoring, EpochScoring, PassthroughScoring

__all__ = [
    "Callback",
    "EpochTimer",
    "PrintLog",
    "EpochScoring",
    "BatchScoring",
    "PassthroughScoring",
]
