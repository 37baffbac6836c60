"""Callbacks that score the model: ``EpochScoring``, ``BatchScoring``, ``PassthroughScoring``."""

from __future__ import annotations

import contextlib
import functools
import inspect
from typing import Callable, Union

import numpy as np
import torch
from sklearn.metrics import check_scoring, get_scorer, make_scorer

from sktorch._predict import detach_output
from sktorch.callbacks.base import Callback

__all__ = ["EpochScoring", "BatchScoring", "PassthroughScoring"]

Scoring = Union[str, Callable, None]


def _is_better(value: float, best: float | None, lower_is_better: bool) -> bool:
    if best is None:
        return True
    return value < best if lower_is_better else value > best


def _default_name(scoring: Scoring) -> str:
    """The history key of an unnamed scoring callback, as skorch names it.

    A string names itself; a scorer from ``make_scorer`` and a ``functools.partial``
    are named for the function they wrap (``accuracy_score``), so two of them keep
    two keys; any other callable for its ``__name__``.
    """
    if scoring is None:
        return "score"
    if isinstance(scoring, str):
        return scoring
    score_func = getattr(scoring, "_score_func", None)  # a scorer from make_scorer
    if callable(score_func):
        return _default_name(score_func)
    if isinstance(scoring, functools.partial):
        return _default_name(scoring.func)
    return getattr(scoring, "__name__", type(scoring).__name__)


# The second parameter of a metric function -> the predictions make_scorer passes it.
_METRIC_RESPONSE = {
    "y_pred": "predict",
    "y_score": ("decision_function", "predict_proba"),
    "y_proba": "predict_proba",
    "y_prob": "predict_proba",
    "probas_pred": "predict_proba",
}


def _metric_response(scoring: Callable) -> str | tuple | None:
    """What to predict for a metric function ``f(y_true, y_pred)``; None for a scorer.

    A scorer's parameters are ``(estimator, X, y_true)``: it is used as it is.
    """
    try:
        params = list(inspect.signature(scoring).parameters)
    except (TypeError, ValueError):  # a builtin or an object without a signature
        return None
    if len(params) < 2 or params[0] != "y_true":
        return None
    return _METRIC_RESPONSE.get(params[1])


def _scorer(net, scoring: Scoring) -> Callable:
    if scoring is None:
        return check_scoring(net)
    if scoring == "accuracy":
        return _accuracy
    if isinstance(scoring, str):
        return get_scorer(scoring)
    response = _metric_response(scoring)
    if response is not None:  # e.g. f1_score: scikit-learn's scorer of that metric
        return make_scorer(scoring, response_method=response)
    return scoring


def _accuracy(net, X, y) -> float:
    """``get_scorer('accuracy')`` for 1-D labels, without its input checks.

    The classifiers' default ``valid_acc`` runs every epoch; scikit-learn's checks of
    the two label arrays cost more than a small model's epoch, and both arrays come
    from the net here. The score is the same: the fraction of equal labels.
    """
    y = np.asarray(y)
    if y.ndim != 1:  # multilabel and the like: scikit-learn's own rules
        return get_scorer("accuracy")(net, X, y)
    y_pred = np.asarray(net.predict(X))
    if y_pred.shape != y.shape:
        raise ValueError(f"accuracy needs one predicted label per sample: got predictions "
                         f"of shape {y_pred.shape} for {y.shape[0]} samples.")
    return float(np.mean(y_pred == y))


