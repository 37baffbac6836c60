"""Saving and loading nets: pickling, ``save_params``/``load_params``, atomic files.

Pickled nets store their torch state as torch-serialized bytes, so a net trained
on a GPU loads on a machine without one (the state is mapped to the CPU). Loading
parameters never unpickles arbitrary objects: weights are read with
``torch.load(weights_only=True)`` or safetensors, the history as JSON.
"""

from __future__ import annotations

import copy
import io
import os
import pickle
import tempfile
from collections.abc import Iterable
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO, Union

import numpy as np
import torch

from sktorch import _param_files as files
from sktorch._checkpoint_store import (
    CheckpointError,
    LoadedCheckpoint,
    history_from_manifests,
    json_safe,
)
from sktorch._defaults import restore_untouched, untouched_names
from sktorch._version import __version__
from sktorch._warnings import warn_user
from sktorch.exceptions import DeviceWarning, NotInitializedError, VersionMismatchWarning

__all__ = ["PersistenceMixin", "atomic_write", "CheckpointError"]

PathOrFile = Union[str, os.PathLike, BinaryIO, None]

# Fitted attributes serialized with torch (they may hold CUDA tensors).
_TORCH_ATTRS = ("module_", "criterion_", "optimizer_", "_grad_scaler")
# Attributes rebuilt after loading instead of pickled.
_TRANSIENT = ("_forward_module", "_stop_flag", "_callback_list", "_cached_y_preds",
              "_extra_optimizers", "_fit_data", "_flat_adam")
# save_params/load_params keys of the standard parts; ``f_<name>`` means ``<name>_``.
_COMPONENTS = {"f_params": "module_", "f_optimizer": "optimizer_", "f_criterion": "criterion_"}
# Learned from the data at fit and needed to predict; saved with checkpoints.
_DATA_ATTRS = ("n_features_in_", "classes_", "feature_names_in_", "_y_ndim", "_y_dtype")
_WHAT = {"f_params": "module weights", "f_optimizer": "optimizer state",
         "f_criterion": "criterion state", "f_history": "history"}


@contextmanager
def atomic_write(path: str | os.PathLike, mode: str = "wb"):
    """Write to a temporary file beside ``path``, then rename it into place.

    A crash mid-write leaves the previous file (or none), never a half-written one.
    A symbolic link stays a link: its target is replaced. A path that is not a
    regular file (``/dev/stdout``, a named pipe) is written to directly, never
    replaced by a file.
    """
    path = Path(os.path.realpath(path))  # a link's target: renaming over it keeps the link
    if path.is_dir():
        raise IsADirectoryError(
            f"Cannot save to {os.fspath(path)!r}: it is a directory. Pass a file path, "
            "e.g. os.path.join(directory, 'params.pt')."
        )
    if path.exists() and not path.is_file():  # a device or a pipe: nothing to rename over
        with open(path, mode) as handle:
            yield handle
        return
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


