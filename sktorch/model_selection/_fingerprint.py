"""Hashable stand-ins for parameters (:func:`token`) and training data (:func:`fingerprint`).

Two fits with equal tokens and fingerprints train the same model, so a search may
hand one's result to the other. Data is hashed in full (BLAKE2b over the bytes, with
shape and dtype): folds differ in which rows they hold, and a sampled hash could
mistake one fold for another. Anything that cannot be hashed gives None, which
means "not cacheable" and makes the fit train normally.
"""

from __future__ import annotations

import hashlib
import pickle
import types
from typing import Any

import numpy as np
import torch

__all__ = ["fingerprint", "token"]

_SCALARS = (type(None), bool, int, float, complex, str, bytes, np.generic)
_BY_IDENTITY = (type, types.FunctionType, types.BuiltinFunctionType, types.MethodType,
                torch.dtype, torch.device)


class _Unhashable(Exception):
    """Raised inside :func:`token` when a value cannot be compared."""


def token(value: Any) -> Any:
    """A hashable value equal for equal parameters, or None when there is none."""
    try:
        return _token(value)
    except (_Unhashable, RecursionError):
        return None


def _token(value: Any) -> Any:
    if isinstance(value, _SCALARS):
        return (type(value), value)
    if isinstance(value, _BY_IDENTITY):
        return value
    if isinstance(value, (list, tuple)):
        return (type(value), tuple(_token(v) for v in value))
    if isinstance(value, dict):
        return (dict, tuple(sorted((str(k), _token(v)) for k, v in value.items())))
    if isinstance(value, (np.ndarray, torch.Tensor)):
        return ("data", fingerprint(value))
    if hasattr(value, "get_params") and not isinstance(value, torch.nn.Module):
        try:
            params = value.get_params(deep=False)
        except TypeError:
            params = value.get_params()
        return (type(value), _token(params))
    try:  # module instances, RandomState, partials, ...: equal state pickles equally
        return (type(value), _digest(pickle.dumps(value, protocol=4)))
    except Exception as exc:  # any pickling failure means "cannot compare"
        raise _Unhashable(type(value).__name__) from exc


def _digest(*chunks: Any) -> bytes:
    h = hashlib.blake2b(digest_size=16)
    for chunk in chunks:
        h.update(chunk if isinstance(chunk, (bytes, memoryview)) else repr(chunk).encode())
    return h.digest()


def fingerprint(data: Any) -> Any:
    """A digest of training data (arrays, tensors, DataFrames, sparse, dicts), or None."""
    if data is None:
        return None
    try:
        return _fingerprint(data)
    except Exception:  # whatever fails to hash is simply not cacheable
        return None


def _fingerprint(data: Any) -> Any:
    if isinstance(data, np.ndarray):
        if data.dtype.hasobject:
            return _digest("object", data.shape, pickle.dumps(data, protocol=4))
        return _digest(data.shape, data.dtype.str, np.ascontiguousarray(data).reshape(-1).view(
            np.uint8).data)
    if isinstance(data, torch.Tensor):
        flat = data.detach().reshape(-1).contiguous().cpu()
        return _digest("tensor", tuple(data.shape), str(data.dtype),
                       flat.view(torch.uint8).numpy().data if flat.numel() else b"")
    if isinstance(data, dict):
        return _digest(type(data).__name__, *(
            (str(k), _fingerprint(v)) for k, v in sorted(data.items(), key=lambda kv: str(kv[0]))))
    if hasattr(data, "tocsr") and hasattr(data, "nnz"):  # scipy sparse
        csr = data.tocsr()
        return _digest("sparse", csr.shape, _fingerprint(csr.data), _fingerprint(csr.indices),
                       _fingerprint(csr.indptr))
    if hasattr(data, "dtypes") and hasattr(data, "columns"):  # pandas DataFrame
        return _digest("frame", tuple(map(str, data.columns)), tuple(map(str, data.dtypes)),
                       *(_fingerprint(data.iloc[:, i].to_numpy()) for i in range(data.shape[1])))
    if hasattr(data, "to_numpy") and hasattr(data, "dtype"):  # pandas Series
        return _digest("series", str(data.dtype), _fingerprint(data.to_numpy()))
    if isinstance(data, (list, tuple)):
        return _digest("seq", _fingerprint(np.asarray(data)))
    raise _Unhashable(type(data).__name__)
