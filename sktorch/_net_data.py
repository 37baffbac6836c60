"""The estimator's data methods: from user input to datasets and batches.

``NeuralNet`` gets these from :class:`DataMixin`: wrapping ``(X, y)`` in a
dataset, the validation split, and the batch source of each pass (tensor slices
for in-memory data, a ``DataLoader`` otherwise). Conversion itself lives in
``sktorch._data``; classifiers and regressors override the ``*_y`` methods.
"""

from __future__ import annotations

import copy
import warnings
from numbers import Integral
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, IterableDataset
from torch.utils.data import Dataset as TorchDataset

from sktorch import _builtin, _params
from sktorch._continuation import shuffle_generator
from sktorch._data import TensorBatches, all_finite, move, tensor_to_numpy, to_tensor
from sktorch._precision import dataset_to_float64
from sktorch._validation import check_tensor_dtype, check_valid_order
from sktorch._weights import check_split_weights
from sktorch.dataset import Dataset, ValidSplit
from sktorch.helper import SliceDataset

__all__ = ["DataMixin"]


class DataMixin:
    """Datasets, splits and batch iterators of a net (mixed into ``NeuralNet``)."""

    def _data_shape(self, dataset: Any) -> dict[str, int]:
        X = dataset.X if isinstance(dataset, Dataset) else _first_row(dataset)[0]
        if not isinstance(X, dict) and hasattr(X, "shape"):  # a Dataset's item has no row axis
            ndim = len(X.shape) + (0 if isinstance(dataset, Dataset) else 1)
            _builtin.check_2d(self, ndim, X.shape)
        if isinstance(X, dict) and self.module is None:
            names = ", ".join(map(str, X))
            raise TypeError(
                f"The built-in MLP (module=None) takes one array of features, but X is a "
                f"dict of arrays with keys [{names}]. Pass module=YourModule whose forward "
                f"takes {names} as keyword arguments, or give X as one 2-d array (e.g. "
                "np.hstack of the arrays)."
            )
        if isinstance(X, (list, tuple)) and self.module is None:
            raise TypeError(
                f"The built-in MLP (module=None) takes one array of features, but X is a "
                f"{type(X).__name__} of {len(X)} arrays. Pass module=YourModule whose forward "
                "takes that list, or give X as one 2-d array (e.g. np.hstack of the arrays)."
            )
        n_features = X.shape[-1] if hasattr(X, "shape") else None
        return {"input_units": n_features, "output_units": self._n_outputs(dataset)}

    def _n_outputs(self, dataset: Any) -> int:
        y = dataset.y if isinstance(dataset, Dataset) else _first_row(dataset)[1]
        n_outputs = 1 if y is None or y.ndim < 2 else int(y.shape[-1])
        _check_class_index_loss(self, y, n_outputs)
        return n_outputs

    def get_dataset(self, X: Any, y: Any = None) -> Any:
        """Wrap ``(X, y)`` in ``dataset``; a torch ``Dataset`` X is used as it is."""
        if isinstance(X, SliceDataset):
            return X.dataset_with(y)
        if isinstance(X, torch.utils.data.Dataset):
            return X
        kwargs = _params.params_for("dataset", self._kwargs)
        y_encoded, y_original = self._encode_y(y)
        if self.dataset is Dataset and not kwargs:
            dataset = Dataset(X, y_encoded)
            dataset.y_original = y_original
            if self.precision == "64":
                dataset = dataset_to_float64(dataset, X, y)
            return dataset.to(self.device)
        # A custom dataset gets the targets as the loss needs them (class indices).
        return self.dataset(X, y_encoded, **kwargs)

    def _check_y(self, y: Any) -> Any:
        """Validate y at fit; subclasses also learn from it (e.g. ``classes_``)."""
        if not isinstance(y, torch.Tensor):
            y = np.asarray(y) if not hasattr(y, "__len__") or not hasattr(y, "shape") else y
        if isinstance(y, torch.Tensor):
            check_tensor_dtype(y, "y")
            if y.requires_grad:
                y = y.detach()
        if not all_finite(y if isinstance(y, torch.Tensor) else np.asarray(y)):
            raise ValueError("Input y contains NaN or infinity; drop or impute those rows.")
        return y

    def _encode_y(self, y: Any) -> tuple[Any, Any]:
        """Targets as the loss expects them, and the original labels (for scoring)."""
        if y is None:
            return None, None
        return to_tensor(y, "y"), None

    def get_split_datasets(self, dataset: Any, y: Any = None, seed: int | None = None):
        """Split into ``(dataset_train, dataset_valid)`` with ``train_split``."""
        if self.train_split is None or self.train_split is False:  # False: skorch's "no split"
            return dataset, None
        split = self.train_split
        if isinstance(split, ValidSplit) and isinstance(dataset, IterableDataset):
            raise ValueError(
                "ValidSplit cannot split a torch IterableDataset (its rows are only known "
                "by reading them); pass train_split=None, or "
                "train_split=predefined_split(valid_dataset) to validate on another one."
            )
        if isinstance(split, ValidSplit) and split.random_state is None and seed is not None:
            # One model validates on one set of rows: a partial_fit or warm-start fit
            # splits as the fit that initialized the net did. Split anew, its validation
            # rows would be rows it has trained on, and its valid_loss (early stopping,
            # checkpoints) optimistic.
            if vars(self).get("_split_seed") is None:
                self._split_seed = seed
            split = copy.copy(split)
            split.random_state = self._split_seed
        try:
            dataset_train, dataset_valid = split(dataset, y)
        except ValueError as exc:
            if not isinstance(split, ValidSplit):
                raise
            raise ValueError(_split_hint(split, len(dataset), exc)) from exc
        _check_valid_targets(dataset_train, dataset_valid)
        if isinstance(dataset_valid, Dataset):  # e.g. from predefined_split
            dataset_valid = dataset_valid.to(self.device)
        check_split_weights(dataset_train, dataset_valid)
        return dataset_train, dataset_valid

    def check_train_split(self, n_samples: int, y: Any = None) -> None:
        """Raise before training when ``train_split`` cannot split ``n_samples`` rows.

        Only a :class:`~sktorch.dataset.ValidSplit` is tried, and only when cheap rules
        say it may fail (a fold split then runs twice: it is tiny data). Whether a split
        is possible does not depend on its shuffling.
        """
        split = self.train_split
        if not isinstance(split, ValidSplit) or not _split_may_fail(self, split, n_samples, y):
            return
        try:
            with warnings.catch_warnings():  # the fit's own split warns (once) as it splits
                warnings.simplefilter("ignore")
                split.split_indices(n_samples, y)
        except ValueError as exc:
            raise ValueError(_split_hint(split, n_samples, exc)) from exc

    def _fit_iterators(self, dataset_train: Any, dataset_valid: Any, seed: int | None):
        """The training and validation batch sources of a fit, via ``get_iterator``."""
        # get_iterator keeps skorch's signature (dataset, training); the fit's shuffling
        # generator reaches the default implementation through this attribute.
        # shuffle_generator: a seeded generator, or one continued from an earlier fit.
        self._fit_generator = shuffle_generator(seed)
        try:
            train_batches = self.get_iterator(dataset_train, training=True)
        finally:
            del self._fit_generator
        valid_batches = None if dataset_valid is None else self.get_iterator(
            dataset_valid, training=False)
        return train_batches, valid_batches

    def get_iterator(self, dataset: Any, training: bool = False,
                     generator: torch.Generator | None = None) -> Any:
        """Batches of ``dataset``: tensor slices for in-memory data, else a DataLoader.

        ``fit`` calls ``get_iterator(dataset, training=True)`` and
        ``get_iterator(dataset, training=False)``, so an override with skorch's
        signature works. Training batches are shuffled (seeded by ``random_state``),
        except for a torch ``IterableDataset``, which streams in its own order.
        """
        prefix = "iterator_train" if training else "iterator_valid"
        iterator = self.iterator_train if training else self.iterator_valid
        kwargs = _params.params_for(prefix, self._kwargs)
        batch_size = kwargs.pop("batch_size", None)
        if batch_size is None:  # the built-in model's recipe sizes training batches
            batch_size = _builtin.batch_size(self, dataset) if training else self.batch_size
        streaming = isinstance(dataset, IterableDataset)
        shuffle = kwargs.pop("shuffle", training and not streaming)
        if shuffle and not training:  # e.g. set with set_params after fit
            check_valid_order(self)
        if generator is None and training:
            generator = getattr(self, "_fit_generator", None)
        if (isinstance(dataset, Dataset) and dataset._sliceable() and iterator is DataLoader
                and not kwargs):
            weights = getattr(dataset, "sample_weight", None)
            tensors = (dataset.X, dataset.y) + (() if weights is None else (weights,))
            return TensorBatches(tensors, batch_size, shuffle, generator,
                                 sparse_device=self.device)
        if batch_size == -1:
            if streaming and not hasattr(dataset, "__len__"):
                raise ValueError(
                    "batch_size=-1 needs the dataset's length, but this IterableDataset has "
                    "no __len__; pass a batch size, e.g. batch_size=128."
                )
            batch_size = len(dataset)
        if iterator is DataLoader and shuffle and generator is not None:
            kwargs.setdefault("generator", generator)
        loader = iterator(dataset, batch_size=batch_size, shuffle=shuffle, **kwargs)
        return _OnDevice(loader, self.device)

    def scoring_data(self, dataset: Any) -> tuple[Any, Any]:
        """``(X, y)`` of a dataset as scorers receive them (original labels)."""
        if isinstance(dataset, Dataset):
            # A subclass that changes rows is predicted through its rows.
            X = dataset.X if dataset._sliceable() else dataset
            if dataset.y_original is not None:
                return X, dataset.y_original
            # A Dataset built by the user (predefined_split) holds encoded targets.
            return X, None if dataset.y is None else self.decode_y(dataset.y)
        ys = [dataset[i][1] for i in range(len(dataset))]
        y = torch.stack([torch.as_tensor(v) for v in ys]).numpy()
        return dataset, self.decode_y(y)

    def decode_y(self, y: Any) -> Any:
        """Targets as the user gave them (class labels for classifiers)."""
        return tensor_to_numpy(y) if isinstance(y, torch.Tensor) else np.asarray(y)


