"""Small helpers of skorch's ``skorch.utils`` that user code imports.

They convert between numpy, torch and devices, route ``prefix__`` parameters,
inspect datasets and check that a net is initialized. Conversions inside the net
itself go through ``sktorch._data``; these are the public, skorch-compatible forms.
"""

from __future__ import annotations

import contextlib
from collections.abc import Generator, Iterable, Iterator, Mapping, Sequence
from typing import Any, Callable

import numpy as np
import scipy.sparse as sp
import torch
from torch.nn.utils.rnn import PackedSequence
from torch.utils.data import Subset

from sktorch import _params
from sktorch._data import is_dataframe, move, tensor_to_numpy
from sktorch._warnings import warn_user
from sktorch.exceptions import DeviceWarning, NotInitializedError

__all__ = [
    "FirstStepAccumulator",
    "TeeGenerator",
    "check_is_fitted",
    "data_from_dataset",
    "duplicate_items",
    "expected_failed_checks",
    "flatten",
    "freeze_parameter",
    "get_dim",
    "get_map_location",
    "is_dataset",
    "is_pandas_ndframe",
    "is_skorch_dataset",
    "is_sktorch_dataset",
    "is_torch_data_type",
    "multi_indexing",
    "noop",
    "open_file_like",
    "params_for",
    "to_device",
    "to_numpy",
    "to_tensor",
    "train_loss_score",
    "unfreeze_parameter",
    "valid_loss_score",
]


def is_torch_data_type(x: Any) -> bool:
    """Whether ``x`` is a tensor or a ``PackedSequence``.

    Examples
    --------
    >>> is_torch_data_type(torch.zeros(2)), is_torch_data_type(np.zeros(2))
    (True, False)
    """
    return isinstance(x, (torch.Tensor, PackedSequence))


def is_dataset(x: Any) -> bool:
    """Whether ``x`` is a ``torch.utils.data.Dataset``.

    Examples
    --------
    >>> from torch.utils.data import TensorDataset
    >>> is_dataset(TensorDataset(torch.zeros(2))), is_dataset([1, 2])
    (True, False)
    """
    return isinstance(x, torch.utils.data.Dataset)


def is_pandas_ndframe(x: Any) -> bool:
    """Whether ``x`` is a pandas DataFrame or Series (without importing pandas)."""
    return is_dataframe(x) or (type(x).__name__ == "Series" and hasattr(x, "iloc"))


def is_sktorch_dataset(ds: Any) -> bool:
    """Whether ``ds`` is an :class:`sktorch.dataset.Dataset` or a ``Subset`` of one."""
    from sktorch.dataset import Dataset

    while isinstance(ds, Subset):
        ds = ds.dataset
    return isinstance(ds, Dataset)


is_skorch_dataset = is_sktorch_dataset  # skorch's name


def to_tensor(X: Any, device: Any, accept_sparse: bool = False) -> Any:
    """Turn ``X`` into tensors on ``device``, keeping its dtype and structure.

    Dicts stay dicts and lists or tuples become lists, with every value converted;
    numpy arrays, pandas objects, scalars and sequences of numbers become tensors.
    A scipy sparse matrix becomes a sparse COO tensor when ``accept_sparse=True``.
    Unlike the conversion inside the net, float64 stays float64.

    Examples
    --------
    >>> t = to_tensor(np.array([[1.0, 2.0]]), device='cpu')
    >>> t.dtype, t.tolist()
    (torch.float64, [[1.0, 2.0]])
    >>> sorted(to_tensor({'a': [1, 2], 'b': 3}, device='cpu'))
    ['a', 'b']
    """
    def convert(x: Any) -> Any:
        return to_tensor(x, device=device, accept_sparse=accept_sparse)

    if is_torch_data_type(X):
        return to_device(X, device)
    if isinstance(X, Mapping):
        return {key: convert(value) for key, value in X.items()}
    if isinstance(X, (list, tuple)) and X and not np.isscalar(X[0]):
        return [convert(x) for x in X]
    if is_pandas_ndframe(X):
        X = X.to_numpy()
    if sp.issparse(X):
        if not accept_sparse:
            raise TypeError(
                "Got a scipy sparse matrix; pass accept_sparse=True to turn it into a sparse "
                "torch tensor, or call .toarray() first for a dense one."
            )
        coo = X.tocoo()
        index = torch.as_tensor(np.vstack([coo.row, coo.col]), dtype=torch.long)
        values = torch.as_tensor(coo.data)
        return torch.sparse_coo_tensor(index, values, coo.shape, device=device,
                                       check_invariants=True)
    if np.isscalar(X) or isinstance(X, (np.ndarray, Sequence, np.generic)):
        return torch.as_tensor(np.asarray(X), device=device)
    raise TypeError(
        f"Cannot convert {type(X).__name__} to a torch tensor; pass a numpy array, a "
        "tensor, a number, a sequence of numbers, or a dict/list of those."
    )


