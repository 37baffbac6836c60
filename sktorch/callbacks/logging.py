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

    Columns are ``epoch``, the recorded scores in the order they appear, then
    ``dur``. Keys ending in ``_best``, starting with ``event_``, and ``batches``
    are not shown. When training stops early, the reason is printed.

    Parameters
    ----------
    keys_ignored : str or sequence of str, optional
        History keys to leave out of the table.
    sink : callable, default=print
        Where lines go.
    floatfmt : str, default='.4f'
        Format of float values.

    Examples
    --------
    >>> from sktorch.callbacks import PrintLog
    >>> PrintLog(keys_ignored='dur').keys_ignored
    'dur'
    """

    def __init__(
        self,
        keys_ignored: str | Sequence[str] | None = None,
        sink: Callable = print,
        floatfmt: str = ".4f",
    ):
        self.keys_ignored = keys_ignored
        self.sink = sink
        self.floatfmt = floatfmt

    def initialize(self) -> PrintLog:
        self.first_iteration_ = True
        ignored = self.keys_ignored
        self.ignored_ = {ignored} if isinstance(ignored, str) else set(ignored or ())
        return self

    def _columns(self, row: dict) -> list[str]:
        keys = [
            k
            for k in row
            if k not in ("epoch", "dur", "batches", "stop_reason")
            and not k.endswith("_best")
            and not k.startswith("event_")
            and k not in self.ignored_
        ]
        cols = ["epoch", *keys]
        if "dur" in row and "dur" not in self.ignored_:
            cols.append("dur")
        return cols

    def _cell(self, row: dict, key: str) -> str:
        value = row.get(key, "")
        if isinstance(value, float) and not isinstance(value, bool):
            text = format(value, self.floatfmt)
        else:
            text = str(value)
        return text + ("*" if row.get(f"{key}_best") else " ")

    def on_epoch_end(self, net, **kwargs) -> None:
        row = net.history[-1]
        cols = self._columns(row)
        cells = [self._cell(row, c) for c in cols]
        widths = [max(len(c), len(v), 7) for c, v in zip(cols, cells)]
        if self.first_iteration_:
            self.sink("  ".join(c.rjust(w) for c, w in zip(cols, widths)))
            self.sink("  ".join("-" * w for w in widths))
            self.first_iteration_ = False
        self.sink("  ".join(v.rjust(w) for v, w in zip(cells, widths)))
        if self.sink is print:
            sys.stdout.flush()

    def on_train_end(self, net, **kwargs) -> None:
        if net.history and "stop_reason" in net.history[-1]:
            self.sink(f"Stopping: {net.history[-1]['stop_reason']}")
