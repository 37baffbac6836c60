"""The built-in model's training recipe: what replaces the defaults nobody wrote.

Each rule applies to a net with ``module=None`` whose parameter still holds its
untouched constructor default (a marker, :mod:`sktorch._defaults`); a value the
user wrote, even one equal to skorch's default, is used exactly as written. A
user's own module always trains with skorch's defaults (the markers' values).
"""

from __future__ import annotations

import math
from typing import Any

import torch

from sktorch import _params
from sktorch._builtin.statistics import fit_statistics
from sktorch._defaults import plain, untouched
from sktorch.callbacks import EarlyStopping
from sktorch.callbacks.training import read_monitor

__all__ = [
    "uses_recipe",
    "uses_recipe_optimizer",
    "recipe_optimizer_kwargs",
    "optimizer_and_lr",
    "max_epochs",
    "stops_on_plateau",
    "batch_size",
    "recipe_callbacks",
    "plateau_stop_changed",
    "setup_training",
    "PlateauStop",
]

LR = 3e-3
LR_ONE_BATCH = 1e-2  # when the training rows fit in one batch: one step per epoch
WEIGHT_DECAY = 3e-3  # Adam's (L2) weight decay
MAX_EPOCHS = 200
PATIENCE = 10
TOL = 1e-4
MAX_BATCH_SIZE = 200
PLATEAU_NAME = "stop_on_plateau"
_foreach_copy = getattr(torch, "_foreach_copy_", None)  # torch >= 2.1


def uses_recipe(net: Any) -> bool:
    """Whether ``net`` trains the built-in model (``module=None``)."""
    return net.module is None


def uses_recipe_optimizer(net: Any) -> bool:
    """Whether the fit builds the recipe's Adam.

    Only when ``optimizer`` and ``lr`` are both untouched and no ``optimizer__*``
    is given: a written optimizer (``SGD`` included) or learning rate means the
    optimizer as written (with ``lr``'s value, ``0.01`` when untouched).
    """
    return (uses_recipe(net) and untouched(net.optimizer) and untouched(net.lr)
            and not _params.params_for("optimizer", net._kwargs))


def recipe_optimizer_kwargs(net: Any) -> dict[str, float]:
    """The arguments of the recipe's Adam (its learning rate: see :func:`setup_training`)."""
    return {"lr": vars(net).get("_recipe_lr", LR), "weight_decay": WEIGHT_DECAY}


def optimizer_and_lr(net: Any) -> tuple[Any, float]:
    """The optimizer class and learning rate this fit uses (plain values)."""
    if uses_recipe_optimizer(net):
        return torch.optim.Adam, recipe_optimizer_kwargs(net)["lr"]
    return plain(net.optimizer), plain(net.lr)


def stops_on_plateau(net: Any) -> bool:
    """Whether the epoch budget is the built-in model's (with the plateau stop)."""
    return uses_recipe(net) and untouched(net.max_epochs)


def max_epochs(net: Any) -> int:
    """The number of epochs a fit (or ``partial_fit``) runs at most."""
    return MAX_EPOCHS if stops_on_plateau(net) else plain(net.max_epochs)


def batch_size(net: Any, dataset: Any) -> int:
    """The training batch size for the rows of ``dataset``."""
    if uses_recipe(net) and untouched(net.batch_size):
        n_samples = len(dataset) if hasattr(dataset, "__len__") else MAX_BATCH_SIZE
        return max(1, min(MAX_BATCH_SIZE, n_samples))
    return plain(net.batch_size)


