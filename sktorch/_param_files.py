"""Turning a net's parts into bytes and back: state dicts, the history, LBFGS state.

Everything here works on bytes in memory, so a value that cannot be saved fails
before any file is touched, and a damaged file fails before any state is replaced.
"""

from __future__ import annotations

import io
import json
import os
import pickle
from collections import OrderedDict, defaultdict
from typing import Any

import torch

from sktorch._checkpoint_store import CheckpointError, json_safe

__all__ = ["encode_state", "decode_state", "encode_history", "decode_history",
           "pack_optimizer_state", "unpack_optimizer_state", "read_bytes", "describe"]

# LBFGS keeps its curvature pairs as lists of tensors: one tensor each, stacked on save
# (one record instead of hundreds). ``al`` is scratch space that every step overwrites.
_LBFGS_LISTS = ("old_dirs", "old_stps", "ro")
_PACKED = "_sktorch_packed"


def describe(f: Any) -> str:
    """A file's name for messages."""
    if isinstance(f, (str, os.PathLike)):
        return repr(os.fspath(f))
    name = getattr(f, "name", None)
    return f"the file object {name!r}" if isinstance(name, str) else f"the {type(f).__name__}"


def read_bytes(f: Any, what: str) -> bytes:
    """All bytes of a path or file object; an empty one raises naming the file."""
    if hasattr(f, "read"):
        data = f.read()
    else:
        with open(f, "rb") as handle:
            data = handle.read()
    if isinstance(data, str):
        data = data.encode()
    if not data:
        raise CheckpointError(
            f"{describe(f)} is empty (0 bytes), so it holds no {what}. It was probably "
            "written by a process that was killed, or truncated; save it again (or load "
            "a checkpoint through net.load_params(checkpoint=cp), which verifies files)."
        )
    return data


def encode_state(state: dict, use_safetensors: bool) -> bytes:
    """A state dict as bytes in torch's format or safetensors."""
    if use_safetensors:
        from safetensors.torch import save as st_save

        # The root's text facts (a classifier's labels) go into the file's metadata.
        facts = getattr(state, "_metadata", {}).get("", {})
        metadata = {k: v for k, v in facts.items() if isinstance(v, str)}
        return st_save({k: v.contiguous() for k, v in state.items()}, metadata=metadata or None)
    buffer = io.BytesIO()
    torch.save(state, buffer)
    return buffer.getvalue()


def decode_state(data: bytes, f: Any, what: str, location: Any, use_safetensors: bool,
                 load_kwargs: dict | None = None) -> dict:
    """Read a state dict without unpickling arbitrary objects; damage names the file.

    ``load_kwargs`` (the net's ``torch_load_kwargs``) go to ``torch.load`` over its
    defaults, e.g. ``{'weights_only': False}`` for a trusted file with other objects.
    """
    if use_safetensors:
        from safetensors.torch import load as st_load

        try:
            loaded = st_load(data)
        except Exception as exc:  # safetensors raises its own SafetensorError
            raise CheckpointError(
                f"{describe(f)} is not a readable safetensors file of {what} ({exc}). If "
                "it was saved in torch's format, load it with use_safetensors=False."
            ) from exc
        state = OrderedDict((k, v.to(location)) for k, v in loaded.items())
        header = json.loads(data[8 : 8 + int.from_bytes(data[:8], "little")])
        state._metadata = {"": header.get("__metadata__") or {}}  # as torch.load gives it
        return state
    try:
        # weights_only=True: tensors and plain containers only; a crafted pickle cannot run code.
        kwargs = {"map_location": location, "weights_only": True, **(load_kwargs or {})}
        return torch.load(io.BytesIO(data), **kwargs)
    except pickle.UnpicklingError as exc:
        raise CheckpointError(
            f"{describe(f)} was refused as {what}: with weights_only=True it may hold only "
            "tensors and plain containers (other objects could run code when unpickled), "
            "or it is damaged. If you trust the file, pass torch_load_kwargs="
            f"{{'weights_only': False}} to the net. torch said: {str(exc).splitlines()[0]}"
        ) from None
    except (EOFError, RuntimeError, ValueError, OSError, LookupError) as exc:
        # LookupError: torch's weights-only unpickler raises IndexError or KeyError on
        # some damaged bytes (e.g. an empty stack), which say nothing about the file.
        raise CheckpointError(
            f"{describe(f)} is not a readable torch file of {what}: {exc}. The file is "
            "damaged or of another format (with use_safetensors=True for safetensors)."
        ) from exc


