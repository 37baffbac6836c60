"""Helpers that let dicts and torch Datasets pass through scikit-learn's tools."""

from __future__ import annotations

import copy
from collections.abc import Sequence
from functools import partial
from typing import Any

import numpy as np
import torch
from sklearn.base import BaseEstimator, TransformerMixin
from torch.utils.data import Dataset as TorchDataset

from sktorch._data import tensor_to_numpy
from sktorch._doctor import SkorchDoctor, SktorchDoctor
from sktorch.cli import parse_args

__all__ = [
    "SliceDict",
    "SliceDataset",
    "predefined_split",
    "DataFrameTransformer",
    "parse_args",
    "SktorchDoctor",
    "SkorchDoctor",
]


def _strip_ellipsis(index: Any) -> Any:
    # scikit-learn indexes array-likes as ``X[index, ...]``.
    if isinstance(index, tuple) and len(index) == 2 and index[1] is Ellipsis:
        return index[0]
    return index


class SliceDict(dict):
    """A dict of equally long arrays that scikit-learn can index by rows.

    ``sd['key']`` returns an array; ``sd[rows]`` (int, slice, index or boolean array)
    returns a new ``SliceDict`` with those rows of every array. The net passes the
    arrays to the module's ``forward`` as keyword arguments.

    Examples
    --------
    >>> import numpy as np
    >>> X = SliceDict(a=np.arange(6).reshape(3, 2), b=np.arange(3))
    >>> X.shape, X[1:]['b'].tolist(), len(X[[0, 2]])
    ((3,), [1, 2], 2)
    """

    def __init__(self, **arrays: Any):
        lengths = {key: len(value) for key, value in arrays.items()}
        if len(set(lengths.values())) > 1:
            raise ValueError(
                f"All arrays of a SliceDict need the same length; got lengths {lengths}."
            )
        super().__init__(**arrays)
        self._length = next(iter(lengths.values()), 0)

    @property
    def shape(self) -> tuple[int]:
        return (self._length,)

    def __len__(self) -> int:
        return self._length

    def __getitem__(self, index: Any) -> Any:
        if isinstance(index, str):
            return super().__getitem__(index)
        index = _strip_ellipsis(index)
        if isinstance(index, (int, np.integer)):
            index = slice(index, index + 1) if index != -1 else slice(index, None)
        rows = {}
        for key, value in self.items():
            if isinstance(value, torch.Tensor) and not isinstance(index, slice):
                rows[key] = value[torch.as_tensor(np.asarray(index))]
            else:
                rows[key] = value[index]
        return SliceDict(**rows)

    def __setitem__(self, key: str, value: Any) -> None:
        if not isinstance(key, str):
            raise TypeError("SliceDict keys must be strings.")
        if self and len(value) != self._length:
            raise ValueError(f"Array for {key!r} has length {len(value)}, expected {self._length}.")
        super().__setitem__(key, value)
        self._length = len(value)

    def update(self, *args: Any, **kwargs: Any) -> None:
        for key, value in dict(*args, **kwargs).items():
            self[key] = value

    def copy(self) -> SliceDict:
        return SliceDict(**self)

    def __repr__(self) -> str:
        return f"SliceDict(**{dict.__repr__(self)})"


