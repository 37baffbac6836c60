"""Benchmark sktorch against a hand-written PyTorch loop, skorch and scikit-learn.

Usage: ``python benchmarks/run.py [--quick] [--only train,defaults,predict,grid,fused,memory]
[--output results.md]`` (``make bench`` runs it; ``fused`` is ``benchmarks/fused_search.py``).
Prints Markdown tables of median times, ratios to the hand-written loop and peak memory;
see BENCHMARKS.md for the method.
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import default_model  # noqa: E402
import harness  # noqa: E402
import report  # noqa: E402
import workloads as wl  # noqa: E402

SECTIONS = ("train", "defaults", "predict", "grid", "fused", "memory", "default_model",
            "scale_out")
PREDICT_ROWS = 200_000


def _has_skorch() -> bool:
    try:
        import skorch  # noqa: F401
    except ImportError:
        return False
    return True


def _workloads(quick: bool) -> list[wl.Workload]:
    return [wl.quick(w) if quick else w for w in wl.WORKLOADS.values()]


def _repeats(w: wl.Workload, quick: bool) -> int:
    base = {"a": 5, "b": 5, "c": 15}[w.key]
    return max(3, base // 2) if quick else base


def bench_training(quick: bool, skorch: bool, defaults: bool) -> list[dict]:
    """Alternate the hand loop, sktorch and skorch on each workload."""
    rows = []
    for w in _workloads(quick):
        med = harness.time_alternating(_training_calls(w, skorch, defaults), _repeats(w, quick))
        rows.append(_ratios(w.title, med))
        print(f"  {w.title}: {json.dumps({k: round(v, 4) for k, v in med.items()})}",
              file=sys.stderr)
    return rows


def _training_calls(w: wl.Workload, skorch: bool, defaults: bool) -> dict:
    X, y = w.data()
    calls = {"hand": lambda: wl.train_hand(w, X, y),
             "sktorch": lambda: wl.train_sktorch(w, X, y, defaults=defaults)}
    if skorch:
        calls["skorch"] = lambda: wl.train_skorch(w, X, y, defaults=defaults)
    return calls


def _ratios(name: str, med: dict[str, float]) -> dict:
    row = {"workload": name, **{f"{k}_s": v for k, v in med.items()}}
    for impl in ("sktorch", "skorch"):
        if impl in med:
            row[f"{impl}_ratio"] = med[impl] / med["hand"]
    return row


def _predict_setup(quick: bool):
    w = wl.WORKLOADS["a"]
    rows = PREDICT_ROWS // 4 if quick else PREDICT_ROWS
    X, y = w.data()
    return w, X[:rows], y[:rows]


def bench_prediction_fresh(quick: bool, skorch: bool) -> list[dict]:
    """``bench_prediction`` in a fresh process.

    A long benchmark process leaves the C heap fragmented by the training runs before,
    and the hand loop's prediction (1,563 output tensors kept until one ``cat``) then
    slows down with it; a fresh process compares the implementations, not the history.
    """
    args = ["--prediction-child"] + (["--quick"] if quick else []) + (
        [] if skorch else ["--no-skorch"])
    rows = harness.json_from_child(__file__, args, timeout=1800)
    if rows is None:
        raise RuntimeError("the prediction child failed (its stderr is above)")
    return rows


def bench_prediction(quick: bool, skorch: bool) -> list[dict]:
    """``predict_proba`` on 200k rows against a hand-written ``no_grad`` loop."""
    w, X, y = _predict_setup(quick)
    impls = ["hand", "sktorch"] + (["skorch"] if skorch else [])
    models = {impl: wl.fitted_for_prediction(impl, w, X, y) for impl in impls}
    calls = {impl: (lambda impl=impl: wl.PREDICT[impl](models[impl], X)) for impl in impls}
    med = harness.time_alternating(calls, 3 if quick else 7)
    return [_ratios(f"predict_proba, {w.n_in}→{w.n_hidden}→{w.n_out}, {len(X):,} rows", med)]


def bench_grid(quick: bool, skorch: bool) -> list[dict]:
    """GridSearchCV, 4 candidates × 5 folds, on the same grid for each library."""
    X, y = wl.grid_data()
    impls = ["sktorch"] + (["skorch"] if skorch else []) + ["sklearn"]
    calls = {impl: (lambda impl=impl: wl.grid_search(impl, X, y)) for impl in impls}
    med = harness.time_alternating(calls, 1 if quick else 3)
    row = {"workload": "GridSearchCV 4 candidates × 5 folds, 2,000×20",
           **{f"{k}_s": v for k, v in med.items()}}
    for impl in ("skorch", "sklearn"):
        if impl in med:
            row[f"{impl}_over_sktorch"] = med[impl] / med["sktorch"]
    return [row]


def bench_fused(quick: bool, skorch: bool) -> str:
    """The fused-search benchmarks (seed search, demo search, scaling), as sub-tables."""
    import fused_search

    tables = fused_search.sections(quick, skorch, list(fused_search.SECTIONS), echo=False)
    return "\n\n".join(f"### {heading}\n\n{table}" for heading, table in tables)


def bench_memory(quick: bool, skorch: bool) -> list[dict]:
    """Peak RSS of one training run (and one prediction) per implementation, each alone."""
    impls = ["hand", "sktorch"] + (["skorch"] if skorch else [])
    flag = ["--quick"] if quick else []
    rows = []
    for task, keys in (("train", list(wl.WORKLOADS)), ("predict", ["a"])):
        for key in keys:
            row = {"workload": f"{task} {key}"}
            for impl in impls:
                result = harness.memory_of(__file__, [task, key, impl, *flag])
                if result:
                    row[f"{impl}_peak"] = result["peak_mib"]
                    row[f"{impl}_growth"] = result["growth_mib"]
            if row.get("hand_peak") and row.get("sktorch_peak"):
                row["sktorch_peak_ratio"] = row["sktorch_peak"] / row["hand_peak"]
            rows.append(row)
    return rows


def memory_child(task: str, key: str, impl: str, quick: bool) -> None:
    """Entry point of the memory subprocess: every library imported, as in all children."""
    import sklearn  # noqa: F401
    import torch  # noqa: F401

    import sktorch  # noqa: F401

    if _has_skorch():
        import skorch  # noqa: F401
    w = wl.WORKLOADS[key]
    if task == "train":
        w = wl.quick(w) if quick else w
        X, y = w.data()
        train = {"hand": wl.train_hand, "sktorch": wl.train_sktorch,
                 "skorch": wl.train_skorch}[impl]
        result = harness.measure_in_child(lambda: train(w, X, y))
    else:
        w, X, y = _predict_setup(quick)
        model = wl.fitted_for_prediction(impl, w, X, y)
        result = harness.measure_in_child(lambda: wl.PREDICT[impl](model, X))
    print(json.dumps(result))


TIME_COLUMNS = [("workload", "workload", ""), ("hand_s", "hand loop", " s"),
                ("sktorch_s", "sktorch", " s"), ("skorch_s", "skorch", " s"),
                ("sktorch_ratio", "sktorch / hand", "×"), ("skorch_ratio", "skorch / hand", "×")]
GRID_COLUMNS = [("workload", "search", ""), ("sktorch_s", "sktorch", " s"),
                ("skorch_s", "skorch", " s"), ("sklearn_s", "sklearn MLPClassifier", " s"),
                ("skorch_over_sktorch", "skorch / sktorch", "×"),
                ("sklearn_over_sktorch", "sklearn / sktorch", "×")]
MEMORY_COLUMNS = [("workload", "workload", ""),
                  ("hand_peak", "hand peak", " MiB"), ("hand_growth", "hand growth", " MiB"),
                  ("sktorch_peak", "sktorch peak", " MiB"),
                  ("sktorch_growth", "sktorch growth", " MiB"),
                  ("skorch_peak", "skorch peak", " MiB"),
                  ("skorch_growth", "skorch growth", " MiB"),
                  ("sktorch_peak_ratio", "sktorch / hand peak", "×")]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller data, fewer repeats")
    parser.add_argument("--only", default=",".join(SECTIONS),
                        help=f"comma-separated sections of {SECTIONS}")
    parser.add_argument("--no-skorch", action="store_true", help="leave skorch out")
    parser.add_argument("--output", help="also write the Markdown report to this file")
    parser.add_argument("--memory-child", nargs="+", help=argparse.SUPPRESS)
    parser.add_argument("--prediction-child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore")  # ConvergenceWarning of the 10-epoch MLPClassifier
    if args.memory_child:
        memory_child(*args.memory_child[:3], quick="--quick" in args.memory_child)
        return
    skorch = _has_skorch() and not args.no_skorch
    if args.prediction_child:
        print(json.dumps(bench_prediction(args.quick, skorch)))
        return
    sections = args.only.split(",")
    out = ["## Machine", "", report.machine(), ""]
    if not skorch:
        out += ["skorch is not installed: its columns are empty.", ""]
    steps = [
        ("train", "Training, verbose=0, train_split=None",
         lambda: report.table(bench_training(args.quick, skorch, False), TIME_COLUMNS)),
        ("defaults", "Training with the defaults (5-fold ValidSplit, default callbacks), verbose=0",
         lambda: report.table(bench_training(args.quick, skorch, True), TIME_COLUMNS)),
        ("predict", "Prediction",
         lambda: report.table(bench_prediction_fresh(args.quick, skorch), TIME_COLUMNS)),
        ("grid", "Grid search",
         lambda: report.table(bench_grid(args.quick, skorch), GRID_COLUMNS)),
        ("fused", "Fused search (sktorch.model_selection)",
         lambda: bench_fused(args.quick, skorch)),
        ("memory", "Peak memory (RSS, each run alone in a fresh process)",
         lambda: report.table(bench_memory(args.quick, skorch), MEMORY_COLUMNS)),
        ("default_model", "Built-in model (module=None) vs scikit-learn's MLP, defaults",
         lambda: default_model.run(args.quick)),
        ("scale_out", "Scaling a search out (n_jobs, continued halving, Dask)",
         lambda: __import__("scale_out").sections(args.quick)),
    ]
    for key, heading, step in steps:
        if key in sections:
            print(f"running {key} ...", file=sys.stderr)
            out += [f"## {heading}", "", step(), ""]
            print("\n".join(out[-4:]), flush=True)
    if args.output:
        Path(args.output).write_text("\n".join(out))


if __name__ == "__main__":
    main()
