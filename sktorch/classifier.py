"""Classifiers: ``NeuralNetClassifier`` and ``NeuralNetBinaryClassifier``."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import torch
from sklearn.base import ClassifierMixin
from sklearn.exceptions import DataConversionWarning
from sklearn.utils.multiclass import check_classification_targets

from sktorch._data import tensor_to_numpy, to_tensor
from sktorch._fit_data import check_classes
from sktorch._predict import TensorScoreMixin, first_output, loss_input
from sktorch._state_metadata import reading, recording
from sktorch._validation import check_tensor_dtype
from sktorch._warnings import warn_user
from sktorch.callbacks import EpochScoring
from sktorch.dataset import Dataset, ValidSplit
from sktorch.net import NeuralNet
from sktorch.persistence import decode_data_attribute

__all__ = ["NeuralNetClassifier", "NeuralNetBinaryClassifier"]

_EPS = 1e-7
_BCE = (torch.nn.BCELoss, torch.nn.BCEWithLogitsLoss)
_CLASSES_KEY = "sktorch_classes"  # in the weights file's state-dict metadata (JSON)


def _labels_1d(y: Any) -> np.ndarray:
    y = tensor_to_numpy(y) if isinstance(y, torch.Tensor) else np.asarray(y)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1:
        raise ValueError(
            f"{'NeuralNetClassifier'} expects y of shape (n_samples,) or (n_samples, 1); got "
            f"shape {y.shape}. Multi-output targets need NeuralNet with a suitable criterion."
        )
    return y


def encode_labels(classes: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """The index of each label in ``classes`` (int64); unknown labels raise ``ValueError``.

    ``classes`` is sorted (``classes_`` always is), so a binary search finds them.
    """
    index = np.searchsorted(classes, labels)
    found = index < len(classes)
    found[found] = classes[index[found]] == labels[found]
    if not found.all():
        unknown = np.unique(labels[~found])
        raise ValueError(
            f"y has labels {unknown.tolist()} that are not among the classes "
            f"{classes.tolist()}; pass classes=[...] with all labels, or fit from scratch."
        )
    return index.astype(np.int64)


def _labels_of(net: Any, index: np.ndarray) -> np.ndarray:
    """Labels of class indices; the indices themselves when no labels are known.

    A net trained on a torch Dataset without y or ``classes`` never saw the labels;
    as in skorch, its predictions are then class indices. Weights loaded from a file
    that does not say which labels they were trained with raise instead of
    returning indices that may not be the labels.
    """
    classes = getattr(net, "classes_", None)
    if classes is None:
        if vars(net).get("_labels_unknown"):
            raise ValueError(
                f"This {type(net).__name__} loaded its weights with load_params(f_params="
                "...) from a file that does not record the labels (classes_) the net was "
                "trained with (a safetensors file, or one written by skorch or an older "
                "sktorch), so predict cannot tell which label each output column stands "
                "for. Pass classes=[...] (the labels it was fitted with) to the "
                "constructor before initialize(), or set net.classes_ = np.array([...]); "
                "predict_proba works without them."
            )
        return index
    return classes[index]


def _check_sortable(labels: np.ndarray) -> None:
    """Labels of mixed types (strings with None or NaN) cannot be sorted into classes_."""
    if labels.dtype.kind != "O":
        return
    try:
        np.unique(labels)
    except TypeError:
        kinds = sorted({type(v).__name__ for v in labels})
        raise ValueError(
            f"y mixes labels of types {kinds}, which cannot be sorted into classes_ "
            "(missing values such as None or NaN among strings?). Drop or fill the "
            "missing labels first, or make every label a string (e.g. y.astype(str))."
        ) from None


def _check_class_indices(targets: torch.Tensor, classes: np.ndarray) -> None:
    """Raise unless ``targets`` are class indices 0..len(classes)-1."""
    n = len(classes)
    if targets.is_floating_point():
        valid = bool(((targets >= 0) & (targets < n) & (targets == targets.round())).all())
    else:
        valid = bool(((targets >= 0) & (targets < n)).all())
    if not valid:
        found = np.unique(tensor_to_numpy(targets))[:10].tolist()
        raise ValueError(
            f"The validation Dataset (train_split=predefined_split(...)) holds targets "
            f"{found}, but a Dataset's y holds class indices 0..{n - 1}: the positions of "
            f"the labels in classes_ {classes.tolist()}, as the loss receives them. Build "
            "it with the encoded labels, e.g. Dataset(X_valid, "
            "np.searchsorted(net.classes_, y_valid)), or validate with "
            "train_split=ValidSplit(...) on the labels."
        )


def _single_output(y_pred: torch.Tensor) -> bool:
    return y_pred.ndim == 1 or (y_pred.ndim == 2 and y_pred.shape[1] == 1)


class NeuralNetClassifier(TensorScoreMixin, ClassifierMixin, NeuralNet):
    """A torch module as a scikit-learn classifier.

    Labels may be of any type (ints, strings, floats 0./1.); ``predict`` returns them
    from ``classes_``. By default the module outputs probabilities and the loss is
    ``NLLLoss`` (skorch's convention); with ``CrossEntropyLoss`` or
    ``BCEWithLogitsLoss`` it outputs logits; with ``BCELoss`` probabilities. A
    single-output module (shape ``(n,)`` or ``(n, 1)``) is a binary classifier whose
    output is the probability (or logit) of ``classes_[1]``; ``predict_proba`` returns
    ``(n, 2)`` either way. ``score`` is accuracy.

    Parameters
    ----------
    module : nn.Module class, instance or None
        ``None`` builds an MLP with one output per class (softmax for ``NLLLoss``).
    criterion : loss class, default=torch.nn.NLLLoss
    train_split : callable or None, default=ValidSplit(5, stratified=True)
    classes : array-like, optional
        All labels, when y may not show all of them (e.g. for ``partial_fit``), in any
        order: ``classes_`` holds them sorted, as scikit-learn does, and the columns of
        ``predict_proba`` (and of the module's output) follow ``classes_``.
    class_weight : None, 'balanced' or dict, default=None
        Weights of the classes in the training and validation losses, as in
        scikit-learn: ``'balanced'`` weighs each class by
        ``n_samples / (n_classes * count)``; a dict maps labels to weights (missing
        labels weigh 1). Multiplied with ``fit``'s ``sample_weight``.
    **kwargs
        Every other :class:`~sktorch.NeuralNet` parameter.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.datasets import make_classification
    >>> from sktorch import NeuralNetClassifier
    >>> X, y = make_classification(200, 10, random_state=0)
    >>> net = NeuralNetClassifier(max_epochs=5, lr=0.1, verbose=0, random_state=0)
    >>> net.fit(X, y).predict_proba(X).shape
    (200, 2)
    """

    _default_criterion = torch.nn.NLLLoss

    def __init__(
        self,
        module: Any = None,
        criterion: Any = torch.nn.NLLLoss,
        train_split: Any = ValidSplit(5, stratified=True),  # noqa: B008
        classes: Any = None,
        class_weight: Any = None,
        **kwargs: Any,
    ):
        super().__init__(module, criterion=criterion, train_split=train_split, **kwargs)
        self.classes = classes
        self.class_weight = class_weight

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = False  # one label per sample
        return tags

    def get_default_callbacks(self) -> list[tuple[str, Any]]:
        callbacks = super().get_default_callbacks()
        scoring = ("valid_acc", EpochScoring("accuracy", name="valid_acc",
                                             lower_is_better=False, use_caching=True))
        position = 3 if len(callbacks) > 3 else len(callbacks)
        callbacks.insert(position, scoring)
        return callbacks

    def initialize(self) -> NeuralNetClassifier:
        super().initialize()
        vars(self).pop("classes_", None)
        vars(self).pop("_labels_unknown", None)
        classes = check_classes(self.classes)
        if classes is not None:
            self.classes_ = classes
        return self

    def save_params(self, *args: Any, **kwargs: Any) -> None:
        """As :meth:`NeuralNet.save_params`; the weights file also records ``classes_``.

        The labels go into the state dict's metadata (torch format), so a net
        restored with ``initialize()`` + ``load_params(f_params=...)`` predicts the
        same labels as the fitted one.
        """
        module = getattr(self, "module_", None)
        recorded = _classes_json(vars(self).get("classes_"))
        if module is None or recorded is None:
            return super().save_params(*args, **kwargs)
        with recording(module, _CLASSES_KEY, recorded):
            return super().save_params(*args, **kwargs)

    def load_params(self, *args: Any, **kwargs: Any) -> None:
        """As :meth:`NeuralNet.load_params`; restores ``classes_`` recorded with the weights.

        When the weights come from a file that does not record the labels (safetensors,
        skorch) and the net has no ``classes_``, ``predict`` raises an error that says
        to pass ``classes=[...]`` instead of returning class indices.
        """
        module = getattr(self, "module_", None)
        if module is None:
            return super().load_params(*args, **kwargs)
        with reading(module, _CLASSES_KEY, self._check_declared_classes) as found:
            result = super().load_params(*args, **kwargs)
        if "value" in found:
            classes = _classes_from_json(found["value"])
            vars(self).pop("_labels_unknown", None)
            if classes is not None:
                self.classes_ = classes
        elif (kwargs.get("f_params") is not None or (args and args[0] is not None)) and (
                getattr(self, "classes_", None) is None):
            self._labels_unknown = True
        return result

    def _check_declared_classes(self, recorded: Any) -> None:
        """Refuse weights recorded with other labels than ``classes=`` declares.

        Runs while the weights load (before any tensor is copied); ``load_params``
        then puts back whatever it had already loaded, so nothing changes.
        """
        declared, classes = getattr(self, "classes", None), _classes_from_json(recorded)
        if declared is None or classes is None:
            return
        # classes_ is kept sorted whatever order classes= was written in
        saved, wanted = np.asarray(classes).tolist(), np.unique(declared).tolist()
        if saved != wanted:
            raise ValueError(
                f"The file's weights were trained with classes {saved}, but this net "
                f"declares classes={wanted}: loading them would give each output another "
                "label. Set classes=None (the file's classes are then used) or the file's "
                "classes. Nothing was loaded.")

    def _check_y(self, y: Any) -> np.ndarray:
        if isinstance(y, torch.Tensor):
            check_tensor_dtype(y, "y")
        # scikit-learn's convention for arrays; a (n, 1) float tensor is the torch idiom
        # for BCELoss targets, so tensors pass silently.
        column = len(getattr(y, "shape", ())) == 2 and y.shape[1] == 1
        if column and not isinstance(y, torch.Tensor):
            warn_user(
                "A column-vector y was passed when a 1d array was expected; it is used as "
                "y.ravel(). Pass y of shape (n_samples,) to avoid this warning.",
                DataConversionWarning,
            )
        labels = _labels_1d(y)
        _check_sortable(labels)
        check_classification_targets(labels)
        if not hasattr(self, "classes_"):
            self.classes_ = np.unique(labels)
            if len(self.classes_) < 2:
                raise ValueError(
                    f"{type(self).__name__} needs samples of at least 2 classes, but y has "
                    f"only one class {self.classes_.tolist()}; pass classes=[...] if the "
                    "other classes are merely absent from this data."
                )
        else:
            unknown = np.setdiff1d(labels, self.classes_)
            if unknown.size:
                raise ValueError(
                    f"y has labels {unknown.tolist()} that are not among the classes "
                    f"{self.classes_.tolist()} this net was fitted with; pass classes=[...] "
                    "with all labels, or fit from scratch."
                )
        return labels

    def get_split_datasets(self, dataset: Any, y: Any = None, seed: int | None = None):
        """As :meth:`NeuralNet.get_split_datasets`; a validation ``Dataset`` given by
        ``predefined_split`` must hold class indices (positions in ``classes_``), as
        the training targets do once encoded."""
        dataset_train, dataset_valid = super().get_split_datasets(dataset, y, seed=seed)
        classes = getattr(self, "classes_", None)
        if isinstance(dataset_valid, Dataset) and dataset_valid.y_original is None and (
                dataset_valid.y is not None and classes is not None):
            _check_class_indices(dataset_valid.y, classes)
        return dataset_train, dataset_valid

    def _encode_y(self, y: Any) -> tuple[Any, Any]:
        if y is None:
            return None, None
        labels = _labels_1d(y)
        return to_tensor(encode_labels(self.classes_, labels), "y"), labels

    def decode_y(self, y: Any) -> np.ndarray:
        index = tensor_to_numpy(y) if isinstance(y, torch.Tensor) else np.asarray(y)
        return _labels_of(self, index.astype(np.int64))

    def _default_output_nonlin(self) -> Any:
        return torch.nn.Softmax(dim=-1) if isinstance(self.criterion_, torch.nn.NLLLoss) else None

    def _n_outputs(self, dataset: Any) -> int:
        return 1 if isinstance(self.criterion_, _BCE) else len(self.classes_)

    def get_loss(self, y_pred: Any, y_true: Any, X: Any = None, training: bool = False):
        criterion = self.criterion_
        if not isinstance(criterion, (torch.nn.NLLLoss, *_BCE)):
            return criterion(loss_input(criterion, y_pred), y_true)
        y_pred = first_output(y_pred)  # transformed below: the prediction tensor
        if isinstance(criterion, torch.nn.NLLLoss):
            probs = y_pred
            if _single_output(y_pred):
                p1 = y_pred.reshape(-1)
                probs = torch.stack([1 - p1, p1], dim=1)
            return criterion(torch.log(probs.clamp_min(_EPS)), y_true)
        if _single_output(y_pred):
            target = y_true.to(y_pred.dtype).reshape(y_pred.shape)
        else:
            target = torch.nn.functional.one_hot(y_true, y_pred.shape[-1]).to(y_pred.dtype)
        return criterion(y_pred, target)

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities, shape ``(n_samples, n_classes)``."""
        proba = super().predict_proba(X)
        if proba.ndim == 1 or (proba.ndim == 2 and proba.shape[1] == 1):
            p1 = proba.reshape(-1)
            proba = np.stack([1 - p1, p1], axis=1)
        classes = getattr(self, "classes_", None)
        if classes is not None and proba.ndim == 2 and proba.shape[1] != len(classes):
            raise ValueError(
                f"The module outputs {proba.shape[1]} class columns, but "
                f"{type(self).__name__} knows {len(classes)} classes {classes.tolist()}: "
                "each output column must stand for one label of classes_. If y did not "
                "show every class, pass classes=[...] with all labels; otherwise give the "
                f"module {len(classes)} outputs."
            )
        return proba

    def predict(self, X: Any) -> np.ndarray:
        """Predicted labels, taken from ``classes_``."""
        self.check_is_fitted()
        return _labels_of(self, self.predict_proba(X).argmax(axis=1))


def _classes_json(classes: Any) -> str | None:
    """``classes_`` as JSON text: ``"null"`` for a net that never saw labels, ``None``
    for labels JSON cannot hold (nothing is recorded; loading then asks for them)."""
    if classes is None:
        return "null"
    from sktorch._checkpoint_store import json_safe

    try:
        return json.dumps({"array": json_safe(classes.tolist()), "dtype": classes.dtype.str})
    except TypeError:  # labels that are arbitrary objects: not restorable from JSON
        return None


def _classes_from_json(text: Any) -> np.ndarray | None:
    info = json.loads(text) if isinstance(text, str) else None
    if not isinstance(info, dict) or "array" not in info:
        return None
    return decode_data_attribute(info)


class NeuralNetBinaryClassifier(NeuralNetClassifier):
    """A binary classifier whose module outputs one logit per sample.

    Parameters
    ----------
    module : nn.Module class, instance or None
        Outputs shape ``(n,)`` or ``(n, 1)``; ``None`` builds an MLP with one output.
    criterion : loss class, default=torch.nn.BCEWithLogitsLoss
    train_split : callable or None, default=ValidSplit(5, stratified=True)
    threshold : float, default=0.5
        ``predict`` returns ``classes_[1]`` where the probability exceeds it.
    **kwargs
        Every other :class:`~sktorch.NeuralNet` parameter.

    Examples
    --------
    >>> from sklearn.datasets import make_classification
    >>> from sktorch import NeuralNetBinaryClassifier
    >>> X, y = make_classification(200, 10, random_state=0)
    >>> net = NeuralNetBinaryClassifier(max_epochs=5, lr=0.1, verbose=0, random_state=0)
    >>> net.fit(X, y).predict(X[:3]).shape
    (3,)
    """

    _default_criterion = torch.nn.BCEWithLogitsLoss

    def __init__(
        self,
        module: Any = None,
        criterion: Any = torch.nn.BCEWithLogitsLoss,
        train_split: Any = ValidSplit(5, stratified=True),  # noqa: B008
        threshold: float = 0.5,
        **kwargs: Any,
    ):
        super().__init__(module, criterion=criterion, train_split=train_split, **kwargs)
        self.threshold = threshold

    def _check_y(self, y: Any) -> np.ndarray:
        labels = super()._check_y(y)
        if len(self.classes_) > 2:
            raise ValueError(
                f"Only binary classification is supported: y has {len(self.classes_)} classes "
                f"{self.classes_.tolist()}; use NeuralNetClassifier for more than two."
            )
        return labels

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_class = False
        return tags

    def _n_outputs(self, dataset: Any) -> int:
        return 1

    @staticmethod
    def _check_one_logit(shape: tuple) -> None:
        if not (len(shape) == 1 or (len(shape) == 2 and shape[1] == 1)):
            raise ValueError(
                f"NeuralNetBinaryClassifier expects the module to output one logit per "
                f"sample, shape (n,) or (n, 1); got shape {tuple(shape)}. Give the "
                "module a single output, or use NeuralNetClassifier (e.g. with "
                "criterion=torch.nn.CrossEntropyLoss) for one output per class."
            )

    def get_loss(self, y_pred: Any, y_true: Any, X: Any = None, training: bool = False):
        self._check_one_logit(tuple(first_output(y_pred).shape))
        return super().get_loss(y_pred, y_true, X=X, training=training)

    def predict_proba(self, X: Any) -> np.ndarray:
        """Probabilities of ``classes_[0]`` and ``classes_[1]``, shape ``(n_samples, 2)``."""
        proba = NeuralNet.predict_proba(self, X)
        self._check_one_logit(proba.shape)
        p1 = proba.reshape(-1)
        return np.stack([1 - p1, p1], axis=1)

    def predict(self, X: Any) -> np.ndarray:
        """Labels: ``classes_[1]`` where ``predict_proba(X)[:, 1] > threshold``."""
        self.check_is_fitted()
        positive = self.predict_proba(X)[:, 1] > self.threshold
        return _labels_of(self, positive.astype(np.int64))
