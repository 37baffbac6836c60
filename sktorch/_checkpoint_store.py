"""The on-disk store behind ``Checkpoint``: one checkpoint is one atomic, verified set.

Layout of a checkpoint with file-name prefix ``<p>`` in ``dirname``::

    dirname/<p>manifest.json         the pointer: written last, switched by one atomic rename
    dirname/.sktorch/<p or default>/ the store
        v000007-xxxx/params.pt ...   the files of one save (a fresh directory per save)
        history-xxxx.jsonl           the history, one epoch row per line, append-only
    dirname/<p>params.pt ...         hard links to the newest set's files (skorch's names)
    dirname/<p>history.json          the history as one JSON list (see sktorch._history_view)

A save writes its files into a fresh version directory, appends the epochs that
ended since the previous save to the history log, and only then replaces the
manifest, which names the epoch, the files with their SHA-256 checksums, and the
history log's length with its running CRC-32. The current epoch's row lives in the
manifest itself, because callbacks may still add to it after the save. Loading reads
the manifest, verifies every file against it, and falls back to the previous set
when the newest one is damaged: files from different saves are never mixed. A save
costs the size of the weights plus the new history rows, never the whole history.

Several checkpoints may share one manifest (same directory and prefix, other weight
file names, e.g. one for the best epoch and one for every epoch): each entry names
its *slot*, and each checkpoint reads, keeps and replaces only its own slot's sets.
Each entry also names the fit (*owner*) that saved it, so that a fit never takes
another concurrent fit's set for its own best one.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import shutil
import zlib
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from sktorch._history_view import ViewState, write_history_view
from sktorch._warnings import warn_user
from sktorch.exceptions import CheckpointError, SktorchWarning

__all__ = ["CheckpointError", "CheckpointStore", "LoadedCheckpoint", "LogState", "json_safe",
           "history_from_manifests"]

FORMAT = "sktorch-checkpoint"
FORMAT_VERSION = 1
N_KEPT = 2  # per slot: the newest set and one complete fallback


def json_safe(value: Any, where: str = "the history") -> Any:
    """``value`` with numpy and torch scalars/arrays turned into plain Python values.

    Raises a ``TypeError`` naming ``where`` for values JSON cannot hold.
    """
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, dict):
        return {str(k): json_safe(v, f"{where}[{k!r}]") for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v, where) for v in value]
    if isinstance(value, torch.Tensor):
        return json_safe(value.detach().cpu().tolist(), where)
    if isinstance(value, (np.generic, np.ndarray)):
        return json_safe(value.tolist(), where)
    raise TypeError(
        f"{where} holds {value!r} of type {type(value).__name__}, which cannot be saved as "
        "JSON. Record plain numbers, strings, bools, lists or dicts (numpy and torch "
        "values are converted), e.g. history.record(key, float(value))."
    )


def dumps_row(row: Any) -> str:
    """One history row as a single JSON line."""
    return json.dumps(json_safe(row), separators=(",", ":"))


@dataclass
class LogState:
    """What a ``Checkpoint`` remembers between saves to append only new history rows."""

    name: str
    n_rows: int
    n_bytes: int
    crc32: int
    history_id: int
    last_line: str = ""
    view: ViewState | None = None  # the plain-named history file


@dataclass
class LoadedCheckpoint:
    """One verified set: the raw bytes of each file, the history rows and attributes."""

    epoch: int
    files: dict[str, bytes]
    names: dict[str, str]
    history: list | None
    attributes: dict
    use_safetensors: bool = False
    paths: dict[str, Any] = field(default_factory=dict)
    from_manifest: bool = False


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # e.g. Windows: directories cannot be opened
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _write_file(path: Path, data: bytes) -> None:
    with open(path, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())


@contextmanager
def _locked(path: Path):
    """Hold an exclusive lock on ``path`` (where the platform has ``fcntl``)."""
    try:
        import fcntl
    except ImportError:  # Windows: saves into one directory are not serialized
        yield
        return
    with open(path, "a+b") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


class CheckpointStore:
    """The files of the checkpoints with one file-name prefix in one directory.

    Parameters
    ----------
    dirname : str or path
        The checkpoint directory (``''`` is the working directory).
    prefix : str
        The checkpoint's ``fn_prefix``; each prefix has its own manifest and store.
    """

    def __init__(self, dirname: Any, prefix: str = ""):
        base = Path(dirname or ".")
        head, tail = os.path.split(prefix)
        self.dirname = base / head if head else base
        self.prefix = tail
        self.manifest_path = self.dirname / f"{tail}manifest.json"
        self.key = tail or "default"
        self.root = self.dirname / ".sktorch" / self.key
        self.replaced: dict | None = None  # set by save

    # ------------------------------------------------------------------ reading
    def read_manifest(self) -> dict | None:
        """The manifest, ``None`` when there is none; raises when it is damaged."""
        try:
            text = self.manifest_path.read_text()
        except FileNotFoundError:
            return None
        try:
            manifest = json.loads(text)
        except ValueError:
            manifest = None
        if not isinstance(manifest, dict) or manifest.get("format") != FORMAT or not (
                isinstance(manifest.get("entries"), list)):
            raise CheckpointError(
                f"The checkpoint manifest {self.manifest_path} is damaged or not a sktorch "
                "manifest. Delete it (and the .sktorch folder beside it) to start afresh."
            )
        return manifest

    def exists(self) -> bool:
        """Whether a manifest exists (a checkpoint was completed here)."""
        return self.manifest_path.exists()

    def load(self, keys: Any = None, slot: str | None = None,
             owner: str | None = None) -> LoadedCheckpoint | None:
        """The newest complete set (``None`` without a manifest), each file verified.

        ``keys`` restricts the files read (e.g. only ``f_params``); ``slot`` and
        ``owner`` restrict the sets to one checkpoint's and one fit's (``None``: any;
        ``None`` is also returned when no set matches). A damaged newest set falls back
        to the previous one with a warning; when none is complete, a
        :class:`CheckpointError` says what is wrong.
        """
        manifest = self.read_manifest()
        if manifest is None:
            return None
        entries = [e for e in manifest["entries"] if (slot is None or _slot_of(e, slot) == slot)
                   and (owner is None or e.get("owner") == owner)]
        if not entries:
            return None
        problems = []
        for i, entry in enumerate(entries):
            try:
                loaded = self._load_entry(entry, keys)
            except (CheckpointError, OSError, ValueError, KeyError, TypeError) as exc:
                problems.append(f"epoch {entry.get('epoch')}: {exc}")
                continue
            if i:
                warn_user(
                    f"The newest checkpoint in {self.dirname} is damaged ({problems[0]}); "
                    f"the previous complete one, of epoch {loaded.epoch}, was loaded instead.",
                    SktorchWarning,
                )
            return loaded
        raise CheckpointError(
            f"No complete checkpoint in {self.dirname}: " + "; ".join(problems)
            + ". Delete the manifest to start afresh, or restore the files from a backup."
        )

    def newest_views(self, slot: str) -> dict[str, str | None] | None:
        """The plain names the newest set of ``slot`` was linked under (``None``: no set).

        Keys as in ``save``'s ``files``, plus ``'f_history'`` (``None`` when that set
        has no history).
        """
        try:
            manifest = self.read_manifest()
        except CheckpointError:
            return None
        for entry in manifest["entries"] if manifest else []:
            if _slot_of(entry, slot) == slot:  # each slot's newest set comes first
                views = {key: info["view"] for key, info in entry["files"].items()}
                views["f_history"] = (entry.get("history") or {}).get("view")
                return views
        return None

    def _load_entry(self, entry: dict, keys: Any) -> LoadedCheckpoint:
        version = self.root / entry["dir"]
        files, names, paths = {}, {}, {}
        for key, info in entry["files"].items():
            names[key] = info["name"]
            if keys is not None and key not in keys:
                continue
            path = version / info["name"]
            data = path.read_bytes()
            if len(data) != info["bytes"] or hashlib.sha256(data).hexdigest() != info["sha256"]:
                raise CheckpointError(
                    f"{path} does not match its checksum in {self.manifest_path.name} "
                    f"({len(data)} bytes, {info['bytes']} expected): the file is damaged"
                )
            files[key] = data
            paths[key] = str(path)
        history = None
        if entry.get("history") is not None and (keys is None or "f_history" in keys):
            history = self._read_history(entry["history"])
        return LoadedCheckpoint(
            epoch=entry["epoch"], files=files, names=names, history=history,
            attributes=entry.get("attributes", {}),
            use_safetensors=entry.get("use_safetensors", False), paths=paths,
            from_manifest=True)

    def _read_history(self, info: dict) -> list:
        rows = []
        if info["n_rows"]:
            path = self.root / info["log"]
            with open(path, "rb") as handle:
                data = handle.read(info["n_bytes"])
            if len(data) != info["n_bytes"] or zlib.crc32(data) != info["crc32"]:
                raise CheckpointError(
                    f"the history log {path} does not match its checksum: it is damaged")
            rows = [json.loads(line) for line in data.decode().splitlines()]
            if len(rows) != info["n_rows"]:
                raise CheckpointError(f"the history log {path} has the wrong number of rows")
        if info.get("last_row") is not None:
            rows.append(info["last_row"])
        return rows

    # ------------------------------------------------------------------ writing
    def save(
        self,
        files: dict[str, tuple[str, bytes]],
        history: list | None,
        log: LogState | None,
        attributes: dict,
        epoch: int,
        use_safetensors: bool = False,
        history_view: Any = None,
        slot: str = "",
        owner: str | None = None,
    ) -> LogState | None:
        """Write one set and switch the manifest to it; return the new history log state.

        ``files`` maps keys (``'f_params'``, ...) to ``(path, bytes)``: the bytes are
        already serialized, so that a value that cannot be saved fails before anything
        is written; ``path`` is where the plain-named link to the file goes. The set
        replaces older ones of its ``slot`` only; ``owner`` names the fit that saved it.
        Afterwards ``self.replaced`` is the slot's newest entry before this save.
        """
        # Serialize the new history rows first: a value JSON cannot hold fails here,
        # before anything (even the store's folder) is written.
        pending = None if history is None else _serialize_rows(history, log)
        self.root.mkdir(parents=True, exist_ok=True)
        with _locked(self.root / "lock"):
            try:
                manifest = self.read_manifest()
            except CheckpointError:
                manifest = None  # damaged: nothing in it can be trusted, start anew
            entries = manifest["entries"] if manifest else []
            own = [e for e in entries if _slot_of(e, slot) == slot]
            self.replaced = own[0] if own else None
            history_plan = None if history is None else self._plan_history(
                history, log, pending)
            seq = max((e.get("seq", 0) for e in entries), default=0) + 1
            version = self.root / f"v{seq:06d}-{secrets.token_hex(4)}"
            version.mkdir()
            entry = {"seq": seq, "slot": slot, "owner": owner, "epoch": epoch, "dir": version.name,
                     "files": {}, "attributes": attributes,
                     "use_safetensors": use_safetensors, "history": None}
            names = _version_names(files)
            for key, (view, data) in files.items():
                _write_file(version / names[key], data)
                entry["files"][key] = {"name": names[key], "view": os.fspath(view),
                                       "bytes": len(data),
                                       "sha256": hashlib.sha256(data).hexdigest()}
            _fsync_dir(version)
            new_log = None
            if history_plan is not None:
                entry["history"], new_log = self._write_history(history_plan, history)
                if history_view is not None:
                    entry["history"]["view"] = os.fspath(history_view)
            _fsync_dir(self.root)
            others = [e for e in entries if _slot_of(e, slot) != slot]
            new_manifest = {"format": FORMAT, "version": FORMAT_VERSION,
                            "entries": [entry] + own[: N_KEPT - 1] + others}
            text = json.dumps(new_manifest, indent=1)
            _replace_atomically(self.manifest_path, text.encode(), self._tmp_path)
            self._update_view(version, entry["files"])
            if new_log is not None and history_view is not None:
                new_log.view = write_history_view(
                    history_view, history, log.view if log is not None else None, dumps_row,
                    lambda path, data: _replace_atomically(Path(path), data, self._tmp_path))
            self._clean(new_manifest["entries"])
        return new_log

    def _plan_history(self, history: list, log: LogState | None, pending: dict) -> dict:
        """Append to our log when it is still intact and this history's; else a new log."""
        start = pending["start"]
        appendable = (
            pending["same"] and (self.root / log.name).is_file()
            and (self.root / log.name).stat().st_size == log.n_bytes
            and (start == 0 or dumps_row(history[start - 1]) == log.last_line)
        )
        lines = pending["lines"]
        if not appendable and start > 0:  # e.g. another writer removed our log
            lines = [dumps_row(row) for row in history[:start]] + lines
        return {"base": log if appendable else None, "lines": lines,
                "last_row": pending["last_row"]}

    def _write_history(self, plan: dict, history: list) -> tuple[dict, LogState]:
        log = plan["base"]
        if log is not None:
            name, n_rows, n_bytes, crc, last_line = (
                log.name, log.n_rows, log.n_bytes, log.crc32, log.last_line)
        else:
            name, n_rows, n_bytes, crc, last_line = (
                f"history-{secrets.token_hex(6)}.jsonl", 0, 0, 0, "")
        data = "".join(line + "\n" for line in plan["lines"]).encode()
        with open(self.root / name, "ab") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        n_rows += len(plan["lines"])
        n_bytes += len(data)
        crc = zlib.crc32(data, crc)
        if plan["lines"]:
            last_line = plan["lines"][-1]
        info = {"log": name, "n_rows": n_rows, "n_bytes": n_bytes, "crc32": crc,
                "last_row": plan["last_row"]}
        return info, LogState(name, n_rows, n_bytes, crc, id(history), last_line)

    def _update_view(self, version: Path, files: dict) -> None:
        """Link the newest files under their plain names (each replaced atomically)."""
        for info in files.values():
            target = Path(info["view"])
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp = self._tmp_path(target)
            try:
                os.link(version / info["name"], tmp)
            except OSError:  # no hard links here (some network or FAT file systems)
                shutil.copyfile(version / info["name"], tmp)
            os.replace(tmp, target)
            if target.parent != self.dirname:
                for stale in target.parent.glob(f".*.{self.key}-*.sktorch-tmp"):
                    stale.unlink(missing_ok=True)

    def _clean(self, entries: list) -> None:
        """Remove versions, logs and temporary files that no kept entry refers to."""
        keep = {e["dir"] for e in entries}
        keep |= {e["history"]["log"] for e in entries if e.get("history")}
        keep.add("lock")
        for path in self.root.iterdir():
            if path.name in keep:
                continue
            if path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)
        for path in self.dirname.glob(f".*.{self.key}-*.sktorch-tmp"):
            path.unlink(missing_ok=True)

    def _tmp_path(self, target: Path) -> Path:
        return target.parent / f".{target.name}.{self.key}-{secrets.token_hex(4)}.sktorch-tmp"


