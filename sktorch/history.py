"""The training record: one dict per epoch, each with a list of per-batch dicts.

The history is written by the training engine and by callbacks, and read by
callbacks, the printed log and the user. Writes are O(1) appends; reads support
skorch's slicing syntax, e.g. ``history[:, 'train_loss']`` or
``history[-1, 'batches', :, 'train_loss']``.
"""

from __future__ import annotations

from typing import Any

__all__ = ["History"]


def _select(rows: list, key: Any, rest: tuple) -> Any:
    """Apply ``key`` then ``rest`` to a list of dicts (epochs or batches)."""
    if isinstance(key, slice):
        picked = rows[key]
        if not rest:
            return list(picked)
        values = []
        for row in picked:
            try:
                values.append(_lookup(row, rest))
            except KeyError:
                continue
        if picked and not values:
            raise KeyError(f"Key {rest[0]!r} was not found in any of the selected rows.")
        return values
    row = rows[key]
    return _lookup(row, rest) if rest else row


def _lookup(row: dict, keys: tuple) -> Any:
    """Look ``keys`` up in one row; a nested list is selected with the keys that follow."""
    first, rest = keys[0], keys[1:]
    if isinstance(first, (list, tuple)):
        return tuple(row[k] for k in first) if not rest else None
    value = row[first]
    if rest:
        return _select(value, rest[0], rest[1:])
    return value


class History(list):
    """Record of a fit: a list with one dict per epoch.

    Each epoch dict holds the epoch's values (``'epoch'``, ``'train_loss'``,
    ``'valid_loss'``, ``'dur'``, ...) and ``'batches'``, a list of per-batch dicts.

    Examples
    --------
    >>> h = History()
    >>> h.new_epoch()
    >>> h.record('train_loss', 0.5)
    >>> h.new_batch()
    >>> h.record_batch('train_loss', 0.6)
    >>> h[:, 'train_loss']
    [0.5]
    >>> h[-1, 'batches', :, 'train_loss']
    [0.6]
    """

    def new_epoch(self) -> None:
        """Start a new epoch row."""
        self.append({"batches": []})

    def new_batch(self) -> None:
        """Start a new batch row in the current epoch."""
        self[-1]["batches"].append({})

    def record(self, key: str, value: Any) -> None:
        """Set ``key`` on the current epoch."""
        if not self:
            raise ValueError("Call new_epoch before recording values in the history.")
        self[-1][key] = value

    def record_batch(self, key: str, value: Any) -> None:
        """Set ``key`` on the current batch of the current epoch."""
        self[-1]["batches"][-1][key] = value

    def __getitem__(self, key: Any) -> Any:
        if not isinstance(key, tuple):
            return super().__getitem__(key)
        if not key:
            raise KeyError("An empty tuple is not a history key.")
        return _select(list(self), key[0], key[1:])

    def to_list(self) -> list:
        """The history as plain lists and dicts (for JSON)."""
        return [dict(row) for row in self]

    @classmethod
    def from_list(cls, rows: list) -> History:
        """Rebuild a history from :meth:`to_list` output."""
        history = cls()
        history.extend(rows)
        return history