def to_numpy(X: Any) -> Any:
    """Turn tensors into numpy arrays (detached, on the CPU), keeping dicts and lists.

    Examples
    --------
    >>> to_numpy(torch.ones(2, requires_grad=True)).tolist()
    [1.0, 1.0]
    >>> to_numpy({'a': torch.zeros(1)})['a'].shape
    (1,)
    >>> to_numpy(torch.tensor([0.5], dtype=torch.bfloat16)).dtype  # numpy has no bfloat16
    dtype('float32')
    """
    if isinstance(X, np.ndarray):
        return X
    if isinstance(X, Mapping):
        return {key: to_numpy(value) for key, value in X.items()}
    if is_pandas_ndframe(X):
        return X.to_numpy()
    if isinstance(X, (list, tuple)) and not isinstance(X, PackedSequence):
        return type(X)(to_numpy(x) for x in X)
    if not isinstance(X, torch.Tensor):
        raise TypeError(
            f"Cannot convert {type(X).__name__} to a numpy array; pass a tensor, a numpy "
            "array, a pandas object, or a dict/list/tuple of those."
        )
    return tensor_to_numpy(X)


def to_device(X: Any, device: Any) -> Any:
    """Move tensors, modules, ``PackedSequence``s and dicts/lists/tuples of them.

    ``device=None`` leaves ``X`` where it is.

    Examples
    --------
    >>> to_device({'a': torch.zeros(1)}, 'cpu')['a'].device
    device(type='cpu')
    >>> to_device(torch.zeros(1), None).device
    device(type='cpu')
    """
    if device is None:
        return X
    if isinstance(X, (torch.nn.Module, PackedSequence)):
        return X.to(device)
    return move(X, device)


def get_dim(y: Any) -> int:
    """Number of dimensions of a numpy array or tensor.

    Examples
    --------
    >>> get_dim(np.zeros((2, 3))), get_dim(torch.zeros(4))
    (2, 1)
    """
    return y.ndim if hasattr(y, "ndim") else y.dim()


def flatten(arr: Any) -> Iterator:
    """Yield the items of nested lists and tuples in order.

    Examples
    --------
    >>> list(flatten([1, (2, [3, 4]), 5]))
    [1, 2, 3, 4, 5]
    """
    for item in arr:
        if isinstance(item, (tuple, list)):
            yield from flatten(item)
        else:
            yield item


def duplicate_items(*collections: Iterable) -> set:
    """Items that occur more than once across ``collections``.

    Examples
    --------
    >>> sorted(duplicate_items([1, 2], [2, 3, 3]))
    [2, 3]
    """
    seen: set = set()
    duplicates: set = set()
    for collection in collections:
        for item in collection:
            (duplicates if item in seen else seen).add(item)
    return duplicates


def params_for(prefix: str, kwargs: dict[str, Any]) -> dict[str, Any]:
    """The entries of ``kwargs`` that start with ``prefix__``, without the prefix.

    Examples
    --------
    >>> params_for('module', {'module__a': 1, 'module__b__c': 2, 'lr': 0.1})
    {'a': 1, 'b__c': 2}
    """
    return _params.params_for(prefix[:-2] if prefix.endswith("__") else prefix, kwargs)


def freeze_parameter(param: torch.nn.Parameter) -> None:
    """Stop training ``param`` (``requires_grad = False``)."""
    param.requires_grad = False


def unfreeze_parameter(param: torch.nn.Parameter) -> None:
    """Train ``param`` again (``requires_grad = True``)."""
    param.requires_grad = True


