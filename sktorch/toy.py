"""Ready-made modules: a configurable multi-layer perceptron and shortcuts for common tasks."""

from __future__ import annotations

import copy
from functools import partial
from typing import Any

import torch
from torch import nn

__all__ = [
    "MLPModule",
    "DefaultMLP",
    "Standardize",
    "make_classifier",
    "make_binary_classifier",
    "make_regressor",
]


class MLPModule(nn.Module):
    """A multi-layer perceptron.

    Parameters
    ----------
    input_units : int, default=20
        Number of input features.
    output_units : int, default=2
        Number of outputs.
    hidden_units : int, default=10
        Width of each hidden layer.
    num_hidden : int, default=1
        Number of hidden layers.
    nonlin : torch.nn.Module, default=ReLU()
        Activation after each hidden layer.
    output_nonlin : torch.nn.Module or None, default=None
        Activation applied to the output (e.g. ``nn.Softmax(dim=-1)``).
    dropout : float, default=0
        Dropout probability after each hidden layer.
    squeeze_output : bool, default=False
        Return shape ``(n,)`` instead of ``(n, 1)`` for a single output.

    Examples
    --------
    >>> import torch
    >>> MLPModule(input_units=3, output_units=2)(torch.zeros(5, 3)).shape
    torch.Size([5, 2])
    """

    def __init__(
        self,
        input_units: int = 20,
        output_units: int = 2,
        hidden_units: int = 10,
        num_hidden: int = 1,
        nonlin: nn.Module = nn.ReLU(),  # noqa: B008 - copied below, never shared
        output_nonlin: nn.Module | None = None,
        dropout: float = 0,
        squeeze_output: bool = False,
    ):
        super().__init__()
        # Copies: a module put in this tree is switched by train()/eval(), and the default
        # (or a user's) instance must not change when one net trains.
        nonlin = copy.deepcopy(nonlin)
        output_nonlin = copy.deepcopy(output_nonlin)
        self.input_units = input_units
        self.output_units = output_units
        self.hidden_units = hidden_units
        self.num_hidden = num_hidden
        self.nonlin = nonlin
        self.output_nonlin = output_nonlin
        self.dropout = dropout
        self.squeeze_output = squeeze_output
        layers: list[nn.Module] = []
        width = input_units
        for _ in range(num_hidden):
            layers += [nn.Linear(width, hidden_units), nonlin]
            if dropout:
                layers.append(nn.Dropout(dropout))
            width = hidden_units
        layers.append(nn.Linear(width, output_units))
        if output_nonlin is not None:
            layers.append(output_nonlin)
        self.sequential = nn.Sequential(*layers)

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        out = self.sequential(X)
        return out.squeeze(-1) if self.squeeze_output else out


class Standardize(nn.Module):
    """Standardize features with fixed statistics: ``(X - mean) / scale``.

    The statistics are buffers (saved with the weights, never trained). With
    ``inverse=True`` the layer undoes a standardization: ``X * scale + mean``.
    Fresh buffers (zeros and ones) make the layer the identity until
    :meth:`set_statistics` fills them.

    Parameters
    ----------
    n_features : int
        Length of the last dimension of the input.
    inverse : bool, default=False
        Compute ``X * scale + mean`` instead.

    Examples
    --------
    >>> import torch
    >>> layer = Standardize(2)
    >>> layer.set_statistics(torch.tensor([1., 10.]), torch.tensor([2., 5.]))
    >>> layer(torch.tensor([[3., 20.]]))
    tensor([[1., 2.]])
    """

    def __init__(self, n_features: int, inverse: bool = False):
        super().__init__()
        self.inverse = inverse
        self.register_buffer("mean", torch.zeros(n_features))
        self.register_buffer("scale", torch.ones(n_features))
        self._identity_at: tuple | None = None  # see _is_identity

    def set_statistics(self, mean: torch.Tensor, scale: torch.Tensor) -> None:
        """Copy ``mean`` and ``scale`` (a zero scale counts as 1) into the buffers."""
        scale = torch.as_tensor(scale).reshape(self.scale.shape)
        scale = torch.where(scale > 0, scale, torch.ones_like(scale))
        with torch.no_grad():
            self.mean.copy_(torch.as_tensor(mean).reshape(self.mean.shape))
            self.scale.copy_(scale)

    def _is_identity(self) -> bool:
        """Whether the buffers hold zeros and ones (e.g. a classifier's ``unstandardize``).

        The answer is kept with the buffers' identities and version counters (which
        every in-place change, ``load_state_dict`` included, increments), so it is
        computed again only after the statistics change. The identity layer returns
        its input: ``X * 1 + 0`` is ``X``, and skipping it saves two operations and
        their gradients per forward pass.
        """
        mean, scale = self._buffers["mean"], self._buffers["scale"]
        known = vars(self).get("_identity_at")
        try:
            if (known is not None and known[0] is mean and known[2] is scale
                    and known[1] == mean._version and known[3] == scale._version):
                return known[4]
            identity = bool(torch.all(mean == 0)) and bool(torch.all(scale == 1))
            self._identity_at = (mean, mean._version, scale, scale._version, identity)
        except RuntimeError:  # under vmap (fused search), inference tensors: compute the layer
            return False
        return identity

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        if self._is_identity():
            return X
        if self.inverse:
            return X * self.scale + self.mean
        return (X - self.mean) / self.scale

    def extra_repr(self) -> str:
        return f"{self.mean.shape[0]}, inverse={self.inverse}"


