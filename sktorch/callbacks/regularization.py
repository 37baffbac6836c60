"""Callbacks that act on gradients: ``GradientNormClipping``."""

from __future__ import annotations

import torch

from sktorch.callbacks.base import Callback

__all__ = ["GradientNormClipping"]


class GradientNormClipping(Callback):
    """Rescale the gradients so that their total norm is at most ``gradient_clip_value``.

    Runs after each backward pass, before the optimizer step
    (``torch.nn.utils.clip_grad_norm_``, which needs no device sync). With mixed
    precision on CUDA the gradients are unscaled first, so the limit applies to the
    true gradients.

    Parameters
    ----------
    gradient_clip_value : float or None, default=None
        The largest allowed norm; ``None`` turns clipping off.
    gradient_clip_norm_type : float, default=2
        The norm's type (``float('inf')`` for the largest absolute value).

    Examples
    --------
    >>> import numpy as np
    >>> from sktorch import NeuralNetRegressor
    >>> from sktorch.callbacks import GradientNormClipping
    >>> X = np.random.RandomState(0).randn(40, 3).astype('float32'); y = 100 * X[:, 0]
    >>> net = NeuralNetRegressor(lr=0.1, max_epochs=2, verbose=0,
    ...                          callbacks=[GradientNormClipping(1.0)]).fit(X, y)
    >>> bool(np.isfinite(net.history[-1]['train_loss']))
    True
    """

    def __init__(self, gradient_clip_value: float | None = None,
                 gradient_clip_norm_type: float = 2):
        self.gradient_clip_value = gradient_clip_value
        self.gradient_clip_norm_type = gradient_clip_norm_type

    def on_grad_computed(self, net, named_parameters, X=None, y=None, training=None,
                         **kwargs) -> None:
        if self.gradient_clip_value is None:
            return
        scaler = getattr(net, "_grad_scaler", None)
        if scaler is not None:
            scaler.unscale_(net.optimizer_)
        torch.nn.utils.clip_grad_norm_(
            [param for _, param in named_parameters],
            max_norm=self.gradient_clip_value,
            norm_type=self.gradient_clip_norm_type,
        )