def get_map_location(target_device: Any, fallback_device: Any = "cpu") -> torch.device:
    """The device to load onto: ``target_device``, or the fallback when CUDA is missing.

    Warns with :class:`~sktorch.exceptions.DeviceWarning` when a CUDA device was asked
    for on a machine without one.

    Examples
    --------
    >>> get_map_location('cpu'), get_map_location(None)
    (device(type='cpu'), device(type='cpu'))
    """
    location = torch.device(fallback_device if target_device is None else target_device)
    if location.type == "cuda" and not torch.cuda.is_available():
        warn_user(
            f"Requested to load onto {location}, but no CUDA device is available; loading "
            f"onto {fallback_device!r} instead.",
            DeviceWarning,
        )
        location = torch.device(fallback_device)
    return location


def check_is_fitted(estimator: Any, attributes: Any = None, msg: str | None = None,
                    all_or_any: Callable = all) -> None:
    """Raise :class:`~sktorch.exceptions.NotInitializedError` unless ``estimator`` is ready.

    Parameters
    ----------
    estimator : NeuralNet
    attributes : str or list of str, default=['module_']
        Attributes the initialized estimator has.
    msg : str, optional
        The error message; ``%(name)s`` is replaced by the class name.
    all_or_any : callable, default=all
        Whether all or any of ``attributes`` must exist.

    Examples
    --------
    >>> from sktorch import NeuralNetRegressor
    >>> try:
    ...     check_is_fitted(NeuralNetRegressor())
    ... except NotInitializedError as exc:
    ...     print(str(exc)[:45])
    This NeuralNetRegressor instance is not initi
    """
    attributes = ["module_"] if attributes is None else attributes
    if isinstance(attributes, str):
        attributes = [attributes]
    if msg is None:
        msg = ("This %(name)s instance is not initialized yet. Call 'initialize' or 'fit' "
               "with appropriate arguments before using this method.")
    if not all_or_any(getattr(estimator, attr, None) is not None for attr in attributes):
        raise NotInitializedError(msg % {"name": type(estimator).__name__})


def noop(*args: Any, **kwargs: Any) -> None:
    """Do nothing (a placeholder callable)."""


@contextlib.contextmanager
def open_file_like(f: Any, mode: str):
    """Open a path, or use an already open file object as it is.

    Examples
    --------
    >>> import io
    >>> buffer = io.StringIO()
    >>> with open_file_like(buffer, 'w') as handle:
    ...     _ = handle.write('x')
    >>> buffer.getvalue()
    'x'
    """
    if hasattr(f, "read") or hasattr(f, "write"):
        yield f
        return
    with open(f, mode) as handle:
        yield handle


def multi_indexing(data: Any, i: Any, indexing: Callable | None = None) -> Any:
    """Rows ``i`` of arrays, tensors, DataFrames, lists, or dicts/tuples of them.

    Examples
    --------
    >>> multi_indexing({'a': np.arange(4)}, slice(1, 3))['a'].tolist()
    [1, 2]
    >>> multi_indexing([10, 11, 12], [0, 2])
    [10, 12]
    """
    if indexing is not None:
        return indexing(data, i)
    if data is None:
        return None
    if isinstance(data, Mapping):
        return {key: multi_indexing(value, i) for key, value in data.items()}
    if isinstance(data, tuple):
        return tuple(multi_indexing(value, i) for value in data)
    if is_pandas_ndframe(data):
        return data.iloc[i]
    if isinstance(data, list):
        if isinstance(i, (int, np.integer, slice)):
            return data[i]
        return [data[int(j)] for j in np.asarray(i)]
    if isinstance(data, torch.Tensor) and not isinstance(i, (int, slice)):
        return data[torch.as_tensor(np.asarray(i))]
    return data[i]


