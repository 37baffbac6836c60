"""Validation of parameters (once, at fit) and of inputs (at fit, predict and score).

Errors say what was expected, what was received, and what to write instead.
Inputs that are torch ``Dataset`` objects skip array validation: sktorch cannot
look inside them without reading every row.
"""

from __future__ import annotations

import copy
import inspect
from numbers import Integral, Real
from typing import Any, Callable

import numpy as np
import scipy.sparse as sp
import torch
from sklearn.utils import get_tags
from sklearn.utils.validation import check_consistent_length, validate_data

from sktorch._data import _dataframe_to_array, all_finite, is_array_list, is_dataframe
from sktorch._weights import check_class_weight

__all__ = ["check_net_params", "check_X_y", "check_valid_order", "check_tensor_dtype", "on_cpu"]


def _is_int(v: Any) -> bool:
    return isinstance(v, Integral) and not isinstance(v, bool)


def _is_number(v: Any) -> bool:
    return isinstance(v, Real) and not isinstance(v, bool)


_NOT_FINITE = "Input X contains NaN or infinity; impute or drop those values first."

# parameter -> (test, what is expected)
_RULES: dict[str, tuple[Callable[[Any], bool], str]] = {
    "lr": (lambda v: _is_number(v) and v >= 0, "a non-negative number, e.g. lr=0.01"),
    "max_epochs": (lambda v: _is_int(v) and v >= 0, "a non-negative int, e.g. max_epochs=10"),
    "batch_size": (lambda v: _is_int(v) and (v > 0 or v == -1),
                   "a positive int, or -1 for all rows in one batch"),
    "verbose": (lambda v: isinstance(v, (bool, Integral)) and v >= 0, "a non-negative int"),
    "warm_start": (lambda v: isinstance(v, (bool, np.bool_)), "True or False"),
    "compile": (lambda v: isinstance(v, (bool, np.bool_)), "True or False"),
    "precision": (lambda v: isinstance(v, str) and v in ("32", "64", "bf16", "16-mixed"),
                  "one of '32', '64', 'bf16', '16-mixed'"),
    "use_caching": (lambda v: isinstance(v, (bool, np.bool_)) or v == "auto",
                    "True, False or 'auto'"),
    "on_nan": (lambda v: isinstance(v, str) and v in ("raise", "stop"),
               "'raise' or 'stop'"),
    "torch_load_kwargs": (lambda v: v is None or isinstance(v, dict),
                          "None or a dict of torch.load arguments, e.g. "
                          "{'weights_only': False}"),
    "class_weight": (check_class_weight, "None, 'balanced' or a dict {label: weight}"),
    "predict_nonlinearity": (lambda v: v is None or v == "auto" or callable(v),
                             "'auto', None or a callable"),
    "optimizer": (callable, "a torch.optim.Optimizer class, e.g. torch.optim.Adam"),
    "train_split": (lambda v: v is None or v is False or callable(v),
                    "None (or False) or a callable such as ValidSplit(5)"),
    "callbacks": (lambda v: v is None or v == "disable" or isinstance(v, (list, tuple)),
                  "None, 'disable' or a list of callbacks"),
    "device": (lambda v: v is None or isinstance(v, (str, torch.device)),
               "a device name such as 'cpu' or 'cuda', or None"),
}


def check_net_params(net: Any) -> None:
    """Check the net's parameter values; raise ``ValueError`` naming the first bad one."""
    for name, (test, expected) in _RULES.items():
        if not hasattr(net, name):  # e.g. class_weight exists on classifiers only
            continue
        value = getattr(net, name)
        try:
            valid = bool(test(value))
        except Exception:  # e.g. an array compared with a string
            valid = False
        if not valid:
            raise ValueError(
                f"{type(net).__name__}: invalid value for parameter {name!r}: expected "
                f"{expected}; got {value!r} ({type(value).__name__})."
            )
    _check_loss_alias(net)
    check_valid_order(net)
    _check_device_available(net)


def on_cpu(device: Any) -> bool:
    """Whether ``device`` (None: the CPU) is the CPU; False for a device torch does not know."""
    try:
        return torch.device(device or "cpu").type == "cpu"
    except (RuntimeError, TypeError, ValueError):
        return False


def _check_device_available(net: Any) -> None:
    """A CUDA device that this torch cannot reach fails here, not in torch's assert."""
    device = getattr(net, "device", None)
    try:
        kind = torch.device(device).type if device is not None else "cpu"
    except (RuntimeError, TypeError) as error:
        raise ValueError(
            f"{type(net).__name__}: device={device!r} is not a device torch knows ({error}); "
            "write e.g. 'cpu', 'cuda' or 'cuda:1'.") from None
    if kind == "cuda" and not torch.cuda.is_available():
        raise ValueError(
            f"{type(net).__name__}: device={device!r}, but this torch sees no CUDA device "
            "(torch.cuda.is_available() is False: no GPU, no driver, or a CPU-only build of "
            f"torch {torch.__version__}). Use device='cpu' (or None) here.")


