"""The estimator's data methods: from user input to datasets and batches.

``NeuralNet`` gets these from :class:`DataMixin`: wrapping ``(X, y)`` in a
dataset, the validation split, and the batch source of each pass (tensor slices
for in-memory data, a ``DataLoader`` otherwise). Conversion itself lives in
``sktorch._data``; classifiers and regressors override the ``*_y`` methods.
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader

from sktorch import _builtin, _params
from sktorch._data import TensorBatches, all_finite, move, to_tensor
from sktorch._precision import dataset_to_float64
from sktorch.dataset import Dataset, ValidSplit
from sktorch.helper import SliceDataset

__all__ = ["DataMixin"]


class DataMixin:
    """Datasets, splits and batch iterators of a net (mixed into ``NeuralNet``)."""

    def _data_shape(self, dataset: Any) -> dict[str, int]:
        X = dataset.X if isinstance(dataset, Dataset) else dataset[0][0]
        if not isinstance(X, dict) and hasattr(X, "shape"):  # a Dataset's item has no row axis
            ndim = len(X.shape) + (0 if isinstance(dataset, Dataset) else 1)
            _builtin.check_2d(self, ndim, X.shape)
        n_features = X.shape[-1] if not isinstance(X, dict) else None
        return {"input_units": n_features, "output_units": self._n_outputs(dataset)}

    def _n_outputs(self, dataset: Any) -> int:
        y = dataset.y if isinstance(dataset, Dataset) else dataset[0][1]
        return 1 if y is None or y.ndim < 2 else int(y.shape[-1])

    def get_dataset(self, X: Any, y: Any = None) -> Any:
        """Wrap ``(X, y)`` in ``dataset``; a torch ``Dataset`` X is used as it is."""
        if isinstance(X, SliceDataset):
            return X.rows()
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
        if self.train_split is None:
            return dataset, None
        split = self.train_split
        if isinstance(split, ValidSplit) and split.random_state is None and seed is not None:
            split = copy.copy(split)
            split.random_state = seed
        dataset_train, dataset_valid = split(dataset, y)
        if isinstance(dataset_valid, Dataset):  # e.g. from predefined_split
            dataset_valid = dataset_valid.to(self.device)
        return dataset_train, dataset_valid

    def get_iterator(self, dataset: Any, training: bool = False,
                     generator: torch.Generator | None = None) -> Any:
        """Batches of ``dataset``: tensor slices for in-memory data, else a DataLoader."""
        prefix = "iterator_train" if training else "iterator_valid"
        iterator = self.iterator_train if training else self.iterator_valid
        kwargs = _params.params_for(prefix, self._kwargs)
        batch_size = kwargs.pop("batch_size", None)
        if batch_size is None:  # the built-in model's recipe sizes training batches
            batch_size = _builtin.batch_size(self, dataset) if training else self.batch_size
        shuffle = kwargs.pop("shuffle", training)
        if isinstance(dataset, Dataset) and iterator is DataLoader and not kwargs:
            weights = getattr(dataset, "sample_weight", None)
            tensors = (dataset.X, dataset.y) + (() if weights is None else (weights,))
            return TensorBatches(tensors, batch_size, shuffle, generator,
                                 sparse_device=self.device)
        if batch_size == -1:
            batch_size = len(dataset)
        if iterator is DataLoader and shuffle and generator is not None:
            kwargs.setdefault("generator", generator)
        loader = iterator(dataset, batch_size=batch_size, shuffle=shuffle, **kwargs)
        return _OnDevice(loader, self.device)

    def scoring_data(self, dataset: Any) -> tuple[Any, Any]:
        """``(X, y)`` of a dataset as scorers receive them (original labels)."""
        if isinstance(dataset, Dataset):
            y = dataset.y_original if dataset.y_original is not None else dataset.y
            return dataset.X, y.cpu().numpy() if isinstance(y, torch.Tensor) else y
        ys = [dataset[i][1] for i in range(len(dataset))]
        y = torch.stack([torch.as_tensor(v) for v in ys]).numpy()
        return dataset, self.decode_y(y)

    def decode_y(self, y: Any) -> Any:
        """Targets as the user gave them (class labels for classifiers)."""
        return y.detach().cpu().numpy() if isinstance(y, torch.Tensor) else np.asarray(y)


class _OnDevice:
    """Move each batch of an iterator to the device."""

    def __init__(self, loader: Any, device: Any):
        self.loader = loader
        self.device = device

    def __len__(self) -> int:
        return len(self.loader)

    def __iter__(self):
        for batch in self.loader:
            yield move(batch, self.device)
