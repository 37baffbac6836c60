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

__all__ = ["to_float64", "dataset_to_float64", "cast_fitted"]


def to_float64(data: Any) -> Any:
    """Floating (and bool) data as float64; integer data (e.g. token ids) is left alone."""
    if isinstance(data, Mapping):
        return {key: to_float64(value) for key, value in data.items()}
    if isinstance(data, (list, tuple)):  # a list of arrays (validated X)
        return type(data)(to_float64(value) for value in data)
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


def cast_fitted(net: Any) -> bool:
    """Cast a fitted net's modules and optimizer state to its ``precision``; True if any.

    ``set_params(precision='64')`` after a fit: the float32 weights become float64
    (and back for ``'32'``, ``'bf16'``, ``'16-mixed'``, which keep float32 weights),
    so predicting and further training see one dtype. Only float32 and float64
    tensors change; a module the user built in half precision stays as it is.
    """
    from sktorch import _components

    dtype, other = ((torch.float64, torch.float32) if net.precision == "64"
                    else (torch.float32, torch.float64))
    modules = [m for m in [getattr(net, "module_", None), *_components.extra_modules(net)]
               if isinstance(m, torch.nn.Module)]
    changed = False
    for module in modules:
        for sub in module.modules():
            for name, tensor in [*sub._parameters.items(), *sub._buffers.items()]:
                if tensor is not None and tensor.dtype == other:
                    changed = True
                    if isinstance(tensor, torch.nn.Parameter):
                        tensor.data = tensor.data.to(dtype)  # same Parameter: optimizers keep it
                        tensor.grad = None if tensor.grad is None else tensor.grad.to(dtype)
                    else:
                        sub._buffers[name] = tensor.to(dtype)
    if changed:
        for optimizer in [getattr(net, "optimizer_", None), *_components.extra_optimizers(net)]:
            if optimizer is not None:  # loading casts the state (e.g. Adam's moments)
                optimizer.load_state_dict(optimizer.state_dict())
    return changed
