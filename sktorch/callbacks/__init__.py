"""Callbacks: hooks into training (logging, scoring, early stopping, checkpoints, ...)."""

from sktorch.callbacks.base import Callback
from sktorch.callbacks.checkpoint import Checkpoint, LoadInitState, TrainEndCheckpoint
from sktorch.callbacks.hosted_tracking import NeptuneLogger, SacredLogger, WandbLogger
from sktorch.callbacks.logging import EpochTimer, PrintLog
from sktorch.callbacks.lr_scheduler import LRScheduler, WarmRestartLR
from sktorch.callbacks.optuna import OptunaPruning
from sktorch.callbacks.progress import ProgressBar
from sktorch.callbacks.regularization import GradientNormClipping
from sktorch.callbacks.scoring import BatchScoring, EpochScoring, PassthroughScoring
from sktorch.callbacks.tracking import MlflowLogger, TensorBoard
from sktorch.callbacks.training import (
    EarlyStopping,
    Freezer,
    Initializer,
    InputShapeSetter,
    ParamMapper,
    Unfreezer,
)

__all__ = [
    "Callback",
    "EpochTimer",
    "PrintLog",
    "EpochScoring",
    "BatchScoring",
    "PassthroughScoring",
    "EarlyStopping",
    "LRScheduler",
    "WarmRestartLR",
    "Checkpoint",
    "TrainEndCheckpoint",
    "LoadInitState",
    "GradientNormClipping",
    "Freezer",
    "Unfreezer",
    "Initializer",
    "ParamMapper",
    "ProgressBar",
    "InputShapeSetter",
    "TensorBoard",
    "MlflowLogger",
    "WandbLogger",
    "NeptuneLogger",
    "SacredLogger",
    "OptunaPruning",
]