class SliceDataset(Sequence):
    """A view of one field of a torch ``Dataset`` that scikit-learn can index.

    ``SliceDataset(ds)`` stands for X and ``SliceDataset(ds, idx=1)`` for y, so a
    Dataset works in ``GridSearchCV`` or ``cross_val_score``; the net trains on the
    underlying dataset rows.

    Parameters
    ----------
    dataset : torch.utils.data.Dataset
    idx : int, default=0
        Which element of ``dataset[i]`` this view returns.
    indices : array-like, optional
        The rows of ``dataset`` in this view (all by default); ``indices_`` holds
        them as an array.

    Notes
    -----
    Override :meth:`transform` in a subclass to change each item as it is read
    (e.g. to augment images); the net then trains on the transformed items.

    Examples
    --------
    >>> import torch
    >>> from torch.utils.data import TensorDataset
    >>> ds = TensorDataset(torch.zeros(5, 2), torch.arange(5))
    >>> y = SliceDataset(ds, idx=1)
    >>> len(y), int(y[3]), y[[1, 2]].shape, y[3:].indices_.tolist()
    (5, 3, (2,), [3, 4])
    """

    def __init__(self, dataset: TorchDataset, idx: int = 0, indices: Any = None):
        self.dataset = dataset
        self.idx = idx
        self.indices = indices
        self.indices_ = np.arange(len(dataset)) if indices is None else np.asarray(indices)

    @property
    def shape(self) -> tuple[int]:
        return (len(self),)

    def __len__(self) -> int:
        return len(self.indices_)

    def transform(self, data: Any) -> Any:
        """Change one item as it is read; the identity unless overridden."""
        return data

    def _select(self, row: Any) -> Any:
        try:
            return row[self.idx]
        except IndexError:
            raise IndexError(
                f"{type(self).__name__} reads element {self.idx} of each row, but the rows "
                f"have only {len(row)} elements; pass an idx below {len(row)}."
            ) from None

    def __getitem__(self, index: Any) -> Any:
        index = _strip_ellipsis(index)
        if isinstance(index, (int, np.integer)):
            return self.transform(self._select(self.dataset[int(self.indices_[index])]))
        view = copy.copy(self)  # keeps a subclass and its transform
        view.indices = view.indices_ = self.indices_[index]
        return view

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        values = [self[i] for i in range(len(self))]
        if values and isinstance(values[0], torch.Tensor):
            array = tensor_to_numpy(torch.stack(values))  # bfloat16 rows as float32
            return array if dtype is None else array.astype(dtype)
        return np.asarray(values, dtype=dtype)

    def _plain(self) -> bool:
        return type(self).transform is SliceDataset.transform

    def rows(self) -> TorchDataset:
        """The underlying rows as a torch ``Dataset`` (what the net trains on)."""
        return torch.utils.data.Subset(self.dataset, self.indices_.tolist())

    def dataset_with(self, y: Any = None) -> TorchDataset:
        """The rows the net trains on when this view is X and ``y`` the targets.

        Without transforms and with ``y`` a view of field 1 of the same rows (or no
        ``y``), these are the underlying rows; otherwise ``(X[i], y[i])`` pairs.
        """
        same_rows = y is None or (
            isinstance(y, SliceDataset) and y.dataset is self.dataset and y._plain()
            and y.idx == 1 and np.array_equal(y.indices_, self.indices_))
        if self._plain() and self.idx == 0 and same_rows:
            return self.rows()
        return _Pairs(self, y)


class _Pairs(TorchDataset):
    """Rows ``(X[i], y[i])`` of two indexable views (``y`` may be None)."""

    def __init__(self, X: Any, y: Any):
        self.X, self.y = X, y

    def __len__(self) -> int:
        return len(self.X)

    def __getitem__(self, i: int) -> tuple:
        yi = torch.zeros(()) if self.y is None else torch.as_tensor(np.asarray(self.y[i]))
        return self.X[i], yi


def _predefined(dataset: Any, y: Any = None, groups: Any = None, *, dataset_valid: Any):
    return dataset, dataset_valid


def predefined_split(dataset_valid: Any):
    """A ``train_split`` that always validates on ``dataset_valid``.

    Examples
    --------
    >>> import numpy as np
    >>> from sktorch.dataset import Dataset
    >>> valid = Dataset(np.zeros((4, 2), dtype='float32'), np.zeros(4, dtype='int64'))
    >>> train_split = predefined_split(valid)
    >>> train_split(Dataset(np.ones((8, 2))))[1] is valid
    True
    """
    return partial(_predefined, dataset_valid=dataset_valid)


