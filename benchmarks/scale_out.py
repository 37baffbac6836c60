"""Scaling a search out (issue 14): n_jobs=2 vs 1, continued halving, a 2-worker LocalCluster.

Usage: ``python benchmarks/scale_out.py [--quick] [--repeat N]
[--only n_jobs,halving,cluster,cluster_cold]``
(also ``benchmarks/run.py --only scale_out``).

Method. *Warm* figures: every implementation runs once untimed first (that starts
the loky pool and the cluster's workers, imports torch there and pays torch's
first-fit cost, e.g. its lazy ``torch._dynamo`` import), then the implementations
run in turn, the order rotated each round, ``--repeat`` rounds; each cell is the
median and the range (min-max) of its seconds, a speed-up the ratio of medians.
*Cold* figures: the first search of a fresh Python process that has imported
sktorch (its own first fit included), with a fresh loky pool or a LocalCluster
started inside the timing. The searches: the ``make demo`` digits search
(``examples/demo.py``'s ``digits_search``: Pipeline, 8 candidates x 5 folds, 15
epochs), ``fuse=False`` for "unfused" and ``fuse='auto'`` for "fused"; the halving
section's MLP search on the digits data.

The cluster section (the issue's 1.6x target) compares the search on a 2-worker
``LocalCluster`` (1 thread per worker) with ``n_jobs=1`` on an otherwise idle
machine: the cluster (scheduler, nannies, workers) runs in a process of its own, as
an existing cluster would, and is stopped with SIGSTOP while ``n_jobs=1`` runs
(its client closed), so neither its scheduler nor its workers' heartbeats take CPU
from ``n_jobs=1``; it is resumed (SIGCONT) and the client reconnects, untimed,
before each cluster search. Warm and alternating, median and range; with the
workers' profiler on (Dask's default) and off
(``distributed.worker.profile.enabled: False``).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import warnings
from pathlib import Path
from time import perf_counter

import numpy as np

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def demo_search(fuse, quick: bool, n_jobs=1):
    """The ``make demo`` digits search (fewer epochs with ``--quick``)."""
    sys.path.insert(0, str(EXAMPLES))
    from demo import digits_search

    search = digits_search(fuse=fuse).set_params(n_jobs=n_jobs)
    if quick:
        search.set_params(estimator__neuralnetclassifier__max_epochs=3)
    return search


def demo_data():
    sys.path.insert(0, str(EXAMPLES))
    from demo import digits_data

    X_train, _, y_train, _ = digits_data()
    return X_train, y_train


def _fit(search, X, y):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return search.fit(X, y)


def alternate(calls: dict, repeat: int, prepare: dict | None = None) -> dict:
    """Seconds of each call over ``repeat`` rounds (after one untimed warm-up of each).

    ``prepare[name]``, if given, runs (untimed) before each call of ``name``.
    """
    prepare = prepare or {}
    for name, call in calls.items():
        prepare.get(name, lambda: None)()
        call()
    names, times = list(calls), {name: [] for name in calls}
    for r in range(repeat):
        for name in names[r % len(names):] + names[:r % len(names)]:
            prepare.get(name, lambda: None)()
            start = perf_counter()
            calls[name]()
            times[name].append(perf_counter() - start)
    return times


def cell(values: list) -> str:
    return f"{statistics.median(values):.2f} ({min(values):.2f}-{max(values):.2f})"


def ratio(base: list, other: list) -> str:
    return f"{statistics.median(base) / statistics.median(other):.2f}x"


def table(rows, header):
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(out)


def cold(mode: str, quick: bool, repeat: int) -> list:
    """Seconds of the first search in ``repeat`` fresh processes (see ``--cold-one``)."""
    args = [sys.executable, __file__, "--cold-one", mode] + (["--quick"] if quick else [])
    return [float(subprocess.run(args, check=True, capture_output=True, text=True)
                  .stdout.split()[-1]) for _ in range(repeat)]


def cold_one(mode: str, quick: bool) -> float:
    """In a fresh process: the first search of ``mode``, with its pool or cluster start-up."""
    import sktorch.model_selection  # noqa: F401 - imported before the clock starts

    X, y = demo_data()
    fuse = False if mode.endswith("unfused") else "auto"
    start = perf_counter()
    if mode.startswith("cluster"):
        import distributed
        import joblib

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            cluster = distributed.LocalCluster(n_workers=2, processes=True,
                                               threads_per_worker=1, dashboard_address=None,
                                               silence_logs=50)
            client = distributed.Client(cluster)
        with joblib.parallel_backend("dask"):
            _fit(demo_search(fuse, quick), X, y)
        seconds = perf_counter() - start
        client.close()
        cluster.close()
        return seconds
    _fit(demo_search(fuse, quick, n_jobs=2 if mode.startswith("n_jobs=2") else 1), X, y)
    return perf_counter() - start


def bench_n_jobs(quick, repeat):
    X, y = demo_data()
    rows = []
    for fuse, name in ((False, "unfused"), ("auto", "fused")):
        times = alternate({
            1: lambda f=fuse: _fit(demo_search(f, quick), X, y),
            2: lambda f=fuse: _fit(demo_search(f, quick, n_jobs=2), X, y)}, repeat)
        cold1 = cold(f"n_jobs=1 {name}", quick, max(1, repeat // 2))
        cold2 = cold(f"n_jobs=2 {name}", quick, max(1, repeat // 2))
        rows.append([f"demo digits search, {name}", cell(times[1]), cell(times[2]),
                     ratio(times[1], times[2]), cell(cold1), cell(cold2), ratio(cold1, cold2)])
    return table(rows, ["search", "n_jobs=1 warm s", "n_jobs=2 warm s", "warm speed-up",
                        "n_jobs=1 cold s", "n_jobs=2 cold s", "cold speed-up"])


def _mlp(epochs: int):
    from torch import nn

    from sktorch import NeuralNetClassifier
    from sktorch.toy import MLPModule

    return NeuralNetClassifier(MLPModule, module__input_units=64, module__output_units=10,
                               module__hidden_units=32, criterion=nn.CrossEntropyLoss,
                               max_epochs=epochs, batch_size=64, train_split=None, verbose=0,
                               random_state=0, lr=0.1)


GRID = {"lr": [0.02, 0.05, 0.1, 0.2], "batch_size": [32, 64]}


def bench_halving(quick, repeat):
    from sklearn.datasets import load_digits

    from sktorch.model_selection import GridSearchCV, HalvingGridSearchCV

    X, y = load_digits(return_X_y=True)
    X, y = (X / 16.0).astype(np.float32), y.astype(np.int64)
    epochs = 2 if quick else 5
    max_epochs = 4 * epochs
    found = {}

    def run(name, make):
        found[name] = _fit(make(), X, y)

    def halving(resume):
        return HalvingGridSearchCV(_mlp(max_epochs), GRID, cv=3, resource="max_epochs",
                                   min_resources=epochs, max_resources=max_epochs, factor=2,
                                   resume=resume, random_state=0)

    searches = {"full grid": lambda: GridSearchCV(_mlp(max_epochs), GRID, cv=3),
                "scikit-learn halving": lambda: halving(False),
                "continued halving (resume=True)": lambda: halving(True)}
    times = alternate({name: lambda n=name, m=make: run(n, m) for name, make in
                       searches.items()}, repeat)
    rows = []
    for name, search in found.items():
        trained = getattr(search, "epochs_trained_", None)
        if trained is None:
            trained = int(sum(np.asarray(search.cv_results_["n_resources"]) * 3)) \
                if "n_resources" in search.cv_results_ else len(search.cv_results_["params"]) \
                * 3 * max_epochs
        rows.append([name, trained, cell(times[name]),
                     ratio(times["scikit-learn halving"], times[name]),
                     f"{search.best_score_:.4f}"])
    return table(rows, ["search", "epochs trained", "time s", "speed-up over sklearn halving",
                        "best score"])


CLUSTER_PROCESS = """
import sys, warnings
import distributed
warnings.simplefilter("ignore")
cluster = distributed.LocalCluster(n_workers=2, processes=True, threads_per_worker=1,
                                   dashboard_address=None, silence_logs=50)
