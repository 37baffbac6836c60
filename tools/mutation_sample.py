"""Print a uniform random sample of each module's mutants, for `mutmut run NAME...`.

When a full run of a module does not fit in the time at hand, checking a seeded
uniform sample of its mutants estimates its kill rate (MUTATION.md gives the rates
with their 95% intervals). Reads the mutant names from ``mutants/**/*.py.meta``, so
`mutmut run` must have generated the module's mutants first.

Usage: python tools/mutation_sample.py N SEED MODULE_PATH...
e.g.   python tools/mutation_sample.py 40 3 sktorch/net.py sktorch/engine.py
"""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def sample(module: str, n: int, seed: int) -> list[str]:
    meta = ROOT / "mutants" / (module + ".meta")
    names = sorted(json.loads(meta.read_text())["exit_code_by_key"])
    return sorted(random.Random(f"{seed}:{module}").sample(names, min(n, len(names))))


def main(argv: list[str]) -> int:
    n, seed, modules = int(argv[0]), int(argv[1]), argv[2:]
    for module in modules:
        print("\n".join(sample(module, n, seed)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