def encode_history(rows: list) -> bytes:
    """The history as one JSON list (skorch's format), numpy/torch values converted."""
    return json.dumps([json_safe(row) for row in rows]).encode()


def decode_history(data: bytes, f: Any) -> list:
    """History rows from a JSON list or JSON lines; anything else raises naming the file."""
    text = data.decode() if isinstance(data, bytes) else data
    try:
        rows = json.loads(text)
    except ValueError:
        try:
            rows = [json.loads(line) for line in text.splitlines() if line.strip()]
        except ValueError as exc:
            raise CheckpointError(
                f"{describe(f)} is not a history: it is neither JSON nor JSON lines ({exc})."
            ) from None
    check_history_rows(rows, describe(f))
    return rows


def check_history_rows(rows: Any, where: str) -> None:
    """Raise unless ``rows`` is a list of epoch dicts (with a list of batch dicts)."""
    if not isinstance(rows, list):
        raise CheckpointError(
            f"{where} is not a history: expected a list of epoch rows (dicts), got "
            f"{type(rows).__name__}. Pass the file that save_params(f_history=...) wrote."
        )
    for i, row in enumerate(rows):
        batches = row.get("batches", []) if isinstance(row, dict) else None
        if not isinstance(batches, list) or not all(isinstance(b, dict) for b in batches):
            raise CheckpointError(
                f"{where} is not a history: row {i} is {str(row)[:80]!r}, but every row "
                "must be a dict of one epoch's values whose 'batches' is a list of dicts."
            )


def pack_optimizer_state(optimizer: Any, state: dict) -> dict:
    """An optimizer's ``state_dict()`` in a compact form (LBFGS: stacked tensors)."""
    if not isinstance(optimizer, torch.optim.LBFGS):
        return state
    packed = {}
    for index, values in state["state"].items():
        values = {k: v for k, v in values.items() if k != "al"}
        stacked = []
        for key in _LBFGS_LISTS:
            tensors = values.get(key)
            if isinstance(tensors, list) and tensors:
                values[key] = torch.stack(tensors)
                stacked.append(key)
        values[_PACKED] = stacked
        packed[index] = values
    return {**state, "state": packed}


def unpack_optimizer_state(state: dict) -> dict:
    """Undo :func:`pack_optimizer_state` (a no-op on other state dicts)."""
    out = {}
    for index, values in state.get("state", {}).items():
        if isinstance(values, dict) and _PACKED in values:
            values = dict(values)
            for key in values.pop(_PACKED):
                values[key] = [t.clone() for t in values[key].unbind(0)]
        out[index] = values
    return {**state, "state": out}


def lean_optimizer(optimizer: Any) -> Any:
    """A shallow copy of ``optimizer`` whose state pickles compactly (LBFGS only)."""
    if not isinstance(optimizer, torch.optim.LBFGS):
        return optimizer
    lean = object.__new__(type(optimizer))
    lean.__dict__.update(optimizer.__dict__)
    lean.state = defaultdict(dict)
    for param, values in optimizer.state.items():
        packed = pack_optimizer_state(optimizer, {"state": {0: values}})["state"][0]
        lean.state[param] = packed
    return lean


def restore_optimizer(optimizer: Any) -> None:
    """Repair an unpickled optimizer: unpack its state, rebuild LBFGS's private fields."""
    if not isinstance(optimizer, torch.optim.LBFGS):
        return
    for param, values in list(optimizer.state.items()):
        optimizer.state[param] = unpack_optimizer_state({"state": {0: values}})["state"][0]
    # torch pickles only defaults, state and param_groups; LBFGS.__init__ also sets these.
    optimizer._params = optimizer.param_groups[0]["params"]
    optimizer._numel_cache = None
