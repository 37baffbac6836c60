"""Callbacks that time and report training: ``EpochTimer`` and ``PrintLog``."""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from typing import Callable

from sktorch.callbacks.base import Callback

__all__ = ["EpochTimer", "PrintLog"]


class EpochTimer(Callback):
    """Record each epoch's wall-clock duration in seconds as ``'dur'``.

    Examples
    --------
    >>> from sktorch.callbacks import EpochTimer
    >>> EpochTimer().initialize()
    EpochTimer()
    """

    def on_epoch_begin(self, net, **kwargs) -> None:
        self.epoch_start_time_ = time.perf_counter()

    def on_epoch_end(self, net, **kwargs) -> None:
        net.history.record("dur", time.perf_counter() - self.epoch_start_time_)


class PrintLog(Callback):
    """Print one table row per epoch; the best value of each score is marked ``*``.

    The net runs ``PrintLog`` after every other callback, so the row holds all that
    was recorded in the epoch. Columns: ``epoch`` first, then the recorded values
    sorted by name (e.g. ``train_loss``, ``valid_acc``, ``valid_loss``), then the
    ``event_*`` keys under their short name (``event_cp`` as ``cp``, shown ``+``
    when true; ``event_lr`` as ``lr``), and ``dur`` last. Keys ending in ``_best``
    or ``_batch_count``, ``batches`` and ``stop_reason`` are not shown. When
    training stops early, the reason is printed.

    Parameters
    ----------
    keys_ignored : str or sequence of str, optional
        History keys to leave out of the table.
    sink : callable, default=print
        Where lines go.
    tablefmt : str, default='simple'
        The table's layout. sktorch draws the table itself (it does not depend on
        ``tabulate``) and has ``'simple'`` only: a header, a dashed rule, one row
        per epoch. Other ``tabulate`` formats (``'grid'``, ``'github'``, ...) are
        refused at ``initialize``.
    floatfmt : str, default='.4f'
        Format of float values.

    Examples
    --------
    >>> from sktorch.callbacks import PrintLog
    >>> log = PrintLog(keys_ignored='dur').initialize()
    >>> log.columns({'epoch': 1, 'valid_loss': 0.5, 'train_loss': 0.6, 'dur': 0.1,
    ...              'valid_acc': 0.9, 'event_cp': True, 'train_batch_count': 4})
    ['epoch', 'train_loss', 'valid_acc', 'valid_loss', 'event_cp']
    """

    def __init__(
        self,
        keys_ignored: str | Sequence[str] | None = None,
        sink: Callable = print,
        tablefmt: str = "simple",
        floatfmt: str = ".4f",
    ):
        self.keys_ignored = keys_ignored
        self.sink = sink
        self.tablefmt = tablefmt
        self.floatfmt = floatfmt

    def initialize(self) -> PrintLog:
        if self.tablefmt not in _TABLE_FORMATS:
            raise ValueError(
                f"PrintLog(tablefmt={self.tablefmt!r}) is not available: sktorch prints "
                f"its own table and has only the formats {sorted(_TABLE_FORMATS)}, not "
                "tabulate's others; write PrintLog(tablefmt='simple') (the default) or "
                "leave tablefmt out."
            )
        self.first_iteration_ = True
        ignored = self.keys_ignored
        self.ignored_ = {ignored} if isinstance(ignored, str) else set(ignored or ())
        return self

    def _shown(self, key: str) -> bool:
        return key not in self.ignored_ and key not in _NEVER_SHOWN and not key.endswith(
            ("_best", "_batch_count"))

    def columns(self, row: dict) -> list[str]:
        """The history keys of ``row`` that the table shows, in column order."""
        keys = sorted(k for k in row if isinstance(k, str) and self._shown(k))
        plain = [k for k in keys if not k.startswith("event_")]
        events = [k for k in keys if k.startswith("event_")]
        cols = [] if "epoch" in self.ignored_ else ["epoch"]
        cols += plain + events
        if "dur" in row and "dur" not in self.ignored_:
            cols.append("dur")
        return cols

    def _cell(self, row: dict, key: str) -> str:
        value = row.get(key, "")
        if isinstance(value, bool) or value is None:
            text = "+" if value else ""
        elif isinstance(value, float):
            text = format(value, self.floatfmt)
        else:
            text = str(value)
        return text + ("*" if row.get(f"{key}_best") else " ")

    def on_epoch_end(self, net, **kwargs) -> None:
        row = net.history[-1]
        cols = self.columns(row)
        heads = [c[len("event_"):] if c.startswith("event_") else c for c in cols]
        cells = [self._cell(row, c) for c in cols]
        if self.first_iteration_:
            # Column widths are fixed by the header row, so later rows line up under it.
            self.widths_ = [max(len(h), len(v), 7) for h, v in zip(heads, cells)]
            self.sink("  ".join(h.rjust(w) for h, w in zip(heads, self.widths_)))
            self.sink("  ".join("-" * w for w in self.widths_))
            self.first_iteration_ = False
        widths = self.widths_ + [7] * (len(cells) - len(self.widths_))
        self.sink("  ".join(v.rjust(w) for v, w in zip(cells, widths)))
        if self.sink is print:
            sys.stdout.flush()

    def on_train_end(self, net, **kwargs) -> None:
        if net.history and "stop_reason" in net.history[-1]:
            self.sink(f"Stopping: {net.history[-1]['stop_reason']}")


_TABLE_FORMATS = frozenset({"simple"})
_NEVER_SHOWN = frozenset({"epoch", "dur", "batches", "stop_reason"})
