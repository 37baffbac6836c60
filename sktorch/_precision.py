"""``precision='64'``: train and predict in float64.

The data layer converts floating inputs to float32 (the fast default). With
``precision='64'`` the module is cast to float64 and the in-memory data is
converted again from the original arrays, so float64 inputs keep every bit.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import scipy.sparse as sp
import torch

from sktorch._data import from_numpy, is_dataframe

__all__ = ["to_float64", "dataset_to_float64"]


def to_float64(data: Any) -> Any:
    """Floating (and bool) data as float64; integer data (e.g. token ids) is left alone."""
    if isinstance(data, Mapping):
        return {key: to_float64(value) for key, value in data.items()}
    if sp.issparse(data):
        return sp.csr_matrix(data, dtype=np.float64) if data.dtype.kind in "fb" else data
    if is_dataframe(data):
        data = data.to_numpy()
    tensor = data.detach() if isinstance(data, torch.Tensor) else from_numpy(np.asarray(data))
    if tensor.is_floating_point() or tensor.dtype == torch.bool:
        return tensor.to(torch.float64)
    return tensor


def dataset_to_float64(dataset: Any, X: Any, y: Any) -> Any:
    """Replace a ``Dataset``'s float32 features (and float targets) by float64 ones."""
    dataset.X = to_float64(X)
    if dataset.y is not None and dataset.y.is_floating_point() and y is not None:
        # .to: integer targets that the regressor made float stay float (as float64)
        dataset.y = to_float64(y).reshape(dataset.y.shape).to(torch.float64)
    return dataset