def check_valid_order(net: Any) -> None:
    """Predictions and validation scores pair outputs with rows by position."""
    if getattr(net, "_kwargs", {}).get("iterator_valid__shuffle"):
        raise ValueError(
            f"{type(net).__name__} got iterator_valid__shuffle=True, which would return "
            "predict/predict_proba rows (and score validation predictions) in another "
            "order than X's rows. Remove it: validation losses and scores do not depend "
            "on the order, and training batches are shuffled by iterator_train."
        )


def _check_loss_alias(net: Any) -> None:
    if net.loss_function is None or net.criterion is None:
        return
    default = inspect.signature(type(net).__init__).parameters.get("criterion")
    default = default.default if default is not None else None
    if net.criterion is not default and net.criterion is not net.loss_function:
        raise ValueError(
            f"{type(net).__name__} got both criterion={net.criterion!r} and "
            f"loss_function={net.loss_function!r}; loss_function is an alias of criterion, "
            "so pass only one of them."
        )


def check_tensor_dtype(data: torch.Tensor, what: str) -> None:
    """Refuse float8 tensors, which torch cannot sum, compare or promote on the CPU.

    bfloat16 and float16 tensors are accepted (the net trains at its ``precision``).
    """
    if data.is_floating_point() and data.element_size() == 1:
        raise TypeError(
            f"{what} is a {data.dtype} tensor; sktorch cannot check or train on float8 "
            f"data. Convert it first, e.g. {what}.float() (set the training precision "
            "with precision='bf16' or '16-mixed')."
        )


def _check_tensor(net: Any, X: torch.Tensor, reset: bool) -> torch.Tensor:
    check_tensor_dtype(X, "X")
    if X.requires_grad:  # the data is no part of the graph (backward would reach it)
        X = X.detach()
    if X.ndim < 2:
        raise ValueError(
            f"Expected a 2D X, got a {X.ndim}D tensor of shape {tuple(X.shape)}; reshape it, "
            "e.g. X.reshape(-1, 1) for a single feature or X.reshape(1, -1) for one sample."
        )
    if X.shape[0] == 0:
        raise ValueError(f"Found array with 0 sample(s) (shape={tuple(X.shape)}); X is empty.")
    if X.is_complex():
        raise ValueError("Complex data not supported; pass real-valued features.")
    check_2d(net, X.ndim, X.shape)
    if not all_finite(X):
        raise ValueError(_NOT_FINITE)
    _check_n_features(net, X.shape[1], reset)
    if net.module is None and not X.is_floating_point():  # the built-in MLP needs floats
        X = X.float()
    return X


def _check_n_features(net: Any, n_features: int, reset: bool) -> None:
    if reset:
        net.n_features_in_ = n_features
        vars(net).pop("feature_names_in_", None)
    elif hasattr(net, "n_features_in_") and n_features != net.n_features_in_:
        raise ValueError(
            f"X has {n_features} features, but {type(net).__name__} is expecting "
            f"{net.n_features_in_} features as input."
        )


def _check_array(net: Any, X: Any, reset: bool) -> Any:
    if is_dataframe(X):
        _dataframe_to_array(X.iloc[:0])  # names non-numeric columns before anything else
    if getattr(X, "ndim", 2) > 2:  # before validate_data learns anything from X
        check_2d(net, X.ndim, X.shape)
    # The built-in MLP needs floats; a user module may take integers (e.g. token ids).
    dtype = (np.float32, np.float64) if net.module is None else "numeric"
    X = validate_data(
        net, X, reset=reset, accept_sparse="csr", dtype=dtype,
        ensure_all_finite=False, allow_nd=True,
    )
    check_2d(net, X.ndim, X.shape)
    # Checked here rather than by validate_data, whose float64 sum is ~5x slower.
    if not all_finite(X.data if sp.issparse(X) else X):
        raise ValueError(_NOT_FINITE)
    return X


