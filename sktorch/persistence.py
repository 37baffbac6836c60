"""Saving and loading nets: pickling, ``save_params``/``load_params``, atomic files.

Pickled nets store their torch state as torch-serialized bytes, so a net trained
on a GPU loads on a machine without one (the state is mapped to the CPU). Loading
parameters never unpickles arbitrary objects: weights are read with
``torch.load(weights_only=True)`` or safetensors, the history as JSON.
"""

from __future__ import annotations

import io
import json
import os
import tempfile
import warnings
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO, Union

import torch

from sktorch._version import __version__
from sktorch.exceptions import DeviceWarning, VersionMismatchWarning

__all__ = ["PersistenceMixin", "atomic_write"]

PathOrFile = Union[str, os.PathLike, BinaryIO, None]

# Fitted attributes serialized with torch (they may hold CUDA tensors).
_TORCH_ATTRS = ("module_", "criterion_", "optimizer_", "_grad_scaler")
# Attributes rebuilt after loading instead of pickled.
_TRANSIENT = ("_forward_module", "_stop_flag", "_callback_list", "_cached_y_preds",
              "_extra_optimizers", "_fit_data")


@contextmanager
def atomic_write(path: str | os.PathLike, mode: str = "wb"):
    """Write to a temporary file beside ``path``, then rename it into place.

    A crash mid-write leaves the previous file (or none), never a half-written one.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, mode) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _save(obj: Any, f: PathOrFile, use_safetensors: bool) -> None:
    if use_safetensors:
        from safetensors.torch import save as st_save

        data = st_save({k: v.contiguous() for k, v in obj.items()})
        if hasattr(f, "write"):
            f.write(data)
            return
        with atomic_write(f) as handle:
            handle.write(data)
        return
    if hasattr(f, "write"):
        torch.save(obj, f)
        return
    with atomic_write(f) as handle:
        torch.save(obj, handle)


def _load(f: PathOrFile, map_location: Any, use_safetensors: bool) -> Any:
    if use_safetensors:
        from safetensors.torch import load as st_load

        data = f.read() if hasattr(f, "read") else Path(f).read_bytes()
        return {k: v.to(map_location) for k, v in st_load(data).items()}
    # weights_only=True: tensors and plain containers only; a crafted pickle cannot run code.
    return torch.load(f, map_location=map_location, weights_only=True)


def _available_device(device: Any) -> Any:
    if device is None:
        return None
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        warnings.warn(
            f"This net was saved on device {device!r}, which this machine does not have; "
            "it was loaded onto the CPU and its device set to 'cpu'.",
            DeviceWarning,
            stacklevel=4,
        )
        return "cpu"
    return device


class PersistenceMixin:
    """Pickling and parameter files for :class:`~sktorch.NeuralNet`."""

    def __getstate__(self) -> dict:
        state = {k: v for k, v in self.__dict__.items() if k not in _TRANSIENT}
        # A subclass's own components (module2_, optimizer2_) go with the others, so
        # that an optimizer and the parameters it updates stay one set of objects.
        extra = [f"{n}_" for names in vars(self).get("_components", {}).values() for n in names]
        torch_state = {k: state.pop(k) for k in (*_TORCH_ATTRS, *extra) if k in state}
        buffer = io.BytesIO()
        torch.save(torch_state, buffer)
        state["_torch_state"] = buffer.getvalue()
        state["_versions"] = {"sktorch": __version__, "torch": torch.__version__}
        return state

    def __setstate__(self, state: dict) -> None:
        state = dict(state)
        versions = state.pop("_versions", {})
        if versions.get("sktorch") != __version__:
            warnings.warn(
                f"This net was saved with sktorch {versions.get('sktorch')} and is loaded with "
                f"sktorch {__version__}; if it misbehaves, re-train it or load its weights "
                "with load_params.",
                VersionMismatchWarning,
                stacklevel=2,
            )
        device = _available_device(state.get("device"))
        state["device"] = device
        raw = state.pop("_torch_state", None)
        self.__dict__.update(state)
        if raw is not None:
            location = device if device is not None else "cpu"
            self.__dict__.update(
                torch.load(io.BytesIO(raw), map_location=location, weights_only=False)
            )
        self._restore_transient()

    def _restore_transient(self) -> None:
        from sktorch._components import extra_optimizers
        from sktorch.callbacks.base import CallbackList

        if getattr(self, "callbacks_", None) is not None:
            self._callback_list = CallbackList(self.callbacks_)
        self._extra_optimizers = extra_optimizers(self)
        module = getattr(self, "module_", None)
        if module is not None:
            self._forward_module = self.torch_compile(module, name="module")

    def save_params(
        self,
        f_params: PathOrFile = None,
        f_optimizer: PathOrFile = None,
        f_criterion: PathOrFile = None,
        f_history: PathOrFile = None,
        use_safetensors: bool = False,
    ) -> None:
        """Save weights, optimizer and criterion state, and the history.

        Each file is written atomically. ``use_safetensors=True`` writes the module
        and criterion weights in the safetensors format (the optimizer's state is
        not a flat dict of tensors and needs the torch format).

        Examples
        --------
        >>> import tempfile, os, numpy as np, torch
        >>> from sktorch import NeuralNetRegressor
        >>> X = np.random.RandomState(0).randn(32, 3).astype('float32'); y = X[:, 0]
        >>> net = NeuralNetRegressor(max_epochs=1, verbose=0).fit(X, y)
        >>> path = os.path.join(tempfile.mkdtemp(), 'params.pt')
        >>> net.save_params(f_params=path)
        >>> new = NeuralNetRegressor(verbose=0).initialize_like(net)
        >>> new.load_params(f_params=path)
        >>> bool(np.allclose(new.predict(X), net.predict(X)))
        True
        """
        self.check_is_fitted()
        if f_params is not None:
            _save(self.module_.state_dict(), f_params, use_safetensors)
        if f_criterion is not None:
            _save(self.criterion_.state_dict(), f_criterion, use_safetensors)
        if f_optimizer is not None:
            if use_safetensors:
                raise ValueError(
                    "The optimizer's state cannot be saved with safetensors; save it with "
                    "use_safetensors=False (torch format, loaded with weights_only=True)."
                )
            _save(self.optimizer_.state_dict(), f_optimizer, False)
        if f_history is not None:
            text = json.dumps(self.history.to_list())
            if hasattr(f_history, "write"):
                f_history.write(text if isinstance(f_history, io.TextIOBase) else text.encode())
            else:
                with atomic_write(f_history, "w") as handle:
                    handle.write(text)

    def load_params(
        self,
        f_params: PathOrFile = None,
        f_optimizer: PathOrFile = None,
        f_criterion: PathOrFile = None,
        f_history: PathOrFile = None,
        use_safetensors: bool = False,
        checkpoint: Any = None,
    ) -> None:
        """Load what :meth:`save_params` wrote (or a ``Checkpoint`` callback's files).

        The net must be initialized with the same architecture first (``initialize``
        for a module class; :meth:`initialize_like` when the module is built from data).
        Files are read without unpickling arbitrary objects.
        """
        from sktorch.history import History

        if checkpoint is not None:
            files = checkpoint.get_formatted_files(self)
            f_params = f_params or files.get("f_params")
            f_optimizer = f_optimizer or files.get("f_optimizer")
            f_criterion = f_criterion or files.get("f_criterion")
            f_history = f_history or files.get("f_history")
            use_safetensors = getattr(checkpoint, "use_safetensors", use_safetensors)
        if f_history is not None:
            text = f_history.read() if hasattr(f_history, "read") else Path(f_history).read_text()
            self.history_ = History.from_list(json.loads(text))
        if f_params is None and f_optimizer is None and f_criterion is None:
            return
        self.check_is_fitted()
        location = self.device if self.device is not None else "cpu"
        if f_params is not None:
            self.module_.load_state_dict(_load(f_params, location, use_safetensors))
        if f_criterion is not None:
            self.criterion_.load_state_dict(_load(f_criterion, location, use_safetensors))
        if f_optimizer is not None:
            self.optimizer_.load_state_dict(_load(f_optimizer, location, False))

    def initialize_like(self, other: Any) -> Any:
        """Initialize with the data-dependent sizes of another fitted net; return ``self``.

        Needed before :meth:`load_params` when ``module=None`` (the default MLP is
        sized from the data).
        """
        self.initialize()
        for attr in ("n_features_in_", "classes_", "feature_names_in_", "_y_ndim",
                     "_y_dtype"):
            if hasattr(other, attr):
                setattr(self, attr, getattr(other, attr))
        if self.module_ is None:
            shape = {"input_units": other.module_.input_units,
                     "output_units": other.module_.output_units}
            self.initialize_module(shape)
            self.initialize_optimizer()
        return self

    def trim_for_prediction(self) -> Any:
        """Drop what only training needs (optimizer, callbacks, history); return ``self``.

        The net still predicts; ``fit`` builds the dropped parts again.
        """
        self.check_is_fitted()
        self.optimizer_ = None
        self.callbacks_ = []
        self._callback_list = None
        self.history_ = type(self.history)()
        self._grad_scaler = None
        self.initialized_ = True
        return self
