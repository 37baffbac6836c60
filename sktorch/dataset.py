"""Datasets and the internal train/validation split.

``Dataset`` holds in-memory data converted to tensors once; ``ValidSplit`` splits off
the validation data that the net scores each epoch.
"""

from __future__ import annotations

from numbers import Integral, Real
from typing import Any

import numpy as np
import scipy.sparse as sp
import torch
from torch.utils.data import Dataset as TorchDataset
from torch.utils.data import Subset

from sktorch._data import move, n_rows, take, tensor_to_numpy, to_features, to_tensor

__all__ = ["Dataset", "DatasetSubset", "ValidSplit"]


class Dataset(TorchDataset):
    """In-memory data as tensors, converted once.

    Works both row by row (``dataset[i]``, so a ``torch.utils.data.DataLoader`` can
    read it) and by whole index tensors through :meth:`subset`, which the net uses
    to batch without per-row calls.

    Parameters
    ----------
    X : array-like, tensor, DataFrame, sparse matrix or dict of arrays
        Features; see the user guide for the accepted types.
    y : array-like or tensor, optional
        Targets, already encoded (class indices for classifiers).
    length : int, optional
        Number of samples; inferred from X when omitted.

    Examples
    --------
    >>> import numpy as np
    >>> ds = Dataset(np.zeros((4, 3)), np.arange(4))
    >>> len(ds), ds[1][0].dtype, ds[1][1].item()
    (4, torch.float32, 1)
    """

    def __init__(self, X: Any, y: Any = None, length: int | None = None):
        self.X = to_features(X)
        self.y = None if y is None else to_tensor(y, "y")
        self.y_original: np.ndarray | None = None
        # Per-sample loss weights set by the net's fit; split and batched with the rows.
        self.sample_weight: torch.Tensor | None = None
        self._length = n_rows(self.X) if length is None else int(length)
        if self.y is not None and len(self.y) != self._length:
            raise ValueError(
                f"X and y have different numbers of samples: {self._length} and {len(self.y)}."
            )

    def __len__(self) -> int:
        return self._length

    def __getitem__(self, i: int) -> tuple:
        Xi = self.X[i] if sp.issparse(self.X) else take(self.X, i)  # a sparse row: 1 x n
        Xi, yi = self.transform(Xi, None if self.y is None else self.y[i])
        weights = getattr(self, "sample_weight", None)
        return (Xi, yi) if weights is None else (Xi, yi, weights[i])

    def transform(self, X: Any, y: Any) -> tuple:
        """Turn one row ``(X, y)`` into what a batch holds; override it to change rows.

        ``X`` is the row of the features (already a tensor, or a dict/list of them),
        ``y`` its target or ``None`` when the dataset has none. By default a sparse
        row becomes a dense tensor and a missing ``y`` a ``0`` placeholder. A subclass
        that overrides ``transform`` (or ``__getitem__``) is read row by row through
        the ``DataLoader``, so its code runs for every batch.

        Examples
        --------
        >>> import numpy as np, torch
        >>> class Doubled(Dataset):
        ...     def transform(self, X, y):
        ...         return X * 2, y
        >>> Doubled(np.ones((3, 2)), np.arange(3))[1][0].tolist()
        [2.0, 2.0]
        """
        if hasattr(X, "toarray"):
            X = torch.from_numpy(X.toarray()[0])
        return X, torch.zeros(()) if y is None else y

    def _sliceable(self) -> bool:
        """Whether batches may be sliced from ``X`` and ``y``: no subclass changes a row."""
        cls = type(self)
        return cls.transform is Dataset.transform and (
            cls.__getitem__ in (Dataset.__getitem__, DatasetSubset.__getitem__))

    def _derive(self, X: Any, y: Any, y_original: Any) -> Dataset:
        new = object.__new__(type(self))
        new.__dict__.update(self.__dict__)
        new.X, new.y, new.y_original = X, y, y_original
        new._length = n_rows(X)
        return new

    def subset(self, index: Any) -> Dataset:
        """The rows at ``index`` (an index array or tensor) as a new ``Dataset``."""
        index = torch.as_tensor(np.asarray(index), dtype=torch.long)
        y_orig = None if self.y_original is None else self.y_original[index.numpy()]
        y = None if self.y is None else self.y[index.to(self.y.device)]
        new = self._derive(take(self.X, index), y, y_orig)
        weights = getattr(self, "sample_weight", None)
        if weights is not None:
            new.sample_weight = weights[index.to(weights.device)]
        return new

    def to(self, device: Any) -> Dataset:
        """The same data on ``device`` (a no-op when it is already there)."""
        new = self._derive(move(self.X, device), move(self.y, device), self.y_original)
        new.sample_weight = move(getattr(self, "sample_weight", None), device)
        return new


