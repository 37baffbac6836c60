"""The training record: one dict per epoch, each with a list of per-batch dicts.

The history is written by the training engine and by callbacks, and read by
callbacks, the printed log and the user. Writes are O(1) appends; reads support
skorch's slicing syntax, e.g. ``history[:, 'train_loss']`` or
``history[-1, 'batches', :, 'train_loss']``.
"""

from __future__ import annotations

import copy
from typing import Any

__all__ = ["History", "DistributedHistory"]


def _select(rows: list, key: Any, rest: tuple) -> Any:
    """Apply ``key`` then ``rest`` to a list of dicts (epochs or batches)."""
    if isinstance(key, slice):
        picked = rows[key]
        if not rest:
            return list(picked)
        values = []
        missing = rest[0]
        for row in picked:
            try:
                values.append(_lookup(row, rest))
            except KeyError as exc:  # the key missing, at whatever depth it was looked up
                missing = getattr(exc, "key", exc.args[0] if exc.args else missing)
                continue
        if picked and not values:
            raise _MissingKey(missing)
        return values
    row = rows[key]
    return _lookup(row, rest) if rest else row


class _MissingKey(KeyError):
    """A history key found in none of the selected rows; ``key`` is the one missing."""

    def __init__(self, key: Any):
        super().__init__(f"Key {key!r} was not found in any of the selected rows.")
        self.key = key


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

    _shared_with_copies: tuple[str, ...] = ()  # attributes an empty copy shares

    def _empty_copy(self) -> History:
        """A new, empty history of this class with this one's settings.

        ``clone(net)`` gives the clone one of these for a history passed as
        ``history=``: each fitted clone keeps its own rows.
        """
        new = type(self).__new__(type(self))
        for key, value in vars(self).items():
            if key not in self._shared_with_copies:
                try:  # a subclass's lists are not shared
                    value = copy.deepcopy(value)
                except Exception:  # e.g. a lock or a connection: shared, as before
                    pass
            vars(new)[key] = value
        return new

    @classmethod
    def from_list(cls, rows: list) -> History:
        """Rebuild a history from :meth:`to_list` output."""
        history = cls()
        history.extend(rows)
        return history

    def to_file(self, f: Any) -> None:
        """Write the history as JSON (skorch's format) to a path or an open file.

        Examples
        --------
        >>> import io
        >>> h = History([{'epoch': 1, 'train_loss': 0.5, 'batches': []}])
        >>> buffer = io.StringIO(); h.to_file(buffer)
        >>> History.from_file(io.StringIO(buffer.getvalue()))[:, 'train_loss']
        [0.5]
        """
        import io

        from sktorch._param_files import encode_history

        data = encode_history(self)
        if hasattr(f, "write"):
            f.write(data.decode() if isinstance(f, io.TextIOBase) else data)
        else:
            with open(f, "wb") as handle:
                handle.write(data)

    @classmethod
    def from_file(cls, f: Any) -> History:
        """Read a history written by :meth:`to_file`, ``save_params`` or a checkpoint.

        ``f`` is a path or an open file. A checkpoint keeps its history in its store:
        its plain name (e.g. ``'exp1/history.json'``) reads it from there, verified.
        """
        import os

        from sktorch._param_files import decode_history, read_bytes

        if isinstance(f, (str, os.PathLike)):
            from sktorch._checkpoint_store import history_from_manifests

            rows = history_from_manifests(f)
            if rows is not None:
                return cls.from_list(rows)
        return cls.from_list(decode_history(read_bytes(f, "history"), f))


class DistributedHistory(History):
    """A history whose batch rows are shared by the processes of a distributed fit.

    Each process of a data-parallel fit (``DistributedDataParallel``, accelerate)
    sees only its own batches, so plain histories diverge, and decisions made from
    them (early stopping, checkpoints) could differ between processes. At the end
    of each epoch's passes, this history publishes its process's batch rows to a
    torch distributed key-value store, waits for every other process's rows, and
    replaces the epoch's ``'batches'`` with all of them in rank order; epoch scores
    computed from the batches then agree. Epoch-level values recorded by each
    process (e.g. ``'dur'``) may still differ.

    Pass it to the net as ``history=``; every process must create one with its own
    ``rank`` and the same ``store`` and ``world_size``.

    Parameters
    ----------
    *args
        Initial epoch rows, as for a list.
    store : torch.distributed.Store
        E.g. ``torch.distributed.TCPStore`` or ``FileStore``.
    rank : int
        This process's rank, from 0 to ``world_size - 1``.
    world_size : int
        The number of processes.

    Notes
    -----
    If training hangs, check ``rank`` and ``world_size``: each process waits for the
    rows of every rank. Pickled, the history keeps its rows but not the store;
    ``sync`` then does nothing.

    Examples
    --------
    >>> import torch.distributed as dist
    >>> history = DistributedHistory(store=dist.HashStore(), rank=0, world_size=1)
    >>> history.new_epoch(); history.new_batch(); history.record_batch('train_loss', 0.5)
    >>> history.sync()
    >>> history[-1, 'batches', :, 'train_loss']
    [0.5]
    """

    _shared_with_copies = ("store", "_n_syncs")

    def __init__(self, *args: Any, store: Any, rank: int, world_size: int):
        super().__init__(*args)
        if not 0 <= rank < world_size:
            raise ValueError(
                f"DistributedHistory needs 0 <= rank < world_size; got rank={rank}, "
                f"world_size={world_size}."
            )
        self.store = store
        self.rank = rank
        self.world_size = world_size
        # Never reset, and shared with clones (which all processes make alike): the
        # keys of earlier fits must not be read again.
        self._n_syncs = _SyncCounter()

    def sync(self) -> None:
        """Replace the current epoch's batch rows with those of all processes."""
        if not self or self.store is None:
            return
        import pickle

        prefix = f"sktorch-history/{self._n_syncs.next()}"
        self.store.set(f"{prefix}/{self.rank}", pickle.dumps(self[-1]["batches"]))
        rows: list = []
        for rank in range(self.world_size):
            rows.extend(pickle.loads(self.store.get(f"{prefix}/{rank}")))
        self[-1]["batches"] = rows

    def __getstate__(self) -> dict:
        state = dict(vars(self))
        state["store"] = None  # a store holds sockets or files of this process
        return state

    def __reduce_ex__(self, protocol: Any) -> Any:
        return (_rebuild_distributed, (list(self), self.__getstate__()))


class _SyncCounter:
    """The number of syncs so far, shared by a history and its empty copies."""

    def __init__(self) -> None:
        self.value = 0

    def next(self) -> int:
        value = self.value
        self.value += 1
        return value


def _rebuild_distributed(rows: list, state: dict) -> DistributedHistory:
    history = DistributedHistory.__new__(DistributedHistory)
    list.extend(history, rows)
    vars(history).update(state)
    return history
