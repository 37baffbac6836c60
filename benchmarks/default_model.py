"""The built-in model against scikit-learn's MLP, both with their defaults.

Usage: ``python benchmarks/default_model.py [--quick] [--folds 5] [--only NAMES]
[--threads N] [--output results.md]`` (``make bench`` runs it through ``run.py``). For each dataset,
with and without a ``StandardScaler`` in front, ``NeuralNetClassifier()`` /
``NeuralNetRegressor()`` (``module=None``; ``verbose=0``, ``random_state=0``) and
``MLPClassifier()`` / ``MLPRegressor()`` (``random_state=0``) are cross-validated on
the same folds in one process, one after the other. Scores are accuracy or R²; fit
time is the mean per fold, from ``cross_validate``, after one untimed warm-up fit of
each library (first-call costs: lazy imports, thread pools). ``--threads N`` limits
torch and the BLAS/OpenMP pools of both libraries to N threads (on a machine shared
with other jobs, more threads than free cores make both spin). ``--quick``: 3 folds,
the small sets only.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

import numpy as np
from sklearn import datasets
from sklearn.model_selection import KFold, StratifiedKFold, cross_validate
from sklearn.neural_network import MLPClassifier, MLPRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

sys.path.insert(0, str(Path(__file__).resolve().parent))

import report  # noqa: E402

from sktorch import NeuralNetClassifier, NeuralNetRegressor  # noqa: E402

DATASETS = {  # name -> (loader, is_classification, in the quick run)
    "breast_cancer": (lambda: datasets.load_breast_cancer(return_X_y=True), True, True),
    "digits": (lambda: datasets.load_digits(return_X_y=True), True, False),
    "wine": (lambda: datasets.load_wine(return_X_y=True), True, True),
    "iris": (lambda: datasets.load_iris(return_X_y=True), True, True),
    "make_classification": (
        lambda: datasets.make_classification(n_samples=2000, random_state=0), True, False),
    "diabetes": (lambda: datasets.load_diabetes(return_X_y=True), False, True),
    "make_regression": (
        lambda: datasets.make_regression(n_samples=2000, random_state=0), False, False),
}

COLUMNS = [("dataset", "dataset", ""), ("scaler", "scaler", ""),
           ("metric", "metric", ""),
           ("sktorch_score", "sktorch default", ""), ("sklearn_score", "sklearn MLP", ""),
           ("score_diff", "difference", ""),
           ("sktorch_s", "sktorch fit", " s"), ("sklearn_s", "sklearn fit", " s"),
           ("time_ratio", "sktorch / sklearn time", "×")]


def estimators(classification: bool) -> dict:
    if classification:
        return {"sktorch": NeuralNetClassifier(verbose=0, random_state=0),
                "sklearn": MLPClassifier(random_state=0)}
    return {"sktorch": NeuralNetRegressor(verbose=0, random_state=0),
            "sklearn": MLPRegressor(random_state=0)}


def compare(name: str, scaler: bool, folds: int) -> dict:
    """Cross-validate both defaults on the same folds; scores and mean fit times."""
    load, classification, _ = DATASETS[name]
    X, y = load()
    X = X.astype(np.float64)
    splitter = (StratifiedKFold if classification else KFold)(
        folds, shuffle=True, random_state=0)
    row = {"dataset": f"{name} {X.shape[0]}×{X.shape[1]}", "scaler": "yes" if scaler else "no",
           "metric": "accuracy" if classification else "R²"}
    for impl, est in estimators(classification).items():
        model = make_pipeline(StandardScaler(), est) if scaler else est
        result = cross_validate(model, X, y, cv=splitter)
        row[f"{impl}_score"] = float(np.mean(result["test_score"]))
        row[f"{impl}_s"] = float(np.mean(result["fit_time"]))
    row["score_diff"] = row["sktorch_score"] - row["sklearn_score"]
    row["time_ratio"] = row["sktorch_s"] / row["sklearn_s"]
    return row


def warm_up() -> None:
    """One untimed fit of each library, so that no row pays first-call costs."""
    X, y = datasets.make_classification(n_samples=100, random_state=0)
    for est in estimators(True).values():
        est.fit(X, y)


def run(quick: bool = False, folds: int | None = None, only: list[str] | None = None) -> str:
    """The Markdown table of all comparisons (progress lines go to stderr)."""
    folds = folds or (3 if quick else 5)
    warm_up()
    names = only or [n for n, (_, _, small) in DATASETS.items() if small or not quick]
    rows = []
    for name in names:
        for scaler in (False, True):
            row = compare(name, scaler, folds)
            rows.append(row)
            print(f"  {row['dataset']} scaler={row['scaler']}: sktorch "
                  f"{row['sktorch_score']:.3f} in {row['sktorch_s']:.2f} s, sklearn "
                  f"{row['sklearn_score']:.3f} in {row['sklearn_s']:.2f} s", file=sys.stderr)
    import torch

    note = (f"{folds}-fold CV, `random_state=0`, mean fit time per fold; sktorch with "
            f"`verbose=0`; torch threads: {torch.get_num_threads()}.")
    return note + "\n\n" + report.table(rows, COLUMNS)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 folds, small datasets only")
    parser.add_argument("--folds", type=int, help="number of CV folds (default 5, quick 3)")
    parser.add_argument("--only", help=f"comma-separated names of {list(DATASETS)}")
    parser.add_argument("--output", help="also write the Markdown table to this file")
    parser.add_argument("--threads", type=int, help="threads for torch and BLAS (both libraries)")
    args = parser.parse_args(argv)
    if args.threads:
        import torch
        from threadpoolctl import threadpool_limits

        torch.set_num_threads(args.threads)
        threadpool_limits(args.threads)
    warnings.filterwarnings("ignore")  # scikit-learn's ConvergenceWarning at max_iter=200
    only = args.only.split(",") if args.only else None
    text = "## Machine\n\n" + report.machine() + "\n\n## Built-in model vs scikit-learn's MLP\n\n"
    text += run(args.quick, args.folds, only)
    print(text)
    if args.output:
        Path(args.output).write_text(text + "\n")


if __name__ == "__main__":
    main()
