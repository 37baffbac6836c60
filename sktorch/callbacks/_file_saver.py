"""What the checkpoint callbacks share: file names, argument checks, saving and reading.

``_FileSaver`` turns a callback's ``f_*`` arguments, ``fn_prefix`` and ``dirname``
into paths (or file objects), writes the net's files as one atomic set through
:class:`~sktorch._checkpoint_store.CheckpointStore`, and reads the newest set back.
``Checkpoint`` and ``TrainEndCheckpoint`` decide *when* to save; this module owns *how*.
"""

from __future__ import annotations

import io
import os
import secrets
from typing import Any, Union

from sktorch._checkpoint_store import CheckpointStore, LoadedCheckpoint
from sktorch._divergence import weights_finite
from sktorch._param_files import decode_history, read_bytes
from sktorch._warnings import warn_user
from sktorch.callbacks.base import Callback
from sktorch.exceptions import SktorchWarning

__all__ = ["Target"]

_FILE_KEYS = ("f_params", "f_optimizer", "f_criterion", "f_history", "f_pickle")
Target = Union[str, os.PathLike, Any, None]


def _is_file(f: Any) -> bool:
    return hasattr(f, "write") or hasattr(f, "read")


class _FileSaver(Callback):
    """File naming, argument checks, saving and reading shared by the checkpoint callbacks."""

    event_name: str | None = None
    _extra_keys: tuple = ()

    def _set_extra_files(self, kwargs: dict) -> None:
        """Store ``f_<name>=...`` arguments (any fitted attribute ``<name>_``)."""
        for key, value in kwargs.items():
            if not key.startswith("f_"):
                raise TypeError(
                    f"{type(self).__name__} got an unexpected argument {key!r}. Files to "
                    f"save are named f_<attribute>, e.g. f_{key}=... saves the net's {key}_."
                )
            setattr(self, key, value)
        self._extra_keys = tuple(kwargs)

    def get_params(self, deep: bool = True) -> dict:
        params = super().get_params(deep=deep)
        params.update({key: getattr(self, key) for key in self._extra_keys})
        return params

    def set_params(self, **params) -> Any:
        extra = {k: v for k, v in params.items() if k.startswith("f_") and (
            k not in self._get_param_names())}
        for key, value in extra.items():
            setattr(self, key, value)
            if key not in self._extra_keys:
                self._extra_keys = (*self._extra_keys, key)
        return super().set_params(**{k: v for k, v in params.items() if k not in extra})

    def _file_keys(self) -> tuple:
        return _FILE_KEYS + tuple(k for k in self._extra_keys if k not in _FILE_KEYS)

    def _targets(self) -> dict[str, Target]:
        return {k: getattr(self, k) for k in self._file_keys() if getattr(self, k) is not None}

    def _check_arguments(self) -> None:
        """skorch's checks of the file arguments, with messages that say what to write."""
        owner = type(self).__name__
        for key, f in self._targets().items():
            if not isinstance(f, (str, os.PathLike)) and not _is_file(f):
                raise TypeError(
                    f"{owner}({key}={f!r}): expected a file name, a path, a file object or "
                    f"None, got {type(f).__name__}."
                )
            if _is_file(f) and self.dirname:
                raise ValueError(
                    f"{owner} got dirname={self.dirname!r} together with a file object for "
                    f"{key}; dirname only applies to file names. Pass file names (e.g. "
                    f"{key}='params.pt'), or leave dirname='' when saving to file objects."
                )

    def initialize(self) -> Any:
        self._check_arguments()
        self._log_ = None  # where the history log continues (appends only new epochs)
        self._owner_ = secrets.token_hex(8)  # this fit's sets in the manifest
        return self

    def on_train_begin(self, net, **kwargs) -> None:
        for key in self._extra_keys:  # unknown f_<name>: fail now, not after an epoch
            if getattr(self, key) is not None:
                net._part(key)
        self._check_directories()
        self._check_no_twin(net)
        if getattr(self, "_owner_", None) is None:  # partial_fit / warm_start continue it
            self._owner_ = secrets.token_hex(8)
        self._n_own_saves_ = 0
        self._warned_shared_ = False

    def _slot(self) -> str:
        """What tells this checkpoint's sets from others' in one manifest: its weights file."""
        f = self.f_params
        if f is not None and not _is_file(f):
            return os.fspath(f)
        return "|".join(f"{k}={os.fspath(f)}" for k, f in self._targets().items()
                        if not _is_file(f))

    def _place(self) -> tuple | None:
        """(manifest path, slot): two savers with the same one write the same files."""
        if not any(not _is_file(f) for f in self._targets().values()):
            return None  # file objects only: no manifest
        return os.path.abspath(self._store().manifest_path), self._slot()

    def _check_no_twin(self, net: Any) -> None:
        """Two callbacks of one net saving the same files would replace each other's sets."""
        place = self._place()
        for name, other in getattr(net, "callbacks_", []):
            if other is self or not isinstance(other, _FileSaver) or place is None:
                continue
            shared = sorted(self._views() & other._views())
            if other._place() == place or shared:
                mine = next((n for n, cb in net.callbacks_ if cb is self), type(self).__name__)
                what = repr(place[1]) if other._place() == place else ", ".join(
                    repr(os.path.basename(v)) for v in shared)
                raise ValueError(
                    f"The callbacks {mine!r} and {name!r} both save {what} with "
                    f"fn_prefix={self.fn_prefix!r} into dirname={self.dirname!r}: each "
                    "save would replace the other's file, and loading it by name (or the "
                    "best checkpoint) could load the other's. Give one of them its own file "
                    "names, e.g. fn_prefix='best_acc_' (or f_params='best_acc.pt' and "
                    "f_optimizer='best_acc_optimizer.pt', ...), or its own dirname."
                )

    def _views(self) -> set[str]:
        """The plain-named files this saver writes (unformatted names)."""
        return {os.path.abspath(os.path.join(self.dirname, self.fn_prefix + os.fspath(f)))
                for f in self._targets().values() if not _is_file(f)}

    def _check_directories(self) -> None:
        """Fail before training when a file stands where a checkpoint directory goes."""
        folders = {os.fspath(self._store().dirname)}
        for f in self._targets().values():
            if not _is_file(f):
                name = (self.fn_prefix + os.fspath(f)).split("{")[0]  # up to a format field
                folders.add(os.path.dirname(os.path.join(self.dirname, name)) or ".")
        for folder in sorted(folders):
            path = os.path.abspath(folder)
            while not os.path.exists(path) and os.path.dirname(path) != path:
                path = os.path.dirname(path)  # the part that exists must be a directory
            if not os.path.isdir(path):
                raise NotADirectoryError(
                    f"{type(self).__name__}(dirname={self.dirname!r}, fn_prefix="
                    f"{self.fn_prefix!r}) saves into {folder!r}, but {path!r} is a file, "
                    "not a directory. Pass the name of a directory (it is created when "
                    f"needed), e.g. dirname={os.path.splitext(folder)[0] + '_checkpoints'!r}, "
                    "or move the file away."
                )

    def _store(self) -> CheckpointStore:
        return CheckpointStore(self.dirname, self.fn_prefix)

    def _join(self, f: Target, row: dict, net: Any) -> Target:
        if f is None or _is_file(f):
            return f
        name = self.fn_prefix + os.fspath(f)
        if "{" in name:
            batches = row.get("batches") or [{}]
            try:
                name = name.format(last_epoch=row, last_batch=batches[-1], net=net)
            except (KeyError, IndexError) as exc:
                raise ValueError(
                    f"{type(self).__name__} cannot fill in the file name {name!r}: the "
                    f"history has no {exc} for it. Load the history first (e.g. "
                    "net.load_params(f_history=...)) or use a name without format fields."
                ) from None
        return os.path.join(self.dirname, name) if self.dirname else name

    def _history_rows(self, net: Any) -> list:
        """The net's history, or the saved one when the net has none yet (a fresh net)."""
        if net is not None and len(net.history):
            return list(net.history)
        if self.f_history is None or _is_file(self.f_history):
            return []
        store = self._store()
        if store.exists():
            loaded = store.load(keys=("f_history",), slot=self._slot())
            return (loaded.history or []) if loaded is not None else []
        f = self.f_history
        if "{" not in self.fn_prefix + os.fspath(f):  # a directory skorch (or we) wrote
            path = self._join(f, {}, net)
            if os.path.exists(path):
                return decode_history(read_bytes(path, "history"), path)
        return []

    def _checkpoint_row(self, net: Any) -> dict:
        """The history row of the latest checkpoint (the last row if none is marked)."""
        rows = self._history_rows(net)
        if self.event_name is not None:
            for row in reversed(rows):
                if row.get(self.event_name):
                    return row
        return rows[-1] if rows else {}

    def get_formatted_files(self, net: Any) -> dict[str, Target]:
        """Paths (or file objects) of the latest checkpoint's files, ``None`` where unused.

        The keys are ``f_params``, ``f_optimizer``, ``f_criterion``, ``f_history``,
        ``f_pickle`` and any ``f_<name>``. Once a set is saved, the paths are the
        plain-named files that save wrote (``None`` for a part it did not write);
        before, the names a save would write. ``net.load_params(checkpoint=cp)``
        reads the set itself, verified, through the manifest.
        """
        names = self._formatted_names(net)
        saved = self._store().newest_views(self._slot()) if self._place() else None
        if saved is None:
            return names
        return {key: f if f is None or _is_file(f) else saved.get(key)
                for key, f in names.items()}

    def _formatted_names(self, net: Any) -> dict[str, Target]:
        """The file names filled in from the latest checkpoint's history row."""
        row = self._checkpoint_row(net)
        return {key: self._join(getattr(self, key), row, net) for key in self._file_keys()}

    def save_model(self, net: Any) -> None:
        """Write the net's files now, as one atomic set."""
        targets = self._targets()
        row = net.history[-1] if len(net.history) else {}
        paths = {k: self._join(f, row, net) for k, f in targets.items() if not _is_file(f)}
        objects = {k: f for k, f in targets.items() if _is_file(f)}
        # Serialize everything before writing anything (a value that cannot be saved,
        # e.g. an object in the history, fails here and leaves the old files).
        encode = [k for k in targets if k != "f_history" or k in objects]
        parts = net._encode_parts(encode, self.use_safetensors)
        if paths:
            history = net.history if "f_history" in paths else None
            epoch = int(row.get("epoch", len(net.history))) if row else 0
            store = self._store()
            self._log_ = store.save(
                {k: (p, parts[k]) for k, p in paths.items() if k != "f_history"},
                history, getattr(self, "_log_", None), net._data_attributes(), epoch,
                self.use_safetensors, history_view=paths.get("f_history"),
                slot=self._slot(), owner=getattr(self, "_owner_", None))
            self._note_other_writer(store.replaced)
        for key, f in objects.items():  # file objects: overwritten from the start
            f.seek(0)
            f.truncate()
            data = parts[key]
            f.write(data.decode() if isinstance(f, io.TextIOBase) else data)
            if hasattr(f, "flush"):
                f.flush()

    def _note_other_writer(self, replaced: dict | None) -> None:
        """Warn once when another fit saved into this checkpoint's files during this fit."""
        owner = getattr(self, "_owner_", None)
        if owner is not None and replaced is not None and self._n_own_saves_ and (
                replaced.get("owner") != owner) and not self._warned_shared_:
            self._warned_shared_ = True
            warn_user(
                f"{type(self).__name__}(dirname={self.dirname!r}, fn_prefix="
                f"{self.fn_prefix!r}): another fit saved into the same checkpoint files "
                "while this one was training (e.g. clones of one net in a parallel "
                "search); the newest set is whichever saved last. Give each fit its own "
                "place, e.g. callbacks__<name>__dirname in the parameter grid.",
                SktorchWarning,
            )
        if owner is not None:
            self._n_own_saves_ += 1

    def read_checkpoint(self, net: Any, keys: Any = None,
                        owner: str | None = None) -> LoadedCheckpoint | None:
        """The newest complete saved set (``None`` when nothing was saved yet).

        Files in the checkpoint directory are read through its manifest and verified
        against their checksums; file objects are read from their start. ``owner``
        restricts the manifest's sets to those one fit saved.
        """
        targets = {k: f for k, f in self._targets().items() if keys is None or k in keys}
        paths = {k for k, f in targets.items() if not _is_file(f)}
        loaded = None
        if paths:
            store = self._store()
            loaded = store.load(keys=paths, slot=self._slot(), owner=owner)
            if loaded is None and owner is not None and store.exists():
                return None  # this fit's sets were replaced by another fit's
            if loaded is None:
                loaded = self._read_plain_files(net, paths)
        for key, f in targets.items():
            if not _is_file(f):
                continue
            f.seek(0)
            data = f.read()
            if not data:
                continue  # nothing saved into it yet
            loaded = loaded or LoadedCheckpoint(0, {}, {}, None, {})
            if key == "f_history":
                loaded.history = decode_history(data, f)
            else:
                loaded.files[key] = data if isinstance(data, bytes) else data.encode()
                loaded.paths[key] = f
        if loaded is not None and "f_params" in targets and "f_params" not in loaded.files:
            return None  # e.g. an empty file object: no weights were saved yet
        return loaded

    def _read_plain_files(self, net: Any, keys: set) -> LoadedCheckpoint | None:
        """Files without a manifest (written by skorch): read as they are, unverified."""
        names = [getattr(self, k) for k in keys]
        if any(isinstance(f, str) and "{" in f for f in names) and not (
                self._checkpoint_row(net)):
            return None  # the names need a saved history, and there is none
        files = self._formatted_names(net)
        if "f_params" in keys and not os.path.exists(files["f_params"]):
            return None
        loaded = LoadedCheckpoint(0, {}, {}, None, {}, use_safetensors=self.use_safetensors)
        for key in keys:
            path = files[key]
            if not os.path.exists(path):
                continue
            if key == "f_history":
                loaded.history = decode_history(read_bytes(path, "history"), path)
            elif key != "f_pickle":
                loaded.files[key] = read_bytes(path, key)
                loaded.paths[key] = path
        return loaded if (loaded.files or loaded.history is not None) else None

    def _weights_finite(self, net: Any) -> bool:
        """False, with a warning, when the weights are NaN or infinite (nothing is written)."""
        if weights_finite(net.module_):
            return True
        warn_user(
            f"{type(self).__name__} did not save: the module's weights are NaN or "
            "infinite. The files it wrote before are kept.",
            SktorchWarning,
        )
        return False

    def _sink(self, text: str, verbose: Any) -> None:
        if verbose:
            self.sink(text)
