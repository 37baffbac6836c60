"""A fit's data, validated before the net changes any state.

A fit that rejects its input must leave an already fitted net exactly as it was.
So ``fit`` and ``partial_fit`` validate X, y, ``sample_weight``, ``classes`` and the
validation split on a *probe*: a shallow stand-in of the net that shares its
parameters and holds the attributes the validation learns (``n_features_in_``,
``feature_names_in_``, ``classes_``, ...). Only when everything passed does the net
re-initialize and take over what the probe learned.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from sktorch import _weights
from sktorch._data import numpy_if_tensor
from sktorch._validation import _n_samples, check_net_params, check_X_y

__all__ = ["FitData", "check_fit_data", "check_classes"]

# Attributes learned from the data that a fresh fit learns again.
_LEARNED = ("n_features_in_", "feature_names_in_", "classes_", "_y_ndim", "_y_dtype")
# Splits of up to this many samples are tried before the fit starts; larger ones fail
# only for tiny classes and report the same hint when training splits them.
_SPLIT_CHECK_MAX = 10_000


class FitData:
    """Validated ``X``, ``y`` and sample weights, and what the net learns from them."""

    def __init__(self, X: Any, y: Any, weights: Any, learned: dict, removed: set):
        self.X = X
        self.y = y
        self.weights = weights
        self.learned = learned
        self.removed = removed

    def matches(self, X: Any, y: Any) -> bool:
        """Whether ``(X, y)`` are the very objects validated here."""
        return X is self.X and y is self.y

    def learn(self, net: Any) -> None:
        """Give ``net`` the attributes learned from the data."""
        for attr in self.removed:
            vars(net).pop(attr, None)
        vars(net).update(self.learned)


def check_classes(classes: Any) -> np.ndarray | None:
    """``classes`` as a sorted array of unique labels (``None`` for None or empty).

    Sorted, as scikit-learn's ``classes_``: ``predict_proba``'s columns follow
    ``classes_``, whatever order the labels were given in.
    """
    if classes is None:
        return None
    given = np.asarray(numpy_if_tensor(classes))  # a bfloat16 tensor has no numpy dtype
    if given.ndim != 1:
        raise ValueError(f"classes must be a 1-D list of labels; got shape {given.shape}.")
    if given.size == 0:
        return None
    try:
        unique = np.unique(given)
    except TypeError:
        raise ValueError(
            f"The labels in classes={list(given)} cannot be sorted (mixed types?); pass "
            "labels of one type, e.g. all strings or all ints."
        ) from None
    if len(unique) != len(given):
        raise ValueError(f"classes={given.tolist()} lists a label more than once; list each "
                         "label once.")
    if len(unique) < 2:
        raise ValueError(f"classes={given.tolist()} names one class; a classifier needs at "
                         "least two.")
    return unique


def _probe(net: Any, fresh: bool, classes: Any) -> Any:
    probe = object.__new__(type(net))  # no __init__, no pickling: shares every value
    state = vars(probe)
    state.update(vars(net))
    state.pop("_fit_data", None)
    if fresh:
        for attr in _LEARNED:
            state.pop(attr, None)
        own = check_classes(getattr(net, "classes", None))
        if own is not None:
            probe.classes_ = own
    given = check_classes(classes)
    if given is not None:
        current = getattr(probe, "classes_", None)
        if current is None:
            probe.classes_ = given
        elif not (len(current) == len(given) and (current == given).all()):
            raise ValueError(
                f"classes={given.tolist()} differs from the classes {current.tolist()} this "
                "net was fitted with; pass the same classes, or fit from scratch."
            )
    return probe


def _check_in_memory(net: Any, X: Any) -> None:
    """Sample and class weights travel with in-memory data only."""
    from sktorch.dataset import Dataset
    from sktorch.helper import SliceDataset

    custom = not (isinstance(net.dataset, type) and issubclass(net.dataset, Dataset))
    if custom or (isinstance(X, (torch.utils.data.Dataset, SliceDataset))
                  and not isinstance(X, Dataset)):
        raise ValueError(
            "sample_weight and class_weight need in-memory X (arrays, tensors, "
            "DataFrames); with a torch Dataset, return the weights from it and "
            "weight the loss in an overridden get_loss."
        )


def check_fit_data(net: Any, X: Any, y: Any, sample_weight: Any = None,
                   classes: Any = None, fresh: bool = False) -> FitData:
    """Validate a fit's data without changing ``net``.

    Parameters
    ----------
    net : NeuralNet
    X, y, sample_weight
        As given to ``fit``.
    classes : array-like, optional
        ``partial_fit``'s ``classes``.
    fresh : bool
        Whether the fit re-initializes the net (what the net learned before does not
        count, e.g. its ``n_features_in_``).
    """
    check_net_params(net)  # the parameters first, as initialize() would
    net.check_data(X, y)  # the user's own checks (skorch's hook), on the raw data
    probe = _probe(net, fresh, classes)
    before = dict(vars(probe))
    X, y = check_X_y(probe, X, y, fitting=True)
    try:
        n_samples = _n_samples(X)
    except TypeError:  # a streamed (iterable) dataset has no length
        n_samples = None
    weights = None
    if sample_weight is not None or getattr(probe, "class_weight", None) is not None:
        _check_in_memory(probe, X)
        weights = _weights.fit_weights(probe, sample_weight, y, n_samples)
    if n_samples is not None and n_samples <= _SPLIT_CHECK_MAX:
        probe.check_train_split(n_samples, y)
    after = vars(probe)
    learned = {k: v for k, v in after.items() if k not in before or before[k] is not v}
    if fresh:
        learned.update({k: after[k] for k in _LEARNED if k in after})
    removed = {k for k in before if k not in after} | (
        {k for k in _LEARNED if k not in after} if fresh else set())
    return FitData(X, y, weights, learned, removed)