def _split_may_fail(net: Any, split: ValidSplit, n_samples: int, y: Any) -> bool:
    cv = split.cv
    if not isinstance(cv, Integral) or isinstance(cv, bool):
        return True  # a fraction: shuffle splits are cheap and never warn
    if cv < 2 or n_samples < cv:
        return True
    if not split.stratified:
        return False
    # stratified folds fail only when every class has fewer than cv samples
    classes = getattr(net, "classes_", None)
    n_classes = len(classes) if classes is not None else (
        len(np.unique(np.asarray(y))) if y is not None else 1)
    return n_samples < int(cv) * n_classes


def _split_hint(split: ValidSplit, n_samples: int, exc: Exception) -> str:
    return (
        f"train_split={split!r} cannot split {n_samples} samples into training and "
        f"validation data: {exc} Pass train_split=None to train on all samples without "
        "validation, or a smaller cv, e.g. train_split=ValidSplit(2) or ValidSplit(0.5)."
    )


def _check_valid_targets(dataset_train: Any, dataset_valid: Any) -> None:
    """Refuse validation rows without targets when the training rows have them."""
    if getattr(dataset_train, "y", None) is None or not _has_no_targets(dataset_valid):
        return
    raise ValueError(
        f"The validation {type(dataset_valid).__name__} of train_split has no y, but the "
        "net trains on targets: its valid_loss needs them. Build it with its targets, "
        "e.g. train_split=predefined_split(Dataset(X_valid, y_valid))."
    )


