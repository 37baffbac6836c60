"""``NeuralNetRegressor``: a torch module as a scikit-learn regressor."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from sklearn.base import RegressorMixin
from sklearn.utils.validation import check_array

from sktorch import _builtin, _state_metadata
from sktorch._builtin import to_loss_units
from sktorch._data import to_tensor
from sktorch._predict import TensorScoreMixin, first_output, loss_input
from sktorch.net import NeuralNet

__all__ = ["NeuralNetRegressor"]

_CLASSIFICATION_LOSSES = (torch.nn.CrossEntropyLoss, torch.nn.NLLLoss)
# Losses that compare each output with the target in its place (and broadcast silently).
_ELEMENTWISE_LOSSES = (torch.nn.MSELoss, torch.nn.L1Loss, torch.nn.SmoothL1Loss,
                       torch.nn.HuberLoss)
_Y_NDIM_KEY = "sktorch_y_ndim"  # in the weights file's state-dict metadata


class _Unavailable:
    """A method a subclass does not offer: attribute access raises ``AttributeError``."""

    def __init__(self, name: str, reason: str):
        self.name = name
        self.reason = reason

    def __get__(self, obj: Any, owner: Any = None) -> Any:
        raise AttributeError(f"{owner.__name__ if owner else ''} has no {self.name}: "
                             f"{self.reason}.")


class NeuralNetRegressor(TensorScoreMixin, RegressorMixin, NeuralNet):
    """A torch module as a scikit-learn regressor.

    y may be 1-D or 2-D; float64 becomes float32. A 1-D y with a module of one
    output column is aligned to the output's shape in the loss (no silent
    broadcasting), and ``predict`` then returns a 1-D array (also after
    ``initialize()`` + ``load_params``). ``score`` is R². A module may return a
    tuple whose first element is the prediction.

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
        y_pred = loss_input(self.criterion_, y_pred)
        if isinstance(self.criterion_, _CLASSIFICATION_LOSSES) and isinstance(
                y_pred, torch.Tensor) and (y_pred.ndim == 1 or y_pred.shape[-1] == 1):
            raise ValueError(
                f"{type(self.criterion_).__name__} over a single output column is 0 for every "
                "sample (the softmax of one value is 1), so the net would learn nothing. "
                "For regression use a regression loss, e.g. criterion=torch.nn.MSELoss; to "
                "classify, use NeuralNetClassifier."
            )
        if (isinstance(y_pred, torch.Tensor) and y_pred.shape != y_true.shape
                and y_pred.numel() == y_true.numel()):
            y_true = y_true.reshape(y_pred.shape)
        if isinstance(self.criterion_, _ELEMENTWISE_LOSSES) and isinstance(
                y_pred, torch.Tensor) and y_pred.shape != y_true.shape:
            n_targets = y_true.shape[1] if y_true.ndim == 2 else 1
            raise ValueError(
                f"The module outputs shape {tuple(y_pred.shape)} for a batch whose y has "
                f"shape {tuple(y_true.shape)}; {type(self.criterion_).__name__} would "
                "broadcast them and compare outputs with the wrong targets. Give the "
                f"module {n_targets} output column(s), one per column of y."
            )
        statistics = self._target_statistics()
        if statistics is not None and isinstance(y_pred, torch.Tensor):
            y_pred, y_true = to_loss_units(y_pred, y_true, *statistics)
        return self.criterion_(y_pred, y_true)

    def save_params(self, *args: Any, **kwargs: Any) -> None:
        """As :meth:`NeuralNet.save_params`; the weights file also records y's shape.

        The shape goes into the state dict's metadata (torch format), so a net restored
        with ``initialize()`` + ``load_params`` predicts the shape the fitted one did.
        """
        y_ndim = vars(self).get("_y_ndim")
        module = getattr(self, "module_", None)
        if y_ndim is None or module is None:
            return super().save_params(*args, **kwargs)
        with _state_metadata.recording(module, _Y_NDIM_KEY, y_ndim):
            return super().save_params(*args, **kwargs)

    def load_params(self, *args: Any, **kwargs: Any) -> None:
        """As :meth:`NeuralNet.load_params`; restores y's shape recorded by ``save_params``."""
        module = getattr(self, "module_", None)
        if module is None:
            return super().load_params(*args, **kwargs)
        with _state_metadata.reading(module, _Y_NDIM_KEY) as found:
            result = super().load_params(*args, **kwargs)
        if "value" in found:
            self._y_ndim = int(found["value"])
        return result

    # A regressor has no probabilities: scikit-learn tells regressors from classifiers
    # by the absence of predict_proba.
    predict_proba = _Unavailable("predict_proba", "a regressor has no probabilities; use predict")

    def predict(self, X: Any) -> np.ndarray:
        """Predictions, shaped like the y of ``fit``, in its float dtype.

        A single output column gives a 1-D array when the net was fitted on a 1-D y.
        ``save_params`` records y's shape in the weights file (torch format), so
        ``initialize()`` + ``load_params`` restores it. A net that never saw y (fitted
        on a torch Dataset, or weights saved with safetensors) predicts the module's
        output as it is, as skorch does.

        The built-in model evaluates its (float32) weights in float64 when y was
        float64, so that each row's prediction does not depend on the other rows of
        its batch (float32 matrix products round differently for different batch
        sizes; scikit-learn's checks compare at ``atol=1e-7``).
        """
        dtype = getattr(self, "_y_dtype", None)
        if dtype == np.float64 and self.module is None and self.precision == "32":
            with torch.no_grad(), _builtin.float64_forward(self):
                y_out = first_output(self.forward(X, device=None))
                y_pred = self._predict_nonlinearity()(y_out).cpu().numpy()
        else:
            y_pred = NeuralNet.predict_proba(self, X)
        if getattr(self, "_y_ndim", 2) == 1 and y_pred.ndim == 2 and y_pred.shape[1] == 1:
            y_pred = y_pred[:, 0]
        return y_pred if dtype is None else y_pred.astype(dtype, copy=False)


_TORCH_FLOATS = {torch.float16: np.float16, torch.float32: np.float32,
                 torch.float64: np.float64}


def _prediction_dtype(y: Any) -> Any:
    """The dtype of predictions for targets ``y``: y's float dtype, else float64."""
    if isinstance(y, torch.Tensor):
        return np.dtype(_TORCH_FLOATS.get(y.dtype, np.float64 if not y.is_floating_point()
                                          else np.float32))
    return y.dtype if y.dtype.kind == "f" else np.dtype(np.float64)
