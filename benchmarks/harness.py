"""Timing and peak-memory measurement.

Timing: the implementations being compared run alternately in one process (A, B, C,
A, B, C, ...) after one untimed warm-up each, so drift in the machine's speed hits all
of them alike; the median of the repeats is reported.

Memory: ``tracemalloc`` does not see torch's allocations, so each (workload,
implementation) pair runs once in a fresh subprocess that imports the same libraries and
builds the same data, then reads the process's peak resident set size (``VmHWM`` in
``/proc/self/status``). Reported are that peak and its growth over the
resident size just before the timed call (read from ``/proc/self/statm``).
"""

from __future__ import annotations

import gc
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any


def time_alternating(calls: dict[str, Callable[[], object]], repeats: int,
                     statistic: Callable[[list[float]], float] = statistics.median
                     ) -> dict[str, float]:
    """Median (or ``statistic``) seconds of each call, the calls run in turn ``repeats`` times.

    On a machine shared with other work, ``statistic=min`` is the fairer choice: load
    only ever adds time, so the fastest repeat of each call is the least disturbed.
    """
    for call in calls.values():  # warm-up: lazy imports, allocator, kernels
        call()
    times: dict[str, list[float]] = {name: [] for name in calls}
    for _ in range(repeats):
        for name, call in calls.items():
            gc.collect()
            start = time.perf_counter()
            call()
            times[name].append(time.perf_counter() - start)
    return {name: statistic(values) for name, values in times.items()}


def current_rss_mib() -> float:
    """Resident set size now, in MiB (Linux)."""
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def peak_rss_mib() -> float:
    """Peak resident set size of this process so far, in MiB (Linux ``VmHWM``).

    Not ``ru_maxrss``: Linux keeps it across ``execve``, so a child started by a large
    parent reports the parent's peak. ``VmHWM`` belongs to the new address space.
    """
    with open("/proc/self/status") as f:
        kib = next(int(line.split()[1]) for line in f if line.startswith("VmHWM:"))
    return kib / 1024


def measure_in_child(call: Callable[[], object]) -> dict[str, float]:
    """Run ``call`` once in this (fresh) process; report peak RSS and its growth."""
    gc.collect()
    before = current_rss_mib()
    call()
    peak = peak_rss_mib()
    return {"peak_mib": peak, "growth_mib": peak - before}


def json_from_child(script: str, args: list[str], timeout: float = 600) -> Any:
    """Run ``script ARGS`` in a fresh Python process; its last JSON line, or None."""
    proc = subprocess.run(
        [sys.executable, script, *args], capture_output=True, text=True, timeout=timeout,
    )
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith(("{", "[")):
            return json.loads(line)
    sys.stderr.write(f"child {args} failed:\n{proc.stderr[-2000:]}\n")
    return None


def memory_of(script: str, args: list[str], timeout: float = 600) -> dict[str, float] | None:
    """Run ``script --memory-child ARGS`` in a subprocess and read its JSON line."""
    return json_from_child(script, ["--memory-child", *args], timeout)