def _dict_value(key: Any, value: Any) -> Any:
    """One array of a dict X, validated like an array X (numeric, finite, not 0-d)."""
    where = f"X[{key!r}]"
    if isinstance(value, torch.Tensor):
        check_tensor_dtype(value, where)
        value = value.detach() if value.requires_grad else value
        data = value
    elif sp.issparse(value):
        data = value.data
    elif is_dataframe(value):
        value = data = _dataframe_to_array(value)
    else:
        value = data = np.asarray(value)
        if value.dtype.kind in "USV":
            raise ValueError(
                f"{where} holds strings (dtype {value.dtype}); encode them as numbers "
                "first, e.g. with sklearn.preprocessing.OrdinalEncoder."
            )
        if value.dtype.kind == "O":
            try:
                value = data = value.astype(np.float32)
            except (TypeError, ValueError):
                raise ValueError(
                    f"{where} has dtype object with values that are not numbers; encode "
                    "them as numbers first."
                ) from None
    if data.ndim == 0 and not sp.issparse(value):
        raise ValueError(f"{where} is a scalar; every array of a dict X needs one row per "
                         "sample.")
    if data.is_complex() if isinstance(data, torch.Tensor) else np.iscomplexobj(data):
        raise ValueError(f"{where} holds complex numbers; pass real-valued features.")
    if not all_finite(data if isinstance(data, torch.Tensor) else np.asarray(data)):
        raise ValueError(f"{where} contains NaN or infinity; impute or drop those values "
                         "first.")
    return value


def _check_dict(X: dict) -> dict:
    """Validate each array of a dict X; return the dict (a new one when a value changed)."""
    if not X:
        raise ValueError(
            "X is an empty dict; pass a dict of arrays, one per argument of the module's "
            "forward, e.g. X={'x': features}."
        )
    checked = {key: _dict_value(key, value) for key, value in X.items()}
    lengths = {key: value.shape[0] for key, value in checked.items()}
    if len(set(lengths.values())) > 1:
        raise ValueError(
            f"The arrays of X have different lengths: {lengths}; every array "
            "needs one row per sample."
        )
    if all(checked[key] is X[key] for key in X):
        return X
    if type(X) is dict:
        return checked
    rebuilt = copy.copy(X)  # e.g. a SliceDict: keep the type scikit-learn indexes
    rebuilt.update(checked)
    return rebuilt


def _check_array_list(X: Any) -> Any:
    """Validate each array of a list/tuple X as those of a dict X; keep its type."""
    checked = _check_dict(dict(enumerate(X)))
    return type(X)(checked[i] for i in range(len(X)))


def _n_samples(X: Any) -> int:
    if isinstance(X, dict):
        return next(iter(X.values())).shape[0]
    if isinstance(X, (list, tuple)):  # a list of arrays (others are arrays by now)
        return X[0].shape[0]
    return X.shape[0] if hasattr(X, "shape") else len(X)


def _check_y_given(net: Any, y: Any) -> None:
    if y is None and get_tags(net).target_tags.required:
        raise ValueError(
            f"{type(net).__name__} requires y to be passed, but the target y is None; "
            "call fit(X, y) with the targets."
        )


def check_X_y(net: Any, X: Any, y: Any, fitting: bool) -> tuple[Any, Any]:
    """Validate X (and y when fitting); return them ready for conversion.

    When fitting a net that has not seen data yet, ``n_features_in_`` (and
    ``feature_names_in_`` for DataFrames) are learned; otherwise X must match them.
    """
    from sktorch.helper import SliceDataset

    reset = fitting and not hasattr(net, "n_features_in_")
    if isinstance(X, (torch.utils.data.Dataset, SliceDataset)):  # y may come from X
        return X, (net._check_y(y) if fitting and y is not None else y)
    if fitting:
        _check_y_given(net, y)
    if isinstance(X, dict) and not sp.issparse(X):  # a dok_matrix is a dict too
        X = _check_dict(X)
    elif is_array_list(X):
        X = _check_array_list(X)
    elif isinstance(X, torch.Tensor):
        X = _check_tensor(net, X, reset)
    elif X is None:
        raise TypeError("X is None; pass the training data as an array, tensor or Dataset.")
    else:
        if not (sp.issparse(X) or is_dataframe(X) or hasattr(X, "__array__")
                or isinstance(X, (list, tuple))):
            raise TypeError(
                f"X of type {type(X).__name__} is not supported; pass a numpy array, tensor, "
                "DataFrame, scipy sparse matrix, dict of arrays or a torch Dataset."
            )
        X = _check_array(net, X, reset)
    if fitting and y is not None:
        y = net._check_y(y)
        n_x = _n_samples(X)
        check_consistent_length(np.empty((n_x, 0)), y if not isinstance(y, torch.Tensor)
                                else np.empty((len(y), 0)))
    return X, y


def check_2d(net: Any, ndim: int, shape: Any) -> None:
    """The built-in MLP takes 2-D X (see ``sktorch._builtin.check_2d``)."""
    from sktorch._builtin import check_2d as check  # _builtin imports the callbacks

    check(net, ndim, shape)