def data_from_dataset(dataset: Any, X_indexing: Any = None, y_indexing: Any = None):
    """``(X, y)`` held by an :class:`sktorch.dataset.Dataset` or a ``Subset`` of one.

    Raises ``AttributeError`` for other datasets, whose data sktorch cannot reach
    without reading every row.

    Examples
    --------
    >>> from sktorch.dataset import Dataset
    >>> X, y = data_from_dataset(Subset(Dataset(np.arange(6.0).reshape(3, 2),
    ...                                         np.arange(3)), [2, 0]))
    >>> X.tolist(), y.tolist()
    ([[4.0, 5.0], [0.0, 1.0]], [2, 0])
    """
    from sktorch.dataset import Dataset

    if isinstance(dataset, Subset):
        X, y = data_from_dataset(dataset.dataset, X_indexing, y_indexing)
        index = np.asarray(dataset.indices)
        return multi_indexing(X, index, X_indexing), multi_indexing(y, index, y_indexing)
    if isinstance(dataset, Dataset):
        return dataset.X, dataset.y
    raise AttributeError(
        f"Could not access X and y from a {type(dataset).__name__}; data_from_dataset "
        "works on sktorch.dataset.Dataset and Subsets of it."
    )


def train_loss_score(net: Any, X: Any = None, y: Any = None) -> float:
    """The training loss of the last batch (a scorer for ``BatchScoring``)."""
    return net.history[-1, "batches", -1, "train_loss"]


def valid_loss_score(net: Any, X: Any = None, y: Any = None) -> float:
    """The validation loss of the last batch (a scorer for ``BatchScoring``)."""
    return net.history[-1, "batches", -1, "valid_loss"]


class FirstStepAccumulator:
    """Keep the first of several results of one optimizer step (e.g. LBFGS's closure).

    Examples
    --------
    >>> acc = FirstStepAccumulator()
    >>> acc.store_step({'loss': 1}); acc.store_step({'loss': 2})
    >>> acc.get_step()
    {'loss': 1}
    """

    def __init__(self) -> None:
        self.step: Any = None

    def store_step(self, step: Any) -> None:
        """Remember ``step`` unless a step was stored already."""
        if self.step is None:
            self.step = step

    def get_step(self) -> Any:
        """The first stored step."""
        return self.step


class TeeGenerator:
    """Let a generator be iterated several times: its items are kept as they come.

    Examples
    --------
    >>> tee = TeeGenerator(x * x for x in range(3))
    >>> list(tee), list(tee)
    ([0, 1, 4], [0, 1, 4])
    """

    def __init__(self, gen: Generator | Iterator):
        self.gen = gen
        self._seen: list = []

    def __iter__(self) -> Iterator:
        yield from list(self._seen)
        for item in self.gen:
            self._seen.append(item)
            yield item


_WEIGHT_CHECKS = ("check_sample_weight_equivalence_on_dense_data",
                  "check_sample_weight_equivalence_on_sparse_data")


def expected_failed_checks(estimator: Any) -> dict[str, str]:
    """scikit-learn's estimator checks that ``estimator`` is expected to fail, with why.

    Pass it to scikit-learn's mechanism for declaring them:
    ``check_estimator(net, expected_failed_checks=expected_failed_checks(net))`` or
    ``parametrize_with_checks(nets, expected_failed_checks=expected_failed_checks)``.
    The sample-weight-equivalence checks compare a fit with integer sample weights
    and a fit on repeated rows at ``rtol=1e-7``: they hold for a net that computes
    in float64 (``precision='64'``) and sees the same rows in both fits
    (``train_split=None``; a validation split holds out other rows of repeated
    data). Every other check passes.

    Parameters
    ----------
    estimator : NeuralNet

    Returns
    -------
    dict
        Check names and the reason each is expected to fail.

    Examples
    --------
    >>> from sktorch import NeuralNetClassifier
    >>> sorted(expected_failed_checks(NeuralNetClassifier()))[0]
    'check_sample_weight_equivalence_on_dense_data'
    >>> expected_failed_checks(NeuralNetClassifier(precision="64", train_split=None))
    {}
    """
    reasons = []
    if getattr(estimator, "precision", "64") != "64":
        reasons.append(f"precision={estimator.precision!r} rounds at ~1e-6, above the "
                       "checks' rtol=1e-7 (they pass with precision='64')")
    if getattr(estimator, "train_split", None) not in (None, False):
        reasons.append("the validation split holds out different rows of the repeated "
                       "data (they pass with train_split=None)")
    if not reasons:
        return {}
    return dict.fromkeys(_WEIGHT_CHECKS, "; ".join(reasons))