class DatasetSubset(Dataset, Subset):
    """Rows of a :class:`Dataset`: a ``torch.utils.data.Subset`` that holds its rows.

    ``dataset`` and ``indices`` are the parent and the row numbers, as in any
    ``Subset`` (what skorch hands callbacks as ``dataset_train``/``dataset_valid``);
    the rows themselves are gathered once into ``X``/``y`` tensors, so batches are
    still slices.

    Examples
    --------
    >>> import numpy as np
    >>> parent = Dataset(np.arange(8.0).reshape(4, 2), np.arange(4))
    >>> part = DatasetSubset.of(parent, np.array([3, 1]))
    >>> part.dataset is parent, part.indices.tolist(), part.y.tolist()
    (True, [3, 1], [3, 1])
    """

    @classmethod
    def of(cls, dataset: Dataset, indices: Any) -> DatasetSubset:
        """The rows of ``dataset`` at ``indices`` (an index array)."""
        part = dataset.subset(indices)
        new = object.__new__(cls)
        new.__dict__.update(part.__dict__)
        new.dataset = dataset
        new.indices = np.asarray(indices)
        return new

    def __getitem__(self, i: int) -> tuple:
        return Dataset.__getitem__(self, i)

    def __len__(self) -> int:
        return Dataset.__len__(self)

    def subset(self, index: Any) -> DatasetSubset:
        """Rows of these rows; ``indices`` still count rows of ``dataset``."""
        new = Dataset.subset(self, index)
        new.indices = self.indices[np.asarray(index)]
        return new


def _labels(y: Any) -> np.ndarray | None:
    if y is None:
        return None
    return tensor_to_numpy(y) if isinstance(y, torch.Tensor) else np.asarray(y)


def _flat_labels(labels: np.ndarray | None) -> np.ndarray | None:
    if labels is not None and labels.ndim > 1 and labels.shape[1] == 1:
        return labels.reshape(-1)
    return labels


def _is_split_iterable(cv: Any) -> bool:
    return (not isinstance(cv, (Real, str, bytes)) and hasattr(cv, "__iter__"))


class ValidSplit:
    """Split a dataset into training and validation parts.

    Parameters
    ----------
    cv : int, float, splitter or iterable, default=5
        An int ``k`` holds out the first of ``k`` folds (a fifth for 5); a float in
        (0, 1) holds out that fraction, drawn at random; a scikit-learn splitter
        (``KFold(4)``, ``GroupKFold()``, ...) or an iterable of ``(train, valid)``
        index pairs gives the split with its first pair. Only one split is made.
    stratified : bool, default=False
        Keep class proportions in both parts (classifiers use ``True``).
    random_state : int, RandomState or None
        Shuffles the folds when given.

    Examples
    --------
    >>> import numpy as np
    >>> train, valid = ValidSplit(4).split_indices(8)
    >>> len(train), len(valid)
    (6, 2)
    """

    def __init__(self, cv: int | float = 5, stratified: bool = False, random_state: Any = None):
        self.cv = cv
        self.stratified = stratified
        self.random_state = random_state

    def __repr__(self) -> str:
        return (
            f"ValidSplit(cv={self.cv!r}, stratified={self.stratified!r}, "
            f"random_state={self.random_state!r})"
        )

    def _splitter(self):
        # Imported here: sklearn.model_selection is slow to import, and only a split needs it.
        from sklearn.model_selection import (
            KFold,
            ShuffleSplit,
            StratifiedKFold,
            StratifiedShuffleSplit,
        )

        cv = self.cv
        if isinstance(cv, Integral) and not isinstance(cv, bool):
            if cv < 2:
                raise ValueError(f"ValidSplit needs cv >= 2 folds; got cv={cv}.")
            cls = StratifiedKFold if self.stratified else KFold
            shuffle = self.random_state is not None
            return cls(n_splits=int(cv), shuffle=shuffle, random_state=self.random_state)
        if isinstance(cv, Real) and 0 < cv < 1:
            cls = StratifiedShuffleSplit if self.stratified else ShuffleSplit
            return cls(n_splits=1, test_size=float(cv), random_state=self.random_state)
        raise ValueError(
            f"ValidSplit's cv must be an int >= 2, a float in (0, 1), a scikit-learn "
            f"splitter such as KFold(5) or an iterable of (train, valid) indices; got {cv!r}."
        )

    def split_indices(self, n_samples: int, y: Any = None, groups: Any = None):
        """Return ``(train_indices, valid_indices)`` as numpy arrays."""
        labels = _labels(y)
        if self.stratified and labels is None:
            raise ValueError("A stratified ValidSplit needs y; pass y or set stratified=False.")
        X_dummy = np.zeros((n_samples, 1))
        y_split = labels if self.stratified else None
        if y_split is not None and y_split.ndim > 1:
            y_split = y_split.reshape(len(y_split), -1)[:, 0] if y_split.shape[1] == 1 else None
        if hasattr(self.cv, "get_n_splits"):  # a scikit-learn splitter: it stratifies or not
            y_split = _flat_labels(labels)
            return next(iter(self.cv.split(X_dummy, y_split, groups)))
        if _is_split_iterable(self.cv):
            train, valid = next(iter(self.cv))
            return np.asarray(train), np.asarray(valid)
        train, valid = next(iter(self._splitter().split(X_dummy, y_split, groups)))
        return train, valid

    def __call__(self, dataset: Any, y: Any = None, groups: Any = None):
        """Split ``dataset`` into ``(dataset_train, dataset_valid)``."""
        train, valid = self.split_indices(len(dataset), y, groups)
        if type(dataset) is Dataset:
            return DatasetSubset.of(dataset, train), DatasetSubset.of(dataset, valid)
        if isinstance(dataset, Dataset):
            return dataset.subset(train), dataset.subset(valid)
        return Subset(dataset, train.tolist()), Subset(dataset, valid.tolist())
