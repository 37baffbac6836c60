"""Exceptions and warnings raised by sktorch.

skorch's names (``SkorchException``, ``SkorchWarning``, ...) are aliases of sktorch's,
so ``except skorch_name`` clauses in migrated code catch sktorch's errors.
"""

from sklearn.exceptions import NotFittedError

__all__ = [
    "SktorchException",
    "CheckpointError",
    "NotInitializedError",
    "DeviceWarning",
    "SktorchWarning",
    "SktorchAttributeError",
    "SktorchTrainingImpossibleError",
    "LowProbabilityError",
    "TrainingDivergedError",
    "VersionMismatchWarning",
    "SkorchException",
    "SkorchWarning",
    "SkorchAttributeError",
    "SkorchTrainingImpossibleError",
]


class SktorchException(Exception):
    """Base class of sktorch's exceptions."""


class NotInitializedError(SktorchException, NotFittedError):
    """The net was used before ``fit``/``initialize``; a scikit-learn ``NotFittedError``."""


class CheckpointError(SktorchException, ValueError):
    """A checkpoint or saved file is damaged, incomplete or not what it should be."""


class SktorchAttributeError(SktorchException, AttributeError):
    """An attribute of a net or callback was set in a way that cannot work."""


class SktorchTrainingImpossibleError(SktorchException):
    """The net cannot be trained in its configuration (e.g. a zero-shot model)."""


class LowProbabilityError(SktorchException):
    """A language-model classifier gave every label a very low probability."""


class TrainingDivergedError(SktorchException, FloatingPointError):
    """The training loss became NaN or infinite."""


class SktorchWarning(UserWarning):
    """Base class of sktorch's warnings."""


class DeviceWarning(SktorchWarning):
    """A saved net referred to a device this machine does not have."""


class VersionMismatchWarning(SktorchWarning):
    """A saved net was written by another sktorch or torch version."""


# skorch's names, for code migrated by changing the import.
SkorchException = SktorchException
SkorchWarning = SktorchWarning
SkorchAttributeError = SktorchAttributeError
SkorchTrainingImpossibleError = SktorchTrainingImpossibleError