def _has_no_targets(dataset: Any) -> bool:
    """A Dataset without y, or a torch Dataset whose rows hold X alone (one element)."""
    if isinstance(dataset, Dataset):
        return dataset.y is None
    if not isinstance(dataset, TorchDataset) or isinstance(dataset, IterableDataset) or (
            not hasattr(dataset, "__len__") or not len(dataset)):
        return False  # a stream is not read ahead
    row = dataset[0]
    return isinstance(row, (tuple, list)) and len(row) == 1


def _first_row(dataset: Any) -> Any:
    """The first row of a torch Dataset (a streamed one is iterated for it)."""
    if isinstance(dataset, IterableDataset):
        return next(iter(dataset))
    return dataset[0]


class _OnDevice:
    """Move each batch of an iterator to the device."""

    def __init__(self, loader: Any, device: Any):
        self.loader = loader
        self.device = device

    def __len__(self) -> int:
        return len(self.loader)  # a TypeError for an IterableDataset without __len__

    def __iter__(self):
        for batch in self.loader:
            yield move(batch, self.device)


def _check_class_index_loss(net: Any, y: Any, n_outputs: int) -> None:
    """The built-in MLP of a plain ``NeuralNet`` has one output per column of y, which
    a loss over class indices (``CrossEntropyLoss``, ``NLLLoss``) cannot use: say so."""
    criterion = getattr(net, "criterion_", None)
    if (net.module is not None or y is None or n_outputs != 1
            or not isinstance(criterion, (torch.nn.CrossEntropyLoss, torch.nn.NLLLoss))
            or "output_units" in _params.component_params(net, "module")):
        return
    raise ValueError(
        f"{type(net).__name__}(module=None) gives the built-in MLP one output per column "
        f"of y, here 1, but {type(criterion).__name__} takes class indices as y and "
        "needs one output per class. Use NeuralNetClassifier(criterion="
        f"torch.nn.{type(criterion).__name__}) (or NeuralNetClassifier() with its "
        "default loss), which sizes the outputs from the classes and predicts labels; "
        "or pass module__output_units=<number of classes>."
    )
