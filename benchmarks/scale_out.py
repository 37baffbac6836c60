"""Scaling a search out (issue 14): n_jobs=2 vs 1, continued halving, a 2-worker LocalCluster.

Usage: ``python benchmarks/scale_out.py [--quick]`` (also ``benchmarks/run.py --only
scale_out``). Times are wall-clock seconds of one run each; ratios are n_jobs=1 time
over the other's. The digits search: an MLP on scikit-learn's bundled digits data.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from time import perf_counter

import numpy as np


def _digits(quick: bool):
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    n = 600 if quick else len(X)
    return (X[:n] / 16.0).astype(np.float32), y[:n].astype(np.int64)


def _net(epochs: int):
    from torch import nn

    from sktorch import NeuralNetClassifier
    from sktorch.toy import MLPModule

    return NeuralNetClassifier(MLPModule, module__input_units=64, module__output_units=10,
                               module__hidden_units=32, criterion=nn.CrossEntropyLoss,
                               max_epochs=epochs, batch_size=64, train_split=None, verbose=0,
                               random_state=0, lr=0.1)


GRID = {"lr": [0.02, 0.05, 0.1, 0.2], "batch_size": [32, 64]}


def _timed(make, X, y):
    start = perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        search = make().fit(X, y)
    return perf_counter() - start, search


def table(rows, header):
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(out)


def bench_n_jobs(X, y, epochs):
    from sktorch.model_selection import GridSearchCV

    rows = []
    for fuse in (False, True):
        t1, s1 = _timed(lambda f=fuse: GridSearchCV(_net(epochs), GRID, cv=3, fuse=f), X, y)
        t2, s2 = _timed(lambda f=fuse: GridSearchCV(_net(epochs), GRID, cv=3, fuse=f,
                                                     n_jobs=2), X, y)
        same = np.allclose(s1.cv_results_["mean_test_score"], s2.cv_results_["mean_test_score"])
        rows.append([f"fuse={fuse}", f"{t1:.2f}", f"{t2:.2f}", f"{t1 / t2:.2f}x", same])
    return table(rows, ["search", "n_jobs=1 s", "n_jobs=2 s", "speed-up", "same scores"])


def bench_halving(X, y, epochs):
    from sktorch.model_selection import GridSearchCV, HalvingGridSearchCV

    max_epochs = 4 * epochs
    rows = []
    t, s = _timed(lambda: GridSearchCV(_net(max_epochs), GRID, cv=3), X, y)
    n = len(s.cv_results_["params"]) * 3
    rows.append(["full grid", n * max_epochs, f"{t:.2f}", f"{s.best_score_:.4f}"])
    for resume in (False, True):
        t, s = _timed(lambda r=resume: HalvingGridSearchCV(
            _net(max_epochs), GRID, cv=3, resource="max_epochs", min_resources=epochs,
            max_resources=max_epochs, factor=2, resume=r, random_state=0), X, y)
        trained = getattr(s, "epochs_trained_", None)
        if trained is None:
            trained = int(sum(np.asarray(s.cv_results_["n_resources"]) * 3))
        name = "continued halving (resume=True)" if resume else "scikit-learn halving"
        rows.append([name, trained, f"{t:.2f}", f"{s.best_score_:.4f}"])
    return table(rows, ["search", "epochs trained", "time s", "best score"])


def bench_cluster(X, y, epochs):
    try:
        import distributed
    except ImportError:
        return "(dask.distributed not installed: `pip install sktorch[dask]`)"
    import joblib

    from sktorch.model_selection import GridSearchCV

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cluster = distributed.LocalCluster(n_workers=2, processes=True, threads_per_worker=1,
                                           dashboard_address=None, silence_logs=50)
        client = distributed.Client(cluster)
    rows = []
    try:
        for fuse in (False, True):
            t1, s1 = _timed(lambda f=fuse: GridSearchCV(_net(epochs), GRID, cv=3, fuse=f), X, y)
            with joblib.parallel_backend("dask"):
                _timed(lambda f=fuse: GridSearchCV(_net(1), {"lr": [0.1, 0.2]}, cv=2, fuse=f),
                       X, y)  # warm the workers (imports)
                t2, s2 = _timed(lambda f=fuse: GridSearchCV(_net(epochs), GRID, cv=3, fuse=f),
                                X, y)
            same = np.allclose(s1.cv_results_["mean_test_score"],
                               s2.cv_results_["mean_test_score"], atol=1e-6)
            name = f"{'fused' if fuse else 'unfused'} digits search"
            rows.append([name, f"{t1:.2f}", f"{t2:.2f}", f"{t1 / t2:.2f}x", same])
    finally:
        client.close()
        cluster.close()
    return table(rows, ["search", "n_jobs=1 s", "2-worker LocalCluster s", "speed-up",
                        "same scores"])


def sections(quick: bool) -> str:
    X, y = _digits(quick)
    epochs = 2 if quick else 5
    parts = [("n_jobs=2 over n_jobs=1", bench_n_jobs), ("Halving with epochs as the resource",
                                                          bench_halving),
             ("Dask LocalCluster", bench_cluster)]
    out = []
    for title, fn in parts:
        out.append(f"#### {title}\n\n{fn(X, y, epochs)}")
        print(out[-1] + "\n", file=sys.stderr, flush=True)  # each section as soon as it is done
    return "\n\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    print(sections(args.quick))


if __name__ == "__main__":
    main()