class _RecordsBest(Callback):
    """Shared part of the scoring callbacks: record a value and whether it is the best."""

    def initialize(self):
        self.best_score_ = None
        return self

    def _record(self, net, value: float) -> None:
        if self.lower_is_better is None:  # neither direction is better: no ``_best`` key
            net.history.record(self.name_, value)
            return
        if self.best_score_ is None and len(net.history) > 1:
            # A history loaded at train begin (LoadInitState): continue its record of bests.
            for previous in net.history[:-1]:
                old = previous.get(self.name_)
                if isinstance(old, (int, float)) and _is_better(
                        old, self.best_score_, self.lower_is_better):
                    self.best_score_ = old
        is_best = _is_better(value, self.best_score_, self.lower_is_better)
        if is_best:
            self.best_score_ = value
        net.history.record(self.name_, value)
        net.history.record(f"{self.name_}_best", bool(is_best))

    def _record_epoch_mean(self, net, batch_key: str, by_weight: bool = False) -> None:
        """Record the mean of ``batch_key`` over this epoch's batches.

        Batches count by their size or, with ``by_weight`` and in a weighted fit, by
        their total sample weight (``train_batch_weight``); a part whose weights
        are all zero falls back to sizes.
        """
        prefix = "train" if self.on_train else "valid"
        size_key, weight_key = f"{prefix}_batch_size", f"{prefix}_batch_weight"
        rows = [row for row in net.history[-1]["batches"] if batch_key in row]
        if by_weight and rows and all(weight_key in row for row in rows):
            weight = sum(row[weight_key] for row in rows)
            if weight > 0:
                self._record(net, sum(row[batch_key] * row[weight_key] for row in rows)
                             / weight)
                return
        count = sum(row.get(size_key, 1) for row in rows)
        if count:
            self._record(net, sum(row[batch_key] * row.get(size_key, 1) for row in rows)
                         / count)


class PassthroughScoring(_RecordsBest):
    """Record the epoch mean of a value written per batch (e.g. ``'valid_loss'``).

    The mean is weighted by batch size, so it equals the loss over the whole set.
    In a fit with ``sample_weight`` (or ``class_weight``) each batch's loss is the
    weighted mean over that batch, and batches count by their total sample weight
    (the ``train_batch_weight``/``valid_batch_weight`` of their rows) instead: the
    epoch's loss is ``sum(w * loss) / sum(w)`` over the whole set, for any batch
    size. A value of your own written per batch is averaged the same way.

    Parameters
    ----------
    name : str
        The batch key to average, also the epoch key written.
    lower_is_better : bool, default=True
    on_train : bool, default=False
        Average training batches (``True``) or validation batches.

    Examples
    --------
    >>> from sktorch.callbacks import PassthroughScoring
    >>> PassthroughScoring('valid_loss').name
    'valid_loss'
    """

    def __init__(self, name: str, lower_is_better: bool = True, on_train: bool = False):
        self.name = name
        self.lower_is_better = lower_is_better
        self.on_train = on_train

    def initialize(self):
        super().initialize()
        self.name_ = self.name
        return self

    def on_epoch_end(self, net, **kwargs) -> None:
        self._record_epoch_mean(net, self.name, by_weight=True)