def _serialize_rows(history: list, log: LogState | None) -> dict:
    """JSON lines of the rows that ended since ``log`` (all when it is not this history's)."""
    n_final = max(len(history) - 1, 0)
    same = log is not None and log.history_id == id(history) and log.n_rows <= n_final
    start = log.n_rows if same else 0
    return {"start": start, "same": same,
            "lines": [dumps_row(row) for row in history[start:n_final]],
            "last_row": json_safe(history[-1]) if history else None}


def history_from_manifests(path: Any) -> list | None:
    """The history a checkpoint saved under the plain name ``path`` (``None``: no such).

    The history of a checkpoint lives in its store, not at its plain name, so that a
    save costs only the new epochs; this finds it for ``load_params(f_history=path)``.
    """
    path = Path(path)
    for manifest_path in sorted(path.parent.glob("*manifest.json")):
        prefix = manifest_path.name[: -len("manifest.json")]
        store = CheckpointStore(path.parent, prefix)
        try:
            manifest = store.read_manifest()
        except CheckpointError:
            continue
        newest: dict = {}  # each slot's newest set
        for entry in manifest["entries"] if manifest else []:
            newest.setdefault(_slot_of(entry, ""), entry)
        for slot, entry in newest.items():
            view = (entry.get("history") or {}).get("view")
            if view is not None and os.path.abspath(view) == os.path.abspath(path):
                return store.load(keys=("f_history",), slot=slot).history
    return None


def _slot_of(entry: dict, default: str) -> str:
    """The slot of a manifest entry (entries saved before slots existed: ``default``)."""
    slot = entry.get("slot")
    return default if slot is None else slot


def _version_names(files: dict) -> dict[str, str]:
    """File names inside a version directory: the plain names, made unique."""
    names: dict[str, str] = {}
    for key, (view, _) in files.items():
        name = os.path.basename(os.fspath(view)) or key
        if name in names.values() or name in ("lock",):
            name = f"{key}-{name}"
        names[key] = name
    return names


def _replace_atomically(path: Path, data: bytes, tmp_path: Any) -> None:
    tmp = tmp_path(path)
    try:
        _write_file(tmp, data)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)
