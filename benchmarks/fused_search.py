"""Fused hyperparameter search, end to end (splits, training, scoring, refit).

Usage: ``python benchmarks/fused_search.py [--quick] [--only seed,demo,scaling]
[--scaling] [--no-skorch] [--repeats N]`` (``benchmarks/run.py`` runs it as its
``fused`` section; ``--scaling`` runs the scaling section alone).

Every comparison runs its implementations alternately in one process and reports
the *fastest* of the repeats of each: on a shared machine load only adds time, so
the minima are the least disturbed figures, and their ratios are what to compare.

- seed: the seed-sized search — 2,000 × 20 binary data, ``lr`` ∈ {0.01, 0.1} ×
  hidden units ∈ {10, 20}, 5 folds, 10 epochs, batch 128, Adam — with sktorch fused,
  sktorch ``fuse=False``, skorch's ``NeuralNetClassifier`` in scikit-learn's
  ``GridSearchCV`` (``pip install sktorch[bench]``) and scikit-learn's
  ``MLPClassifier`` grid, run in turn; times, ratios to the fused search and the
  best cross-validated accuracy of each. The built-in-MLP row (``module=None``) passes
  the same written settings (Adam, 10 epochs, batch 128, the grid's ``lr``), which the
  built-in model uses as written (its recipe replaces only untouched defaults), so it
  trains the same budget as the other rows.
- demo: the ``make demo`` digits search, fused against ``fuse=False``.
- scaling: a ``RandomizedSearchCV`` of 1, 10, 100 and 500 members (one train/test
  split, so members = candidates), seconds per member fused and not (``fuse=False``
  up to 100 members, or 500 with ``--full-scaling``), and the share of the fused
  search spent in fused training and its set-up (the rest: scikit-learn's
  per-member calls, scoring, splits).
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "benchmarks"), str(ROOT / "examples"), str(ROOT)]

import harness  # noqa: E402
import report  # noqa: E402

SECTIONS = ("seed", "demo", "scaling")
GRID_LR, GRID_HIDDEN, EPOCHS, BATCH = [0.01, 0.1], [10, 20], 10, 128
REPEATS = 0  # repeats of each timing (0: the section's default); --repeats sets it
FULL_SCALING = False  # --full-scaling: fuse=False up to 500 members too


class SimpleClassifier(nn.Module):
    """A user's module: 20 → hidden → 2 with softmax outputs (NLLLoss, skorch's default)."""

    def __init__(self, hidden_units: int = 10):
        super().__init__()
        self.hidden = nn.Linear(20, hidden_units)
        self.output = nn.Linear(hidden_units, 2)

    def forward(self, X):
        return torch.softmax(self.output(torch.relu(self.hidden(X))), dim=-1)


def seed_data():
    from sklearn.datasets import make_classification

    X, y = make_classification(2_000, 20, n_informative=10, random_state=0)
    return X.astype(np.float32), y.astype(np.int64)


def seed_search(impl: str):
    """The seed-sized search for one implementation, unfitted."""
    from sklearn import model_selection as sk

    if impl == "sklearn":
        from sklearn.neural_network import MLPClassifier

        est = MLPClassifier(solver="adam", batch_size=BATCH, max_iter=EPOCHS, tol=0.0,
                            n_iter_no_change=EPOCHS + 1, random_state=0)
        grid = {"learning_rate_init": GRID_LR, "hidden_layer_sizes": [(h,) for h in GRID_HIDDEN]}
        return sk.GridSearchCV(est, grid, cv=5)
    kwargs = dict(optimizer=torch.optim.Adam, max_epochs=EPOCHS, batch_size=BATCH,
                  train_split=None, verbose=0)
    if impl == "skorch":
        import skorch

        net = skorch.NeuralNetClassifier(SimpleClassifier, **kwargs)
        return sk.GridSearchCV(net, {"lr": GRID_LR, "module__hidden_units": GRID_HIDDEN}, cv=5)
    import sktorch
    from sktorch.model_selection import GridSearchCV

    module = None if impl.endswith("builtin") else SimpleClassifier
    net = sktorch.NeuralNetClassifier(module, random_state=0, **kwargs)
    fuse = "auto" if impl.startswith("fused") else False
    return GridSearchCV(net, {"lr": GRID_LR, "hidden_units": GRID_HIDDEN}, cv=5, fuse=fuse)


def bench_seed(quick: bool, skorch: bool) -> list[dict]:
    X, y = seed_data()
    impls = ["fused", "unfused", "fused_builtin", "unfused_builtin", "sklearn"] + (
        ["skorch"] if skorch else [])
    best = {}

    def run(impl):
        best[impl] = seed_search(impl).fit(X, y).best_score_

    med = harness.time_alternating({impl: (lambda i=impl: run(i)) for impl in impls},
                                   REPEATS or (1 if quick else 3), min)
    rows = []
    for module, suffix in (("user module (20→h→2 softmax)", ""), ("built-in MLP", "_builtin")):
        fused = med[f"fused{suffix}"]
        row = {"search": f"seed search, {module}", "fused_s": fused,
               "unfused_s": med[f"unfused{suffix}"], "best_fused": best[f"fused{suffix}"],
               "best_unfused": best[f"unfused{suffix}"]}
        for other in ("sklearn", "skorch"):
            if other in med:
                row[f"{other}_s"] = med[other]
                row[f"best_{other}"] = best[other]
        for key in ("unfused", "sklearn", "skorch"):
            if f"{key}_s" in row:
                row[f"{key}_ratio"] = row[f"{key}_s"] / fused
        rows.append(row)
    return rows


def bench_demo(quick: bool) -> list[dict]:
    import demo

    X_train, _, y_train, _ = demo.digits_data()
    scores = {}

    def run(fuse):
        search = demo.digits_search(fuse)
        search.fit(X_train, y_train)
        scores[fuse] = search.best_score_

    med = harness.time_alternating({"fused": lambda: run("auto"), "unfused": lambda: run(False)},
                                   REPEATS or (1 if quick else 2), min)
    return [{"search": "make demo: digits, 8 candidates × 5 folds, Pipeline", "fused_s":
             med["fused"], "unfused_s": med["unfused"], "unfused_ratio": med["unfused"] /
             med["fused"], "best_fused": scores["auto"], "best_unfused": scores[False]}]


def scaling_search(n_members: int, fuse):
    from scipy.stats import loguniform
    from sklearn.model_selection import ShuffleSplit

    import sktorch
    from sktorch.model_selection import RandomizedSearchCV

    net = sktorch.NeuralNetClassifier(SimpleClassifier, optimizer=torch.optim.Adam,
                                      max_epochs=EPOCHS, batch_size=BATCH, train_split=None,
                                      verbose=0, random_state=0, hidden_units=20)
    dists = {"lr": loguniform(1e-3, 1e-1), "optimizer__weight_decay": loguniform(1e-6, 1e-2)}
    return RandomizedSearchCV(net, dists, n_iter=n_members, random_state=0, fuse=fuse,
                              cv=ShuffleSplit(1, test_size=0.2, random_state=0), refit=False)


def _scaling_fit(n: int, fuse, X, y, out: dict) -> None:
    search = scaling_search(n, fuse).fit(X, y)
    out["search"] = search


def bench_scaling(quick: bool) -> list[dict]:
    """Seconds per member at each size, fused and ``fuse=False`` alternating (minima)."""
    X, y = seed_data()
    sizes = (1, 10, 100) if quick else (1, 10, 100, 500)
    unfused_sizes = sizes if FULL_SCALING else (1, 10) if quick else (1, 10, 100)
    rows = []
    for n in sizes:
        calls, found = {}, {}
        for fuse, key in (("auto", "fused"), (False, "unfused")):
            if fuse is False and n not in unfused_sizes:
                continue
            found[key] = {}
            calls[key] = lambda n=n, fuse=fuse, out=found[key]: _scaling_fit(n, fuse, X, y, out)
        repeats = REPEATS or (1 if quick or n >= 500 else 2)
        best = harness.time_alternating(calls, repeats, min)
        row = {"members": n, "fused_per_member": best["fused"] / n}
        search = found["fused"]["search"]
        row["fused_groups"] = sum(1 for g in search.fuse_report_ if g.fused)
        # fit_time of a fused member is its share of the fused training (+ its cached fit)
        fit_s = float(np.sum(search.cv_results_["mean_fit_time"]))
        row["fused_train_share"] = min(1.0, fit_s / best["fused"])
        if "unfused" in best:
            row["unfused_per_member"] = best["unfused"] / n
            row["unfused_ratio"] = best["unfused"] / best["fused"]
        rows.append(row)
        print(f"  scaling {n}: {json.dumps({k: round(v, 4) for k, v in row.items()})}",
              file=sys.stderr)
    return rows


SEED_COLUMNS = [("search", "search", ""), ("fused_s", "fused", " s"),
                ("unfused_s", "fuse=False", " s"), ("sklearn_s", "sklearn MLPClassifier", " s"),
                ("skorch_s", "skorch", " s"), ("unfused_ratio", "fuse=False / fused", "×"),
                ("sklearn_ratio", "sklearn / fused", "×"), ("skorch_ratio", "skorch / fused", "×"),
                ("best_fused", "best acc fused", ""), ("best_unfused", "fuse=False", ""),
                ("best_sklearn", "sklearn", ""), ("best_skorch", "skorch", "")]
SCALING_COLUMNS = [("members", "members", ""), ("fused_per_member", "fused s/member", " s"),
                   ("unfused_per_member", "fuse=False s/member", " s"),
                   ("unfused_ratio", "fuse=False / fused", "×"),
                   ("fused_train_share", "fused: share in fused training + set-up", ""),
                   ("fused_groups", "fused groups", "")]


def sections(quick: bool, skorch: bool, only: list[str], echo: bool = True
             ) -> list[tuple[str, str]]:
    """(heading, Markdown table) for each section in ``only``."""
    steps = {
        "seed": ("Fused search: the seed-sized search, end to end",
                 lambda: report.table(bench_seed(quick, skorch), SEED_COLUMNS)),
        "demo": ("Fused search: the make demo search",
                 lambda: report.table(bench_demo(quick), SEED_COLUMNS[:3] + SEED_COLUMNS[5:6]
                                      + SEED_COLUMNS[8:10])),
        "scaling": ("Fused search: seconds per member (RandomizedSearchCV, one split)",
                    lambda: report.table(bench_scaling(quick), SCALING_COLUMNS)),
    }
    out = []
    for key in only:
        if key in steps:
            print(f"running fused {key} ...", file=sys.stderr)
            heading, step = steps[key]
            out.append((heading, step()))
            if echo:
                print(f"## {heading}\n\n{out[-1][1]}\n", flush=True)
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats and members")
    parser.add_argument("--only", default=",".join(SECTIONS), help=f"sections of {SECTIONS}")
    parser.add_argument("--scaling", action="store_true",
                        help="only the scaling section (same as --only scaling)")
    parser.add_argument("--full-scaling", action="store_true",
                        help="time fuse=False at 500 members too (slow)")
    parser.add_argument("--repeats", type=int, default=0, help="repeats of each timing")
    parser.add_argument("--no-skorch", action="store_true", help="leave skorch out")
    args = parser.parse_args(argv)
    global REPEATS, FULL_SCALING
    REPEATS, FULL_SCALING = args.repeats, args.full_scaling
    if args.scaling:
        args.only = "scaling"
    warnings.filterwarnings("ignore")  # ConvergenceWarning of the 10-epoch MLPClassifier
    try:
        import skorch  # noqa: F401
        has_skorch = not args.no_skorch
    except ImportError:
        has_skorch = False
    print(report.machine() + "\n", flush=True)
    sections(args.quick, has_skorch, args.only.split(","))


if __name__ == "__main__":
    main()
