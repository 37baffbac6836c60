"""Where one fit of the built-in classifier spends its time, against scikit-learn's MLP.

Usage: ``python benchmarks/profile_default.py [--dataset iris|digits] [--scaler]
[--fold K] [--repeats 5] [--cprofile]``. Single thread (torch and BLAS). Fits
``NeuralNetClassifier(verbose=0, random_state=0)`` and ``MLPClassifier(random_state=0)``
on the training rows of fold K of the benchmark's 5-fold split
(``benchmarks/default_model.py``), alternately, ``--repeats`` times each, and prints
medians: the fit time, the number of epochs (sktorch) and iterations (``n_iter_``),
the time per epoch / iteration, and for sktorch the time per epoch of each phase
(measured with ``time.perf_counter`` around the engine's functions; the wrappers
add about a microsecond per call). ``--cprofile`` adds a cProfile of one fit.
"""

from __future__ import annotations

import argparse
import collections
import cProfile
import pstats
import statistics
import time
import warnings

import numpy as np
import torch
from sklearn import datasets
from sklearn.model_selection import StratifiedKFold
from sklearn.neural_network import MLPClassifier
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

import sktorch.engine as engine_module
from sktorch import NeuralNetClassifier
from sktorch.callbacks.base import CallbackList
from sktorch.net import NeuralNet

# (owner, attribute, label): the phases timed, outermost first.
PHASES = [
    (engine_module.Engine, "_epoch", "epoch (all of it)"),
    (NeuralNet, "train_step", "train step"),
    (NeuralNet, "train_step_single", "  forward, loss, backward"),
    (torch.optim.Optimizer, "zero_grad", "  zero_grad"),
    (NeuralNet, "validation_step", "validation step"),
]


def load(name: str, scaler: bool, fold: int) -> tuple[np.ndarray, np.ndarray]:
    X, y = getattr(datasets, f"load_{name}")(return_X_y=True)
    X = X.astype(np.float64)
    train, _ = list(StratifiedKFold(5, shuffle=True, random_state=0).split(X, y))[fold]
    X, y = X[train], y[train]
    return (StandardScaler().fit_transform(X) if scaler else X), y


class PhaseTimer:
    """Accumulate wall time per phase by wrapping the functions named in PHASES."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = collections.defaultdict(float)
        self.calls: collections.Counter = collections.Counter()
        self._saved: list = []

    def _wrap(self, owner, attr, label):
        inner = getattr(owner, attr)
        self._saved.append((owner, attr, vars(owner).get(attr)))

        def timed(*args, **kwargs):
            start = time.perf_counter()
            try:
                return inner(*args, **kwargs)
            finally:
                self.seconds[label] += time.perf_counter() - start
                self.calls[label] += 1

        setattr(owner, attr, timed)

    def __enter__(self):
        for owner, attr, label in PHASES:
            self._wrap(owner, attr, label)
        notify = CallbackList.notify
        self._saved.append((CallbackList, "notify", notify))

        def timed_notify(callbacks, hook, *args, **kwargs):
            start = time.perf_counter()
            try:
                return notify(callbacks, hook, *args, **kwargs)
            finally:
                self.seconds[f"callbacks: {hook}"] += time.perf_counter() - start
                self.calls[f"callbacks: {hook}"] += 1

        CallbackList.notify = timed_notify
        step = torch.optim.Adam.step
        self._saved.append((torch.optim.Adam, "step", step))

        def timed_step(optimizer, *args, **kwargs):
            start = time.perf_counter()
            try:
                return step(optimizer, *args, **kwargs)
            finally:
                self.seconds["  Adam step"] += time.perf_counter() - start
                self.calls["  Adam step"] += 1

        torch.optim.Adam.step = timed_step
        return self

    def __exit__(self, *exc):
        for owner, attr, inner in reversed(self._saved):
            if inner is None:  # inherited: remove the wrapper
                delattr(owner, attr)
            else:
                setattr(owner, attr, inner)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="iris", choices=["iris", "digits", "wine",
                                                                "breast_cancer"])
    parser.add_argument("--scaler", action="store_true")
    parser.add_argument("--fold", type=int, default=0)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--cprofile", action="store_true")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    threadpool_limits(1)
    warnings.filterwarnings("ignore")
    X, y = load(args.dataset, args.scaler, args.fold)

    def ours():
        return NeuralNetClassifier(verbose=0, random_state=0).fit(X, y)

    def theirs():
        return MLPClassifier(random_state=0).fit(X, y)

    ours(), theirs()  # warm-up
    times: dict[str, list] = {"sktorch": [], "sklearn": []}
    phases = []
    for _ in range(args.repeats):
        for name, fit in (("sktorch", ours), ("sklearn", theirs)):
            start = time.perf_counter()
            model = fit()
            times[name].append(time.perf_counter() - start)
            if name == "sktorch":
                n_epochs = len(model.history)
            else:
                n_iter = model.n_iter_
        with PhaseTimer() as timer:
            ours()
        phases.append(timer)
    ours_s, theirs_s = (statistics.median(times[k]) for k in ("sktorch", "sklearn"))
    print(f"{args.dataset} ({len(X)} training rows, scaler={args.scaler}, fold {args.fold}), "
          f"medians of {args.repeats}:")
    print(f"  sktorch {ours_s * 1e3:.1f} ms, {n_epochs} epochs, "
          f"{ours_s / n_epochs * 1e3:.3f} ms/epoch")
    print(f"  sklearn {theirs_s * 1e3:.1f} ms, {n_iter} iterations, "
          f"{theirs_s / n_iter * 1e3:.3f} ms/iteration")
    print(f"  time ratio sktorch/sklearn {ours_s / theirs_s:.2f}, per epoch/iteration "
          f"{(ours_s / n_epochs) / (theirs_s / n_iter):.2f}")
    print("  sktorch phases (ms per epoch, median; wrapped run):")
    for label in phases[0].seconds:
        per_epoch = statistics.median(t.seconds[label] for t in phases) / n_epochs
        calls = phases[0].calls[label] / n_epochs
        print(f"    {label:34s} {per_epoch * 1e3:7.3f}   ({calls:.1f} calls/epoch)")
    if args.cprofile:
        profile = cProfile.Profile()
        profile.runcall(ours)
        pstats.Stats(profile).sort_stats("tottime").print_stats(30)


if __name__ == "__main__":
    main()
