"""Profile sktorch on the small workload (c), where per-batch overhead dominates.

Usage: ``python benchmarks/profile_small.py [N_FITS]``; prints the cProfile entries
sorted by own time, so the library's per-batch Python calls stand out next to torch's.
"""

from __future__ import annotations

import cProfile
import pstats
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import workloads as wl  # noqa: E402


def main() -> None:
    n_fits = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    w = wl.WORKLOADS["c"]
    X, y = w.data()
    wl.train_sktorch(w, X, y)  # warm-up
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(n_fits):
        wl.train_sktorch(w, X, y)
    profiler.disable()
    stats = pstats.Stats(profiler).strip_dirs().sort_stats("tottime")
    stats.print_stats(30)


if __name__ == "__main__":
    main()