print(cluster.scheduler_address, flush=True)
sys.stdin.read()  # runs until the benchmark closes its stdin
cluster.close()
"""


class Cluster:
    """A 2-worker LocalCluster in a process of its own, as an existing cluster would be.

    The scheduler, the nannies and the worker processes (1 thread each) live
    outside the benchmark's process; ``pause`` stops all of them (SIGSTOP), so
    the ``n_jobs=1`` search runs on an otherwise idle machine while the
    workers stay warm, and ``resume`` lets them go on. ``profile=False`` sets
    ``distributed.worker.profile.enabled`` to False (Dask's configuration, e.g.
    the environment variable ``DASK_DISTRIBUTED__WORKER__PROFILE__ENABLED=False``
    on an existing cluster's workers).
    """

    def __init__(self, profile: bool = True):
        import os

        env = dict(os.environ)
        if not profile:
            env["DASK_DISTRIBUTED__WORKER__PROFILE__ENABLED"] = "False"
        self.process = subprocess.Popen([sys.executable, "-c", CLUSTER_PROCESS], env=env,
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                        text=True, start_new_session=True)
        self.address = self.process.stdout.readline().strip()
        self.client = None
        # a benchmark ended by SIGTERM (timeout) still resumes and closes its cluster (the
        # finally clauses run); a stopped cluster would otherwise stay stopped for good
        import signal

        signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    def connect(self):
        import distributed

        self.resume()
        if self.client is None:
            self.client = distributed.Client(self.address)
            self.client.wait_for_workers(2)

    def pause(self):
        import os
        import signal

        if self.client is not None:
            self.client.close()
            self.client = None
        os.killpg(self.process.pid, signal.SIGSTOP)

    def resume(self):
        import os
        import signal

        os.killpg(self.process.pid, signal.SIGCONT)

    def close(self):
        self.resume()
        if self.client is not None:
            self.client.close()
        self.process.stdin.close()
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            import os
            import signal

            os.killpg(self.process.pid, signal.SIGKILL)


CLUSTER_SEARCHES = ((False, "unfused"), ("auto", "fused"))  # (fuse, name) timed on the cluster
WORKER_PROFILING = (True, False)  # distributed.worker.profile.enabled of the cluster's workers


def bench_cluster(quick, repeat):
    try:
        import distributed  # noqa: F401
    except ImportError:
        return "(dask.distributed not installed: `pip install sktorch[dask]`)"
    import joblib

    X, y = demo_data()
    rows = []
    for profile in WORKER_PROFILING:
        cluster = Cluster(profile=profile)
        try:
            for fuse, name in CLUSTER_SEARCHES:
                found = {}

                def local(f=fuse, out=found):
                    out[1] = _fit(demo_search(f, quick), X, y)

                def on_cluster(f=fuse, out=found):
                    with joblib.parallel_backend("dask"):
                        out[2] = _fit(demo_search(f, quick), X, y)

                times = alternate({1: local, 2: on_cluster}, repeat,
                                  prepare={1: cluster.pause, 2: cluster.connect})
                cluster.pause()
                same = np.allclose(found[1].cv_results_["mean_test_score"],
                                   found[2].cv_results_["mean_test_score"], atol=1e-6)
                setup = "on" if profile else "off"
                rows.append([f"demo digits search, {name}", setup, cell(times[1]),
                             cell(times[2]), ratio(times[1], times[2]), same])
        finally:
            cluster.close()
    return table(rows, ["search", "worker profiling", "n_jobs=1 s (no cluster running)",
                        "cluster s", "speed-up", "same scores"])


def bench_cluster_cold(quick, repeat):
    """First searches of fresh processes, the LocalCluster started inside the timing."""
    rows = []
    for name in ("unfused", "fused"):
        cold1 = cold(f"n_jobs=1 {name}", quick, max(1, repeat // 2))
        cold2 = cold(f"cluster {name}", quick, max(1, repeat // 2))
        rows.append([f"demo digits search, {name}", cell(cold1), cell(cold2),
                     ratio(cold1, cold2)])
    return table(rows, ["search", "n_jobs=1 cold s", "cluster cold s (with its start)",
                        "cold speed-up"])


SECTIONS = {"n_jobs": ("n_jobs=2 over n_jobs=1", bench_n_jobs),
            "halving": ("Halving with epochs as the resource", bench_halving),
            "cluster": ("Dask LocalCluster (2 workers, 1 thread each; scheduler and workers in "
                        "their own processes) over n_jobs=1 with no cluster running, warm",
                        bench_cluster),
            "cluster_cold": ("Dask LocalCluster over n_jobs=1, cold (fresh processes)",
                             bench_cluster_cold)}


def sections(quick: bool, repeat: int | None = None, only: str | None = None) -> str:
    repeat = repeat or (3 if quick else 5)
    out = []
    for key in (only.split(",") if only else SECTIONS):
        title, fn = SECTIONS[key]
        out.append(f"#### {title}\n\n{fn(quick, repeat)}")
        print(out[-1] + "\n", file=sys.stderr, flush=True)  # each section as soon as it is done
    return "\n\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--repeat", type=int, default=None)
    parser.add_argument("--only", default=None, help="n_jobs,halving,cluster,cluster_cold")
    parser.add_argument("--cold-one", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.cold_one:
        print(cold_one(args.cold_one, args.quick))
        return
    print(sections(args.quick, args.repeat, args.only))


if __name__ == "__main__":
    main()