class EpochScoring(_RecordsBest):
    """Score the model at the end of each epoch with a scikit-learn scorer.

    The scorer is called as ``scorer(net, X, y)``, without the fit's sample
    weights: in a weighted fit the score is still the unweighted one (the
    recorded ``train_loss``/``valid_loss`` are the weighted ones).

    Parameters
    ----------
    scoring : str, callable or None
        A scorer name (``'accuracy'``, ``'roc_auc'``, ``'neg_mean_squared_error'``,
        ...), a callable ``scoring(net, X, y)``, a metric function
        ``f(y_true, y_pred)`` such as ``sklearn.metrics.f1_score`` (made a scorer
        with ``make_scorer``; a second parameter named ``y_score`` or ``y_proba``
        gets the predicted probabilities), or ``None`` for the net's ``score``.
    lower_is_better : bool or None, default=True
        Whether a lower score is better; ``None`` records the score without a
        ``<name>_best`` key.
    on_train : bool, default=False
        Score the training data instead of the validation data.
    name : str, optional
        The history key. By default: ``scoring`` itself for a string, ``'score'``
        for ``None``, and the function's name for a callable (for a
        ``make_scorer`` scorer or a ``functools.partial``: the wrapped function's
        name, e.g. ``'f1_score'``).
    target_extractor : callable, default=np.asarray
        Turns the dataset's targets into what the scorer expects.
    use_caching : bool, default=True
        Reuse the predictions made during the epoch instead of predicting again.
        The net's ``use_caching`` (``True``/``False``) overrides it.

    Examples
    --------
    >>> from sktorch.callbacks import EpochScoring
    >>> EpochScoring('accuracy', lower_is_better=False).initialize().name_
    'accuracy'
    """

    def __init__(
        self,
        scoring: Scoring,
        lower_is_better: bool = True,
        on_train: bool = False,
        name: str | None = None,
        target_extractor: Callable = np.asarray,
        use_caching: bool = True,
    ):
        self.scoring = scoring
        self.lower_is_better = lower_is_better
        self.on_train = on_train
        self.name = name
        self.target_extractor = target_extractor
        self.use_caching = use_caching

    def initialize(self):
        super().initialize()
        self.name_ = self.name or _default_name(self.scoring)
        self.y_preds_: list = []
        self.y_trues_: list = []
        return self

    def on_batch_end(self, net, batch=None, training=None, y_pred=None, **kwargs) -> None:
        if self.use_caching and training == self.on_train and y_pred is not None:
            self.y_preds_.append(detach_output(y_pred))
            if self.on_train:  # training batches are shuffled: keep their targets in order
                self.y_trues_.append(batch[1])

    def on_epoch_begin(self, net, **kwargs) -> None:
        self.y_preds_, self.y_trues_ = [], []

    def on_epoch_end(self, net, dataset_train=None, dataset_valid=None, **kwargs) -> None:
        dataset = dataset_train if self.on_train else dataset_valid
        if dataset is None:
            return
        X, y = net.scoring_data(dataset)
        if self.use_caching and self.on_train and self.y_trues_:
            y = net.decode_y(torch.cat(self.y_trues_))
        cache = net.cached_forward(self.y_preds_) if self.use_caching else None
        with cache or contextlib.nullcontext():
            value = _scorer(net, self.scoring)(net, X, self.target_extractor(y))
        self.y_preds_, self.y_trues_ = [], []
        self._record(net, float(value))


class BatchScoring(_RecordsBest):
    """Score each batch with a scorer; record the epoch's size-weighted mean.

    Like :class:`EpochScoring`'s, the scorer gets no sample weights, so in a fit
    with ``sample_weight`` too the epoch's value is the batch-size weighted mean
    of the per-batch scores (for a mean-type score such as accuracy: its
    unweighted value over the whole set), not a weighted score.

    Parameters
    ----------
    scoring : str or callable
        As for :class:`EpochScoring` (also a metric function such as
        ``accuracy_score``, and the same default names).
    lower_is_better : bool or None, default=True
        ``None`` records the score without a ``<name>_best`` key.
    on_train : bool, default=False
    name : str, optional
    target_extractor : callable, default=np.asarray
    use_caching : bool, default=True
        Score the predictions the batch's step made; ``False`` predicts the batch
        again (one more forward pass per batch, in evaluation mode). The net's
        ``use_caching`` (``True``/``False``) overrides it.

    Examples
    --------
    >>> from sktorch.callbacks import BatchScoring
    >>> BatchScoring('accuracy', lower_is_better=False).initialize().name_
    'accuracy'
    """

    def __init__(
        self,
        scoring: Scoring,
        lower_is_better: bool = True,
        on_train: bool = False,
        name: str | None = None,
        target_extractor: Callable = np.asarray,
        use_caching: bool = True,
    ):
        self.scoring = scoring
        self.lower_is_better = lower_is_better
        self.on_train = on_train
        self.name = name
        self.target_extractor = target_extractor
        self.use_caching = use_caching

    def initialize(self):
        super().initialize()
        self.name_ = self.name or _default_name(self.scoring)
        return self

    def on_batch_end(self, net, batch=None, training=None, y_pred=None, **kwargs) -> None:
        if training != self.on_train:
            return
        Xb, yb = batch[0], batch[1]
        y_true = self.target_extractor(net.decode_y(yb))
        if self.use_caching:
            with net.cached_forward([detach_output(y_pred)]):
                value = _scorer(net, self.scoring)(net, Xb, y_true)
        else:
            value = _scorer(net, self.scoring)(net, Xb, y_true)
            net._set_training(training)  # predicting put the modules in eval mode
        net.history.record_batch(self.name_, float(value))

    def on_epoch_end(self, net, **kwargs) -> None:
        self._record_epoch_mean(net, self.name_)