class PlateauStop(EarlyStopping):
    """Stop when the loss stops improving, and keep the best epoch's weights.

    The built-in model's default callback ``stop_on_plateau`` (see the built-in
    model's rules in :class:`~sktorch.NeuralNet`): training stops when the
    monitored loss has not improved by ``threshold`` for ``patience`` epochs in a
    row, counted as scikit-learn's MLP counts (``n_iter_no_change``, ``tol``): an
    epoch counts when it does not beat the lowest loss so far by ``threshold``, so a
    loss that creeps down by less than that per epoch ends training (
    :class:`~sktorch.callbacks.EarlyStopping` counts from the last epoch that beat
    the best by ``threshold``, and trains on while small gains add up). The weights
    of the best epoch (the last that beat the best by ``threshold``, as
    ``EarlyStopping`` keeps them) are restored. ``monitor='auto'`` watches
    ``valid_loss`` when the fit has a validation split, else ``train_loss``. (The
    built-in regressor's losses are in standardized target units, so the threshold
    does not depend on the targets' units.) It starts afresh at each fit and
    ``partial_fit``.

    Parameters
    ----------
    monitor : str, default='auto'
    patience : int, default=10
    threshold : float, default=1e-4
    threshold_mode : {'abs', 'rel'}, default='abs'
    lower_is_better : bool, default=True
    sink : callable, default=print
    load_best : bool, default=True
    """

    def __init__(self, monitor: str = "auto", patience: int = PATIENCE,
                 threshold: float = TOL, threshold_mode: str = "abs",
                 lower_is_better: bool = True, sink: Any = print, load_best: bool = True):
        super().__init__(monitor=monitor, patience=patience, threshold=threshold,
                         threshold_mode=threshold_mode, lower_is_better=lower_is_better,
                         sink=sink, load_best=load_best)

    def on_train_begin(self, net: Any, **kwargs: Any) -> None:
        self.initialize()
        self._lowest_: float | None = None  # the best score so far, however small the gain
        self._tensors_: tuple | None = None  # (module, its state's tensors), see _save_best
        self.active_ = stops_on_plateau(net)
        self.monitor_ = self.monitor
        if self.monitor == "auto":
            self.monitor_ = "train_loss" if net.train_split is None else "valid_loss"

    def _save_best(self, net: Any) -> None:
        # Most epochs of a small fit improve: copy into the previous copy's tensors
        # instead of building a state dict and new tensors each time.
        tensors = self._tensors_
        if tensors is None or tensors[0] is not net.module_:
            state = net.module_.state_dict(keep_vars=True)
            tensors = self._tensors_ = (net.module_, list(state.items()))
            self.best_model_weights_ = None
        if self.best_model_weights_ is None:
            self.best_model_weights_ = {k: v.detach().clone() for k, v in tensors[1]}
            return
        best = self.best_model_weights_
        with torch.no_grad():
            if _foreach_copy is not None:  # one call for all tensors
                _foreach_copy([best[key] for key, _ in tensors[1]],
                              [value for _, value in tensors[1]])
                return
            for key, value in tensors[1]:
                best[key].copy_(value)

    def on_train_end(self, net: Any, **kwargs: Any) -> None:
        super().on_train_end(net, **kwargs)
        self._tensors_ = None  # no references to the module beyond the fit

    def on_epoch_end(self, net: Any, **kwargs: Any) -> None:
        if not self.active_:  # after set_params(max_epochs=...): exactly that many epochs
            return
        score = float(read_monitor(net, self.monitor_, "EarlyStopping"))
        if self._improved(score):  # the best epoch: its weights are restored at the end
            self.best_score_ = score
            self.best_epoch_ = net.history[-1].get("epoch", len(net.history))
            if self.load_best:
                self._save_best(net)
        # scikit-learn's count: epochs in a row that do not beat the lowest score so far
        # by threshold (the lowest so far moves with every gain, however small)
        lowest = self._lowest_
        self.misses_ = 0 if self._beats(score, lowest) else self.misses_ + 1
        if not math.isnan(score) and (lowest is None or self._beats(score, lowest, 0.0)):
            self._lowest_ = score
        if self.misses_ >= self.patience:
            monitor, self.monitor = self.monitor, self.monitor_
            try:
                self._stop(net, by=f" by {self.threshold:g}"
                           + (" (relative)" if self.threshold_mode == "rel" else ""))
            finally:
                self.monitor = monitor

    def _beats(self, score: float, reference: float | None,
               threshold: float | None = None) -> bool:
        if reference is None:
            return not math.isnan(score)
        threshold = self.threshold if threshold is None else threshold
        margin = threshold * abs(reference) if self.threshold_mode == "rel" else threshold
        return score < reference - margin if self.lower_is_better else score > reference + margin


def recipe_callbacks(net: Any) -> list[tuple[str, Any]]:
    """The recipe's default callbacks: ``stop_on_plateau`` with the recipe's budget."""
    return [(PLATEAU_NAME, PlateauStop())] if stops_on_plateau(net) else []


def plateau_stop_changed(net: Any) -> bool:
    """Whether the plateau callback must come or go (``max_epochs`` changed)."""
    present = any(name == PLATEAU_NAME for name, _ in getattr(net, "callbacks_", None) or ())
    return present != stops_on_plateau(net)


def setup_training(net: Any, dataset_train: Any, built: bool, epochs: int | None = None) -> int:
    """The set-up between the validation split and the first epoch; the epochs to run.

    Shared by the sequential fit (``NeuralNet.fit_loop``) and the fused search
    engine (``_fused/_prepare.py``), so that a fused member is set up exactly as its
    sequential fit. A freshly ``built`` built-in module learns its standardization
    statistics from the training rows (a continued fit keeps those its weights were
    trained with). The recipe's Adam gets its learning rate at every fit and
    ``partial_fit``, from this call's training rows: ``LR_ONE_BATCH`` when they fit
    in one batch (one step per epoch: small data), else ``LR`` (so a ``warm_start``
    net refitted on more rows takes smaller steps). The epoch budget is the recipe's
    when it applies (the recipe's optimizer and batch size are chosen in
    ``initialize_optimizer`` and ``get_iterator``, which both call).
    """
    if built and uses_recipe(net):
        fit_statistics(net, dataset_train)
    if uses_recipe_optimizer(net) and getattr(net, "optimizer_", None) is not None:
        n_rows = len(dataset_train) if hasattr(dataset_train, "__len__") else None
        size = batch_size(net, dataset_train)
        one_batch = n_rows is not None and (size == -1 or size >= n_rows)
        net._recipe_lr = LR_ONE_BATCH if one_batch else LR
        for group in net.optimizer_.param_groups:
            group["lr"] = net._recipe_lr
    return max_epochs(net) if epochs is None else epochs