def _available_device(device: Any) -> Any:
    if device is None:
        return None
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        warn_user(
            f"This net was saved on device {device!r}, which this machine does not have; "
            "it was loaded onto the CPU and its device set to 'cpu'.",
            DeviceWarning,
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
        for key, value in torch_state.items():  # LBFGS: compact curvature pairs
            if isinstance(value, torch.optim.Optimizer):
                torch_state[key] = files.lean_optimizer(value)
        buffer = io.BytesIO()
        torch.save(torch_state, buffer)
        state["_torch_state"] = buffer.getvalue()
        state["_versions"] = {"sktorch": __version__, "torch": torch.__version__}
        state["_untouched_defaults"] = untouched_names(state)  # tells pickles from before markers
        return state

    def __setstate__(self, state: dict) -> None:
        state = dict(state)
        versions = state.pop("_versions", {})
        if versions.get("sktorch") != __version__:
            warn_user(
                f"This net was saved with sktorch {versions.get('sktorch')} and is loaded with "
                f"sktorch {__version__}; if it misbehaves, re-train it or load its weights "
                "with load_params.",
                VersionMismatchWarning,
            )
        device = _available_device(state.get("device"))
        state["device"] = device
        raw = state.pop("_torch_state", None)
        restore_untouched(state, state.pop("_untouched_defaults", None))
        self.__dict__.update(state)
        if raw is not None:
            location = device if device is not None else "cpu"
            loaded = torch.load(io.BytesIO(raw), map_location=location, weights_only=False)
            for value in loaded.values():
                files.restore_optimizer(value)
            self.__dict__.update(loaded)
        self._restore_transient()

    def _restore_transient(self) -> None:
        from sktorch._builtin.flat_adam import flat_adam_step
        from sktorch._components import extra_optimizers
        from sktorch.callbacks.base import CallbackList

        if getattr(self, "callbacks_", None) is not None:
            self._callback_list = CallbackList(self.callbacks_)
        self._extra_optimizers = extra_optimizers(self)
        if getattr(self, "optimizer_", None) is not None:
            self._flat_adam = flat_adam_step(self)
        module = getattr(self, "module_", None)
        if module is not None:
            self._forward_module = self.torch_compile(module, name="module")

    # ------------------------------------------------------------- encoding
    def _part(self, key: str) -> Any:
        """The object that ``key`` saves: ``f_params`` the module, ``f_<name>`` ``<name>_``."""
        attr = _COMPONENTS.get(key, key[2:] + "_")
        obj = vars(self).get(attr)
        if obj is None and key == "f_optimizer" and self._is_trimmed():
            raise ValueError(
                "This net has no optimizer to save: trim_for_prediction() dropped it. Save "
                "only what predicting needs (f_params=...), or save before trimming."
            )
        if obj is None or not hasattr(obj, "state_dict"):
            have = sorted(k for k, v in vars(self).items()
                          if k.endswith("_") and hasattr(v, "state_dict"))
            raise ValueError(
                f"{key}=... saves the net's attribute {attr!r}, but the net has "
                f"{'no such attribute' if obj is None else 'no state_dict() on it'}. "
                f"Attributes that can be saved: {have}; name them f_<name> without the "
                "trailing underscore (f_params is module_, e.g. f_module2 for module2_)."
            )
        return obj

    def _encode_parts(self, keys: Iterable[str], use_safetensors: bool) -> dict[str, bytes]:
        """Serialize each part named by ``keys`` in memory, before any file is written."""
        parts = {}
        for key in keys:
            if key == "f_history":
                parts[key] = files.encode_history(self.history)
            elif key == "f_pickle":
                parts[key] = pickle.dumps(self)
            else:
                obj = self._part(key)
                state = obj.state_dict()
                if isinstance(obj, torch.optim.Optimizer):  # never safetensors: nested state
                    parts[key] = files.encode_state(files.pack_optimizer_state(obj, state), False)
                else:
                    parts[key] = files.encode_state(state, use_safetensors)
        return parts

    def _data_attributes(self) -> dict:
        """What predicting needs besides the weights (``classes_``, ...), as JSON."""
        out = {}
        for attr in _DATA_ATTRS:
            if attr not in vars(self):
                continue
            value = vars(self)[attr]
            try:
                if isinstance(value, np.ndarray):
                    out[attr] = {"array": json_safe(value.tolist()), "dtype": value.dtype.str}
                elif isinstance(value, np.dtype):  # the regressor's prediction dtype
                    out[attr] = {"numpy_dtype": value.str}
                else:
                    out[attr] = {"value": json_safe(value)}
            except TypeError:
                continue  # e.g. labels that are arbitrary objects: not restorable from JSON
        module = vars(self).get("module_")
        if self.module is None and hasattr(module, "input_units"):
            out["module_shape"] = {"input_units": module.input_units,
                                   "output_units": module.output_units}
        return out

    def _set_data_attributes(self, attributes: dict) -> None:
        for attr in _DATA_ATTRS:
            info = attributes.get(attr)
            if info is None:
                continue
            setattr(self, attr, decode_data_attribute(info))

    def _check_same_data(self, attributes: dict, source: str) -> None:
        """Raise when a checkpoint was trained on other data than the current fit's.

        Resuming weights trained with other labels (or feature columns) would train
        and predict with each output (or input) standing for something else.
        """
        for attr, what in (("classes_", "classes"), ("n_features_in_", "number of features"),
                           ("feature_names_in_", "feature names"), ("_y_ndim", "y dimensions")):
            info = attributes.get(attr)
            if info is None or attr not in vars(self):
                continue
            saved, current = decode_data_attribute(info), vars(self)[attr]
            saved, current = (v.tolist() if isinstance(v, np.ndarray) else v
                              for v in (saved, current))
            if saved != current:
                raise ValueError(
                    f"{source} was saved by a net trained on other data ({what}: "
                    f"{saved} there, {current} in this fit). Resuming would "
                    "give each output (or input) another meaning. Use another checkpoint "
                    "directory (dirname=...) for this data, or fit the data the checkpoint "
                    "was trained on."
                )

    def _is_trimmed(self) -> bool:
        return bool(vars(self).get("_trimmed")) and vars(self).get("optimizer_") is None and (
            vars(self).get("module_") is not None)

    def _check_not_trimmed(self, action: str) -> None:
        """Raise a clear error when a trimmed net is asked to train."""
        if self._is_trimmed():
            raise ValueError(
                f"This net was trimmed with trim_for_prediction(), which dropped its "
                f"optimizer, callbacks and history, so it cannot {action}. Call fit() to "
                "train anew (it rebuilds them), or keep an untrimmed copy to continue "
                "training (e.g. copy.deepcopy(net) before trimming)."
            )

    # ---------------------------------------------------------- save / load
    def save_params(
        self,
        f_params: PathOrFile = None,
        f_optimizer: PathOrFile = None,
        f_criterion: PathOrFile = None,
        f_history: PathOrFile = None,
        use_safetensors: bool = False,
        **kwargs: PathOrFile,
    ) -> None:
        """Save weights, optimizer and criterion state, and the history.

        Everything is serialized in memory first, then each file is written
        atomically, so a value that cannot be saved writes nothing.
        ``use_safetensors=True`` writes the module and criterion weights in the
        safetensors format (the optimizer's state is not a flat dict of tensors and
        needs the torch format). ``f_<name>=...`` saves any other fitted attribute
        ``<name>_`` that has a ``state_dict`` (e.g. ``f_module2`` for ``module2_``).
        A file object is written at its current position.

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
        targets = _targets(f_params, f_optimizer, f_criterion, f_history, kwargs, "save_params")
        self.check_is_fitted()
        if use_safetensors and f_optimizer is not None:
            raise ValueError(
                "The optimizer's state cannot be saved with safetensors; save it with "
                "use_safetensors=False (torch format, loaded with weights_only=True)."
            )
        parts = self._encode_parts(targets, use_safetensors)
        for key, f in targets.items():
            if hasattr(f, "write"):
                data = parts[key]
                f.write(data.decode() if isinstance(f, io.TextIOBase) else data)
            else:
                with atomic_write(f) as handle:
                    handle.write(parts[key])

    def load_params(
        self,
        f_params: PathOrFile = None,
        f_optimizer: PathOrFile = None,
        f_criterion: PathOrFile = None,
        f_history: PathOrFile = None,
        use_safetensors: bool = False,
        checkpoint: Any = None,
        **kwargs: PathOrFile,
    ) -> None:
        """Load what :meth:`save_params` wrote, or a ``Checkpoint``'s newest complete set.

        The net must be initialized with the same architecture first (``initialize``
        for a module class; :meth:`initialize_like` when the module is built from
        data; with ``checkpoint=cp``, ``initialize()`` is enough, as the checkpoint
        also holds the data's sizes and a classifier's ``classes_``). All files are
        read and checked before anything is assigned: a damaged file leaves the net
        as it was. Files are read without unpickling arbitrary objects; a
        checkpoint's files are verified against the checksums in its manifest.
        """
        targets = _targets(f_params, f_optimizer, f_criterion, f_history, kwargs, "load_params")
        if checkpoint is None:
            loaded = LoadedCheckpoint(0, {}, {}, None, {}, use_safetensors=use_safetensors)
        else:
            loaded = checkpoint.read_checkpoint(self)
            if loaded is None:
                raise FileNotFoundError(
                    f"{type(checkpoint).__name__}(dirname={checkpoint.dirname!r}) has no "
                    "saved checkpoint to load yet: train with it first, or pass the files "
                    "as f_params=..., f_history=..."
                )
        self._load_checkpoint(loaded, targets)

    def _load_checkpoint(self, loaded: LoadedCheckpoint, targets: dict) -> None:
        """Load a read checkpoint set plus explicit ``targets`` (which take precedence)."""
        raw: dict[str, tuple[bytes, Any]] = {
            key: (data, loaded.paths.get(key, key)) for key, data in loaded.files.items()
            if key not in targets and key != "f_pickle"}
        history = None if "f_history" in targets else loaded.history
        for key, f in targets.items():
            if key == "f_history" and isinstance(f, (str, os.PathLike)):
                # A checkpoint's: read verified from its store, not from the plain copy.
                history = history_from_manifests(f)
                if history is not None:
                    continue
            raw[key] = (files.read_bytes(f, _WHAT.get(key, f"{key[2:]}_ state")), f)
        if "f_history" in raw:
            history = files.decode_history(*raw.pop("f_history"))
        states = self._decode_parts(raw, loaded.attributes, loaded.use_safetensors)
        self._assign_loaded(states, history, loaded.attributes)

    def _decode_parts(self, raw: dict, attributes: dict, use_safetensors: bool) -> dict:
        if not raw:
            return {}
        if vars(self).get("module_") is None and "module_shape" in attributes and (
                getattr(self, "initialized_", False)):
            self.initialize_module(attributes["module_shape"])  # a default MLP: its sizes
            self.initialize_optimizer()
        if self.module is None and vars(self).get("module_") is None and (
                getattr(self, "initialized_", False)):
            raise NotInitializedError(
                f"This {type(self).__name__} has no module to load the weights into yet: "
                "with module=None the built-in MLP is sized from the training data "
                "(features and outputs), so initialize() cannot build it. Call "
                "net.initialize_like(fitted_net) with the net the weights come from, or "
                "fit the net first (e.g. net.fit(X, y) on data of the same shape), or "
                "load a Checkpoint (load_params(checkpoint=cp)), which records the sizes."
            )
        self.check_is_fitted()
        if "f_optimizer" in raw and self._is_trimmed():
            raise ValueError(
                "This net has no optimizer to load into: trim_for_prediction() dropped it. "
                "Call initialize_optimizer() first, or load only the weights."
            )
        location = self.device if self.device is not None else "cpu"
        decoded = {}
        for key, (data, source) in raw.items():
            obj = self._part(key)
            optimizer = isinstance(obj, torch.optim.Optimizer)
            state = files.decode_state(data, source, _WHAT.get(key, f"{key[2:]}_ state"),
                                       location, use_safetensors and not optimizer,
                                       getattr(self, "torch_load_kwargs", None))
            decoded[key] = files.unpack_optimizer_state(state) if optimizer else state
        return decoded

    def _assign_loaded(self, states: dict, history: Any, attributes: dict) -> None:
        """Assign everything, or (when a state does not fit) nothing at all."""
        from sktorch.history import History

        backups = {key: copy.deepcopy(self._part(key).state_dict()) for key in states}
        try:
            for key, state in states.items():
                self._part(key).load_state_dict(state)
        except Exception:
            for key, state in backups.items():
                self._part(key).load_state_dict(state)
            raise
        if history is not None:
            self.history_ = History.from_list(history)
        self._set_data_attributes(attributes)

    def initialize_like(self, other: Any) -> Any:
        """Initialize with the data-dependent sizes of another fitted net; return ``self``.

        Needed before :meth:`load_params` when ``module=None`` (the default MLP is
        sized from the data).
        """
        self.initialize()
        for attr in _DATA_ATTRS:
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

        The net still predicts; ``fit`` builds the dropped parts again, while
        ``partial_fit`` and saving the optimizer raise an error that says so.
        """
        from sktorch.callbacks.base import CallbackList

        self.check_is_fitted()
        self.optimizer_ = None
        self.callbacks_ = []
        # As unpickling rebuilds it: code that adds to the net's callbacks (the doctor)
        # then reaches partial_fit's clear "trimmed" error instead of an AttributeError.
        self._callback_list = CallbackList(self.callbacks_)
        try:
            self.history_ = type(self.history)()
        except TypeError:  # e.g. a DistributedHistory needs its store; predicting needs none
            from sktorch.history import History

            self.history_ = History()
        self._grad_scaler = None
        self._trimmed = True
        self.initialized_ = True
        return self


def decode_data_attribute(info: dict) -> Any:
    """A data attribute from its JSON form in a checkpoint manifest."""
    if "numpy_dtype" in info:  # the regressor's prediction dtype
        return np.dtype(info["numpy_dtype"])
    if "array" not in info:
        return info["value"]
    dtype = np.dtype(info["dtype"])
    if dtype.kind == "O":
        value = np.empty(len(info["array"]), dtype=object)
        value[:] = info["array"]
        return value
    return np.asarray(info["array"], dtype=dtype)


def _targets(f_params, f_optimizer, f_criterion, f_history, kwargs, method) -> dict:
    """The ``f_*`` arguments that are set, keyed by name; unknown names raise."""
    for key in kwargs:
        if not key.startswith("f_"):
            raise TypeError(
                f"{method}() got an unexpected argument {key!r}; files are given as "
                f"f_<name>=..., e.g. f_{key}=... for the attribute {key}_."
            )
    given = {"f_params": f_params, "f_optimizer": f_optimizer, "f_criterion": f_criterion,
             "f_history": f_history, **kwargs}
    return {k: v for k, v in given.items() if v is not None}
