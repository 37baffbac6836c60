"""``SktorchDoctor``: record what happens inside a net during a short fit.

The doctor trains the net for its ``max_epochs`` (continuing from its current
weights, like ``partial_fit``) while it records, for every training step, the
output of each layer, the gradient of each parameter and the relative size of
each parameter's update. From these one can tell dead or saturated layers,
vanishing or exploding gradients and a learning rate that is too high or too low.
Recording keeps copies of every activation, so use a small subset of the data.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np
import torch

from sktorch.callbacks.base import Callback, CallbackList

__all__ = ["SktorchDoctor", "SkorchDoctor"]


def _components(net: Any) -> dict[str, torch.nn.Module]:
    """The net's torch modules (``module_``, ``criterion_``, custom ones) by name."""
    out = {}
    for attr, value in vars(net).items():
        if (attr.endswith("_") and not attr.startswith("_")
                and isinstance(value, torch.nn.Module)):
            out[attr[:-1]] = value
    return dict(sorted(out.items(), key=lambda item: item[0] != "module"))  # module first


def _as_array(output: Any) -> Any:
    if isinstance(output, torch.Tensor):
        return output.detach().float().cpu().numpy()
    if isinstance(output, (tuple, list)):
        first = next((o for o in output if isinstance(o, torch.Tensor)), None)
        return None if first is None else _as_array(first)
    return None


class _Recorder(Callback):
    """The doctor's callback: forward hooks for activations, batch hooks for the rest."""

    def __init__(self, doctor: SktorchDoctor):
        self.doctor = doctor
        self.handles: list = []
        self.recording = False
        self.before: dict = {}

    def on_train_begin(self, net, **kwargs) -> None:
        doctor = self.doctor
        for name, component in _components(net).items():
            doctor.activation_recs_.setdefault(name, [])
            doctor.gradient_recs_.setdefault(name, [])
            doctor.param_update_recs_.setdefault(name, [])
            for layer, sub in component.named_modules():
                layer = layer or name  # the component itself is named after it
                if doctor.match_fn is None or doctor.match_fn(layer):
                    self.handles.append(sub.register_forward_hook(self._hook(name, layer)))
        doctor.module_names_ = list(doctor.activation_recs_)

    def _hook(self, name: str, layer: str) -> Callable:
        def hook(module, inputs, output):
            if self.recording:
                value = _as_array(output)
                if value is not None:
                    self.doctor.activation_recs_[name][-1][layer] = value
        return hook

    def _params(self, net) -> dict:
        match = self.doctor.match_fn
        return {
            name: [(p_name, p) for p_name, p in component.named_parameters()
                   if p.requires_grad and (match is None or match(p_name))]
            for name, component in _components(net).items()
        }

    def on_batch_begin(self, net, training=None, **kwargs) -> None:
        self.recording = bool(training)
        if not training:
            return
        for name in self.doctor.activation_recs_:
            self.doctor.activation_recs_[name].append({})
        self.before = {name: {p_name: p.detach().clone() for p_name, p in params}
                       for name, params in self._params(net).items()}

    def on_batch_end(self, net, training=None, **kwargs) -> None:
        if not training:
            return
        self.recording = False
        doctor = self.doctor
        for name, params in self._params(net).items():
            grads, updates = {}, {}
            for p_name, p in params:
                if p.grad is not None:
                    grads[p_name] = p.grad.detach().float().cpu().numpy()
                old = self.before.get(name, {}).get(p_name)
                if old is not None:
                    scale = old.float().norm().clamp_min(torch.finfo(torch.float32).tiny)
                    updates[p_name] = float((p.detach().float() - old.float()).norm() / scale)
            doctor.gradient_recs_.setdefault(name, []).append(grads)
            doctor.param_update_recs_.setdefault(name, []).append(updates)
        doctor.num_steps_ += 1

    def remove(self) -> None:
        for handle in self.handles:
            handle.remove()
        self.handles = []


