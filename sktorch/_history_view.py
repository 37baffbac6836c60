"""A checkpoint's plain-named history file (skorch's ``history.json``), kept by appends.

The verified history of a checkpoint lives in its store (see
:mod:`sktorch._checkpoint_store`); this file is the copy under the name the user
gave, one JSON list as skorch writes it, so that ``open``, ``json.load`` and
copying the checkpoint's files work. Rewriting it at each save would cost the
whole history, so a save rewrites only from the previous save's last row (callbacks
may still have added to that row) and appends the new rows and the closing bracket:
O(new rows). When the file is not the one this checkpoint last wrote (another fit
saved into it, it was edited, or this is a fit's first save), it is written anew,
atomically.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Callable

__all__ = ["ViewState", "write_history_view"]


@dataclass
class ViewState:
    """Where the last write left the file: enough to append the next rows only."""

    path: str
    n_bytes: int
    mtime_ns: int
    n_final: int  # rows before the last one, which the next save writes again
    tail: int  # byte offset where the last row starts
    history_id: int


def write_history_view(path: Any, history: Any, state: ViewState | None,
                       dumps_row: Callable, replace: Callable) -> ViewState:
    """Bring the JSON list at ``path`` up to ``history``; return where it ends.

    ``dumps_row`` turns a row into one line of JSON; ``replace(path, data)`` writes
    a whole file atomically.
    """
    path = os.path.abspath(os.fspath(path))
    start = state.n_final if _appendable(path, history, state) else None
    rows = [dumps_row(row).encode() for row in history[start or 0:]]
    body = b", ".join(rows) + b"]"
    if start is None:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        replace(path, b"[" + body)
        tail = 1
    else:
        with open(path, "r+b") as handle:
            handle.seek(state.tail)
            handle.truncate()
            handle.write(body)
            handle.flush()
            os.fsync(handle.fileno())
        tail = state.tail
    tail += sum(len(row) + 2 for row in rows[:-1])
    stat = os.stat(path)
    return ViewState(path, stat.st_size, stat.st_mtime_ns, max(len(history) - 1, 0), tail,
                     id(history))


def _appendable(path: str, history: Any, state: ViewState | None) -> bool:
    """Whether the file is still exactly what ``state`` wrote, for this history."""
    if state is None or state.path != path or state.history_id != id(history) or (
            state.n_final > len(history)):
        return False
    try:
        stat = os.stat(path)
    except OSError:
        return False
    return stat.st_size == state.n_bytes and stat.st_mtime_ns == state.mtime_ns
