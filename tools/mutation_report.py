"""Summarize a mutmut run per module: the table of MUTATION.md.

Reads mutmut's result files (``mutants/**/*.py.meta``) and the mutants that
MUTATION.md lists under its "Equivalent mutants" heading (lines
``- `sktorch.<module>.<mutant>`: why``) and its "Killed outside mutmut" heading
(mutants a test kills that cannot run on mutmut's copy, counted as killed), and
prints, per module, the counts of killed, timed-out, surviving, equivalent and
unchecked mutants and the score: (killed + timeout) / (checked - equivalent).
A listed equivalent counts as equivalent also where mutmut recorded a timeout (a
loaded machine stretches a run past mutmut's wall-clock limit; equivalent code
cannot run longer than the original).

With ``--interval`` a last column gives the 95% Wilson interval of the score, for
modules where only a sample of the mutants was checked (tools/mutation_sample.py, or
`make mutation`'s tenth). ``--pattern "GLOB ..."`` counts only the mutants whose names
match one of the space-separated globs (as `mutmut run` matches them): the table of
`make mutation`'s sample.

Usage: python tools/mutation_report.py [--survivors] [--interval] [--pattern "GLOB ..."]
"""

from __future__ import annotations

import fnmatch
import json
import math
import re
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# mutmut's exit codes (mutmut/stats.py). A test process killed by a signal (-9: SIGKILL one
# second after the CPU limit's SIGXCPU; -11: a crash) did not pass: the mutant is caught.
STATUS = {1: "killed", 3: "killed", -11: "killed", 0: "survived", 36: "timeout", 24: "timeout",
          -24: "timeout", 152: "timeout", 255: "timeout", -9: "timeout", None: "not checked",
          5: "no tests", 33: "no tests"}


def listed_mutants(heading: str, path: Path = ROOT / "MUTATION.md") -> set[str]:
    """The mutants named at the start of the list items under MUTATION.md's ``heading``."""
    if not path.exists():
        return set()
    text = path.read_text()
    section = re.search(rf"^#+ {heading}\n(.*?)(?=^#|\Z)", text, re.M | re.S)
    if section is None:
        return set()
    return set(re.findall(r"^- `(sktorch\.[^`]+__mutmut_\d+)`", section.group(1), re.M))


def equivalent_mutants(path: Path = ROOT / "MUTATION.md") -> set[str]:
    return listed_mutants("Equivalent mutants", path)


def wilson_interval(caught: int, scored: int, z: float = 1.96) -> tuple[float, float]:
    """The 95% Wilson score interval of the rate caught / scored."""
    p = caught / scored
    centre = (p + z * z / (2 * scored)) / (1 + z * z / scored)
    half = z * math.sqrt(p * (1 - p) / scored + z * z / (4 * scored**2)) / (1 + z * z / scored)
    return centre - half, centre + half


def results() -> dict[str, dict[str, int | None]]:
    by_module: dict[str, dict[str, int | None]] = {}
    for meta in sorted((ROOT / "mutants").rglob("*.py.meta")):
        module = str(meta.relative_to(ROOT / "mutants"))[: -len(".meta")]
        by_module[module] = json.loads(meta.read_text())["exit_code_by_key"]
    return by_module


def main(argv: list[str]) -> int:
    equivalent = equivalent_mutants()
    # Killed by a test that cannot run on mutmut's copy (MUTATION.md says which and why).
    killed_by_hand = listed_mutants("Killed outside mutmut")
    patterns = argv[argv.index("--pattern") + 1].split() if "--pattern" in argv else ["*"]
    rows, survivors = [], []
    totals: Counter = Counter()
    for module, codes in results().items():
        counts: Counter = Counter()
        for name, code in codes.items():
            if not any(fnmatch.fnmatchcase(name, p) for p in patterns):
                continue
            status = STATUS.get(code, "suspicious")
            # An equivalent mutant behaves as the original: its recorded timeout is the
            # machine's load stretching the run past mutmut's wall-clock limit.
            if status in ("survived", "timeout") and name in equivalent:
                status = "equivalent"
            elif status == "survived" and name in killed_by_hand:
                status = "killed"
            counts[status] += 1
            if status == "survived":
                survivors.append(name)
        totals.update(counts)
        rows.append((module, counts))
    rows.append(("total", totals))
    header = ("module", "mutants", "killed", "timeout", "survived", "equivalent", "no tests",
              "not checked", "score")
    interval = "--interval" in argv
    if interval:
        header += ("95% interval",)
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for module, c in rows:
        caught = c["killed"] + c["timeout"]
        scored = caught + c["survived"] + c["no tests"] + c["suspicious"]
        score = f"{100 * caught / scored:.1f}%" if scored else "-"
        row = (f"| {module} | {sum(c.values())} | {c['killed']} | {c['timeout']} | "
               f"{c['survived']} | {c['equivalent']} | {c['no tests']} | {c['not checked']} | "
               f"{score} |")
        if interval:
            low, high = wilson_interval(caught, scored) if scored else (math.nan, math.nan)
            row += f" {100 * low:.0f}–{100 * high:.0f}% |" if scored else " - |"
        print(row)
    if "--survivors" in argv:
        print()
        for name in survivors:
            print(name)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