class SktorchDoctor:
    """Record activations, gradients and parameter updates of a net while it trains.

    Parameters
    ----------
    net : NeuralNet
        The net to diagnose; it is initialized if needed and trained by :meth:`fit`.
    match_fn : callable, optional
        ``match_fn(name) -> bool`` selects the layers and parameters to record by
        name (e.g. ``lambda name: 'dense' in name``); all by default.

    Attributes
    ----------
    activation_recs_ : dict
        ``{component: [{layer_name: array}, ...]}``, one dict per training step;
        components are ``'module'``, ``'criterion'`` and any custom module, and
        the component's own output is recorded under its name.
    gradient_recs_ : dict
        ``{component: [{param_name: array}, ...]}``, the gradients after the
        backward pass (after any gradient clipping callback).
    param_update_recs_ : dict
        ``{component: [{param_name: float}, ...]}``, the relative update of each
        parameter, ``||p_after - p_before|| / ||p_before||`` (around 1e-3 is the
        common rule of thumb).
    num_steps_ : int
        Number of training steps recorded.
    module_names_ : list of str
        The recorded components.

    Examples
    --------
    >>> import numpy as np
    >>> from sktorch import NeuralNetClassifier
    >>> X = np.random.RandomState(0).randn(40, 4).astype('float32'); y = np.arange(40) % 2
    >>> net = NeuralNetClassifier(max_epochs=2, batch_size=20, train_split=None, verbose=0,
    ...                           random_state=0)
    >>> doctor = SktorchDoctor(net).fit(X, y)
    >>> doctor.num_steps_, doctor.module_names_
    (4, ['module', 'criterion'])
    >>> doctor.get_param_names()['module'][:2]
    ['sequential.0.weight', 'sequential.0.bias']
    """

    def __init__(self, net: Any, match_fn: Callable[[str], bool] | None = None):
        self.net = net
        self.match_fn = match_fn

    def initialize(self) -> SktorchDoctor:
        """Reset the records."""
        self.activation_recs_: dict[str, list] = {}
        self.gradient_recs_: dict[str, list] = {}
        self.param_update_recs_: dict[str, list] = {}
        self.num_steps_ = 0
        self.module_names_: list[str] = []
        return self

    def fit(self, X: Any, y: Any = None, **fit_params: Any) -> SktorchDoctor:
        """Train the net (``partial_fit``) while recording; the net is left as trained."""
        self.initialize()
        net = self.net
        if not getattr(net, "initialized_", False):
            net.initialize()
        recorder = _Recorder(self)
        original = net._callback_list
        net._callback_list = CallbackList([*original.named, ("sktorch_doctor", recorder)])
        try:
            net.partial_fit(X, y, **fit_params)
        finally:
            recorder.remove()
            net._callback_list = original
        self.fitted_ = True
        return self

    def _check_fitted(self) -> None:
        if not getattr(self, "fitted_", False):
            raise RuntimeError("Call SktorchDoctor.fit(X, y) before reading its records.")

    def get_layer_names(self) -> dict[str, list[str]]:
        """The recorded layer names of each component."""
        self._check_fitted()
        return {name: list(recs[0]) if recs else []
                for name, recs in self.activation_recs_.items()}

    def get_param_names(self) -> dict[str, list[str]]:
        """The recorded parameter names of each component."""
        self._check_fitted()
        return {name: list(recs[0]) if recs else []
                for name, recs in self.gradient_recs_.items()}

    def summary(self, step: int = -1) -> list[dict[str, Any]]:
        """One row per recorded layer and parameter: mean and std at ``step``.

        Rows are dicts with keys ``component``, ``kind`` (``'activation'``,
        ``'gradient'`` or ``'update'``), ``name``, ``mean`` and ``std``; for
        updates, the mean and std of the relative update over all steps.
        """
        self._check_fitted()
        rows = []
        for kind, recs in (("activation", self.activation_recs_),
                           ("gradient", self.gradient_recs_)):
            for component, steps in recs.items():
                for name, value in (steps[step].items() if steps else ()):
                    rows.append({"component": component, "kind": kind, "name": name,
                                 "mean": float(np.mean(value)), "std": float(np.std(value))})
        for component, steps in self.param_update_recs_.items():
            for name in (steps[0] if steps else ()):
                values = np.array([s[name] for s in steps if name in s])
                rows.append({"component": component, "kind": "update", "name": name,
                             "mean": float(values.mean()), "std": float(values.std())})
        return rows

    # ------------------------------------------------------------- plotting
    def _plt(self):
        self._check_fitted()
        try:
            import matplotlib.pyplot as plt
        except ImportError:
            raise ImportError(
                "SktorchDoctor's plots need matplotlib; install it with "
                "pip install 'sktorch[plot]' (or pip install matplotlib)."
            ) from None
        return plt

    def plot_loss(self, ax: Any = None, **kwargs: Any) -> Any:
        """Training (and validation) loss per epoch of the net's history."""
        plt = self._plt()
        ax = ax if ax is not None else plt.subplots()[1]
        history = self.net.history
        for key in ("train_loss", "valid_loss"):
            values = [row[key] for row in history if key in row]
            if values:
                ax.plot(range(1, len(values) + 1), values, label=key, **kwargs)
        ax.set_xlabel("epoch")
        ax.set_ylabel("loss")
        ax.legend()
        return ax

    def _plot_hists(self, recs: dict, step: int, match_fn: Any, axes: Any, title: str,
                    **kwargs: Any) -> Any:
        plt = self._plt()
        names = [n for n in recs if recs[n] and recs[n][step]]
        bins = kwargs.pop("bins", 30)
        if axes is None:
            axes = np.atleast_1d(plt.subplots(1, max(len(names), 1), squeeze=False)[1][0])
        for ax, component in zip(np.atleast_1d(axes), names):
            for name, value in recs[component][step].items():
                if match_fn is None or match_fn(name):
                    ax.hist(np.ravel(value), bins=bins, histtype="step",
                            label=name, **kwargs)
            ax.set_title(f"{title} of {component}")
            ax.legend(fontsize="small")
        return axes

    def plot_activations(self, step: int = -1, match_fn: Any = None, axes: Any = None,
                         **kwargs: Any) -> Any:
        """Histograms of each layer's output at training step ``step``."""
        return self._plot_hists(self.activation_recs_, step, match_fn, axes, "activations",
                                **kwargs)

    def plot_gradients(self, step: int = -1, match_fn: Any = None, axes: Any = None,
                       **kwargs: Any) -> Any:
        """Histograms of each parameter's gradient at training step ``step``."""
        return self._plot_hists(self.gradient_recs_, step, match_fn, axes, "gradients",
                                **kwargs)

    def plot_param_updates(self, match_fn: Any = None, axes: Any = None, **kwargs: Any) -> Any:
        """log10 of each parameter's relative update over the training steps."""
        plt = self._plt()
        names = [n for n, steps in self.param_update_recs_.items() if steps and steps[0]]
        if axes is None:
            axes = np.atleast_1d(plt.subplots(1, max(len(names), 1), squeeze=False)[1][0])
        for ax, component in zip(np.atleast_1d(axes), names):
            steps = self.param_update_recs_[component]
            for name in steps[0]:
                if match_fn is None or match_fn(name):
                    values = np.array([s.get(name, np.nan) for s in steps])
                    ax.plot(np.log10(np.maximum(values, 1e-12)), label=name, **kwargs)
            ax.set_title(f"relative parameter updates of {component}")
            ax.set_xlabel("step")
            ax.set_ylabel("log10(update / value)")
            ax.legend(fontsize="small")
        return axes


SkorchDoctor = SktorchDoctor  # skorch's name