class DefaultMLP(MLPModule):
    """The module a net builds when ``module=None``: one hidden layer of 100 units.

    The net sets ``input_units`` and ``output_units`` from the data; the hidden
    layout is set with ``module__hidden_units``, ``module__num_hidden``, ...
    (or the bare ``hidden_units=...``), as in scikit-learn's ``MLPClassifier``.

    Three parts run in order: ``standardize`` (a :class:`Standardize` layer with
    the training data's feature statistics, so no scaler is needed in front),
    ``sequential`` (``Linear``/``ReLU``/``Dropout`` layers as in
    :class:`MLPModule`) and ``unstandardize`` (a regressor's target statistics,
    so the layers learn standardized targets while outputs are in the targets'
    units; the identity for classifiers). The net fills both sets of statistics
    when it builds the module at ``fit``.

    Examples
    --------
    >>> import torch
    >>> module = DefaultMLP(input_units=3, output_units=1)
    >>> [name for name, _ in module.named_children()]
    ['nonlin', 'sequential', 'standardize', 'unstandardize']
    >>> module(torch.zeros(4, 3)).shape
    torch.Size([4, 1])
    """

    def __init__(
        self,
        input_units: int = 20,
        output_units: int = 2,
        hidden_units: int = 100,
        num_hidden: int = 1,
        nonlin: nn.Module = nn.ReLU(),  # noqa: B008
        output_nonlin: nn.Module | None = None,
        dropout: float = 0,
        squeeze_output: bool = False,
    ):
        super().__init__(
            input_units, output_units, hidden_units, num_hidden, nonlin, output_nonlin,
            dropout, squeeze_output,
        )
        self.standardize = Standardize(input_units)
        self.unstandardize = Standardize(output_units, inverse=True)

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        out = self.unstandardize(self.sequential(self.standardize(X)))
        return out.squeeze(-1) if self.squeeze_output else out


def make_classifier(output_nonlin: nn.Module = nn.Softmax(dim=-1), **kwargs: Any):  # noqa: B008
    """An ``MLPModule`` factory for multiclass classification (softmax output).

    Examples
    --------
    >>> module = make_classifier(input_units=4, output_units=3)()
    >>> round(float(module(torch.zeros(2, 4)).sum().detach()), 4)
    2.0
    """
    return partial(MLPModule, output_nonlin=output_nonlin, **kwargs)


def make_binary_classifier(squeeze_output: bool = True, **kwargs: Any):
    """An ``MLPModule`` factory for binary classification: one logit per sample.

    ``output_units`` defaults to 1 and may be given (as skorch's examples do, e.g.
    ``make_binary_classifier(input_units=20, output_units=1)``).

    Examples
    --------
    >>> make_binary_classifier(input_units=4)()(torch.zeros(2, 4)).shape
    torch.Size([2])
    """
    kwargs.setdefault("output_units", 1)
    return partial(MLPModule, squeeze_output=squeeze_output, **kwargs)


def make_regressor(output_units: int = 1, **kwargs: Any):
    """An ``MLPModule`` factory for regression.

    Examples
    --------
    >>> make_regressor(input_units=4)()(torch.zeros(2, 4)).shape
    torch.Size([2, 1])
    """
    return partial(MLPModule, output_units=output_units, **kwargs)