class DataFrameTransformer(TransformerMixin, BaseEstimator):
    """Turn a DataFrame into the dict of arrays a module's ``forward`` receives.

    Float (and bool) columns are stacked into one 2-D array under key ``'X'``;
    each ``category`` column gets its own key holding its category codes, for an
    embedding layer. Integer columns join ``'X'``, or are treated like categories
    with ``treat_int_as_categorical=True``. Other dtypes (e.g. strings) raise a
    ``TypeError`` at ``fit`` naming the columns. Put it in a ``Pipeline`` before
    the net; the net passes the dict's arrays to ``forward`` by name.

    Parameters
    ----------
    treat_int_as_categorical : bool, default=False
    float_dtype : numpy dtype or None, default=np.float32
        dtype of ``'X'``; ``None`` keeps the columns' common dtype.
    int_dtype : numpy dtype or None, default=np.int64
        dtype of the categorical arrays; ``None`` keeps the codes' dtype.

    Examples
    --------
    >>> import pandas as pd
    >>> df = pd.DataFrame({'a': [0.5, 1.5], 'b': [1, 2],
    ...                    'c': pd.Series(['x', 'y'], dtype='category')})
    >>> out = DataFrameTransformer().fit_transform(df)
    >>> sorted(out), out['X'].tolist(), out['c'].tolist()
    (['X', 'c'], [[0.5, 1.0], [1.5, 2.0]], [0, 1])
    """

    def __init__(self, treat_int_as_categorical: bool = False, float_dtype: Any = np.float32,
                 int_dtype: Any = np.int64):
        self.treat_int_as_categorical = treat_int_as_categorical
        self.float_dtype = float_dtype
        self.int_dtype = int_dtype

    def _kinds(self, df: Any) -> dict[str, list]:
        import pandas as pd
        from pandas.api.types import is_bool_dtype, is_float_dtype, is_integer_dtype

        kinds: dict[str, list] = {"X": [], "categorical": [], "bad": []}
        for column, dtype in df.dtypes.items():
            if isinstance(dtype, pd.CategoricalDtype):
                kinds["categorical"].append(column)
            elif is_integer_dtype(dtype) and not is_bool_dtype(dtype):
                kinds["categorical" if self.treat_int_as_categorical else "X"].append(column)
            elif is_float_dtype(dtype) or is_bool_dtype(dtype):
                kinds["X"].append(column)
            else:
                kinds["bad"].append(f"{column} ({dtype})")
        return kinds

    def fit(self, df: Any, y: Any = None, **fit_params: Any) -> DataFrameTransformer:
        """Check that every column can be turned into numbers."""
        bad = self._kinds(df)["bad"]
        if bad:
            raise TypeError(
                "These columns have dtypes that cannot be turned into numbers: "
                f"{', '.join(bad)}; encode them first, e.g. df[col].astype('category')."
            )
        return self

    def transform(self, df: Any) -> dict[str, np.ndarray]:
        """The dict ``{'X': floats, <categorical column>: codes, ...}``."""
        kinds = self._kinds(df)
        out: dict[str, np.ndarray] = {}
        if kinds["X"]:
            X = df[kinds["X"]].to_numpy()
            out["X"] = X if self.float_dtype is None else X.astype(self.float_dtype)
        for column in kinds["categorical"]:
            values = df[column]
            codes = values.cat.codes.to_numpy() if hasattr(values, "cat") else (
                values.to_numpy())
            out[column] = codes if self.int_dtype is None else codes.astype(self.int_dtype)
        return out

    def describe_signature(self, df: Any) -> dict[str, dict[str, Any]]:
        """For each output key, its torch dtype and ``input_units`` (columns or categories).

        Helps size a module: ``'X'`` has one unit per column, a categorical key one
        per category (the size of its embedding table).
        """
        kinds = self._kinds(df)
        signature = {}
        if kinds["X"]:
            dtype = np.dtype(self.float_dtype or df[kinds["X"]].to_numpy().dtype)
            signature["X"] = {"dtype": torch.from_numpy(np.zeros(0, dtype)).dtype,
                              "input_units": len(kinds["X"])}
        for column in kinds["categorical"]:
            values = df[column]
            n = len(values.cat.categories) if hasattr(values, "cat") else int(
                values.max()) + 1
            dtype = np.dtype(self.int_dtype or np.int64)
            signature[column] = {"dtype": torch.from_numpy(np.zeros(0, dtype)).dtype,
                                 "input_units": n}
        return signature
