"""Exceptions and warnings raised by sktorch."""

from sklearn.exceptions import NotFittedError

__all__ = [
    "SktorchException",
    "CheckpointError",
    "NotInitializedError",
    "DeviceWarning",
    "SktorchWarning",
    "TrainingDivergedError",
    "VersionMismatchWarning",
]


class SktorchException(Exception):
    """Base class of sktorch's exceptions."""


class NotInitializedError(SktorchException, NotFittedError):
    """The net was used before ``fit``/``initialize``; a scikit-learn ``NotFittedError``."""


class CheckpointError(SktorchException, ValueError):
    """A checkpoint or saved file is damaged, incomplete or not what it should be."""


class TrainingDivergedError(SktorchException, FloatingPointError):
    """The training loss became NaN or infinite."""


class SktorchWarning(UserWarning):
    """Base class of sktorch's warnings."""


class DeviceWarning(SktorchWarning):
    """A saved net referred to a device this machine does not have."""


class VersionMismatchWarning(SktorchWarning):
    """A saved net was written by another sktorch or torch version."""
