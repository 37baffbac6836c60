"""``NeuralNetRegressor``: a torch module as a scikit-learn regressor."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from sklearn.base import RegressorMixin
from sklearn.utils.validation import check_array

from sktorch._data import to_tensor
from sktorch.net import NeuralNet

__all__ = ["NeuralNetRegressor"]


class _Unavailable:
    """A method a subclass does not offer: attribute access raises ``AttributeError``."""

    def __init__(self, name: str, reason: str):
        self.name = name
        self.reason = reason

    def __get__(self, obj: Any, owner: Any = None) -> Any:
        raise AttributeError(f"{owner.__name__ if owner else ''} has no {self.name}: "
                             f"{self.reason}.")


class NeuralNetRegressor(RegressorMixin, NeuralNet):
    """A torch module as a scikit-learn regressor.

    y may be 1-D or 2-D; it trains as float32 (float64 with ``precision='64'``).
    A 1-D y with a module of one output column is aligned to the output's shape in
    the loss (no silent broadcasting), and ``predict`` then returns a 1-D array.
    Predictions have the float dtype of the y given to fit (float64 for integer
    y), as scikit-learn's regressors. ``score`` is R².

    Parameters
    ----------
    module : nn.Module class, instance or None
        ``None`` builds an MLP with one output per target column; it learns
        standardized targets and predicts in the targets' units (see the
        built-in model's rules in :class:`~sktorch.NeuralNet`).
    criterion : loss class, default=torch.nn.MSELoss
    **kwargs
        Every other :class:`~sktorch.NeuralNet` parameter.

    Examples
    --------
    >>> import numpy as np
    >>> from sktorch import NeuralNetRegressor
    >>> X = np.random.RandomState(0).randn(100, 4); y = X @ [1., 2., 0., -1.]
    >>> NeuralNetRegressor(max_epochs=3, verbose=0).fit(X, y).predict(X).shape
    (100,)
    """

    _default_criterion = torch.nn.MSELoss
    _standardizes_targets = True  # the built-in model learns standardized targets

    def __init__(self, module: Any = None, criterion: Any = torch.nn.MSELoss, **kwargs: Any):
        super().__init__(module, criterion=criterion, **kwargs)

    def _check_y(self, y: Any) -> Any:
        if isinstance(y, torch.Tensor):
            y = super()._check_y(y)
        else:
            y = check_array(y, ensure_2d=False, dtype="numeric", ensure_all_finite=True,
                            input_name="y")
        self._y_ndim = y.ndim
        self._y_dtype = _prediction_dtype(y)
        return y

    def _encode_y(self, y: Any) -> tuple[Any, Any]:
        if y is None:
            return None, None
        tensor = to_tensor(y, "y")
        return (tensor if tensor.is_floating_point() else tensor.float()), None

    def get_loss(self, y_pred: Any, y_true: Any, X: Any = None, training: bool = False):
        if (isinstance(y_pred, torch.Tensor) and y_pred.shape != y_true.shape
                and y_pred.numel() == y_true.numel()):
            y_true = y_true.reshape(y_pred.shape)
        return self.criterion_(y_pred, y_true)

    # A regressor has no probabilities: scikit-learn tells regressors from classifiers
    # by the absence of predict_proba.
    predict_proba = _Unavailable("predict_proba", "a regressor has no probabilities; use predict")

    def predict(self, X: Any) -> np.ndarray:
        """Predictions in the float dtype of fit's y; 1-D when that y was 1-D."""
        y_pred = NeuralNet.predict_proba(self, X)
        if getattr(self, "_y_ndim", 2) == 1 and y_pred.ndim == 2 and y_pred.shape[1] == 1:
            y_pred = y_pred[:, 0]
        dtype = getattr(self, "_y_dtype", None)
        return y_pred if dtype is None else y_pred.astype(dtype, copy=False)


_TORCH_FLOATS = {torch.float16: np.float16, torch.float32: np.float32,
                 torch.float64: np.float64}


def _prediction_dtype(y: Any) -> Any:
    """The dtype of predictions for targets ``y``: y's float dtype, else float64."""
    if isinstance(y, torch.Tensor):
        return np.dtype(_TORCH_FLOATS.get(y.dtype, np.float64 if not y.is_floating_point()
                                          else np.float32))
    return y.dtype if y.dtype.kind == "f" else np.dtype(np.float64)
