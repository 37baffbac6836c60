"""Fused vs sequential training of many members: members per second, side by side.

Run: ``python benchmarks/fused_core.py [--quick] [--profile N] [--device cpu]``

Each member is a small MLP classifier (20 -> hidden -> 2) on 2,000 x 20 data,
5 epochs (10 with --seed-search), batch 128, Adam, a learning rate that differs
per member, a 5-fold-like split of the rows. The sequential time is ``net.fit``
per member; the fused time is one ``fit_members`` call on fresh clones. With
``--profile N`` the fused run of N members is profiled (torch.profiler's top ops
and cProfile's top Python functions), to show where the time goes. ``--check``
compares fused and sequential fits on ``--device`` (largest weight difference).

Measured (one run each, 2026-11-28, torch 2.11 on a lent machine, 2 CPU threads,
uncontended; the 2-core development machine was too loaded that day for timings):

=====================  ======  ======  ======  ======  ===========
members                   1      10      100     500   seed search
=====================  ======  ======  ======  ======  ===========
CPU, 2 threads          0.9x    5.3x    6.1x    7.5x   6.5x, 6.7x
CPU, 1 thread           0.9x    5.1x    6.3x    8.7x
CPU, 2 thr., hidden 100 1.0x    3.8x    5.0x    4.7x
H200                    1.8x    4.9x   13.4x   15.0x      9.9x
=====================  ======  ======  ======  ======  ===========

(ratio = sequential seconds / fused seconds; sequential times of 100 and 500
members extrapolated from 50 fits; seed search = 20 members, 10 epochs. After the
set-up canary was added, the seed search measured 5.7x and 6.6x on the CPU and
9.0x on the H200.)
On the CPU fused throughput levels off at ~150-165 members/s from ~100 members:
the stacked arithmetic grows with the members while what each member costs on
its own stays (building and seeding its net, its split, its history and
callbacks, scoring): at 500 members the profile shows torch.manual_seed's lazy
CUDA-seed traceback (~1 ms per call, three calls per net), deepcopy and
sklearn's check_random_state per net ahead of the batched matmuls. With 100
hidden units the batched matmuls themselves dominate and the gain stops growing
past ~100 members (4.7x at 500 against 5.0x at 100): that is where more members
per stack stop paying on this CPU. A single member gains nothing (it is fitted
the normal way).
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import sys
import time
from pathlib import Path

import numpy as np
import torch
from sklearn.datasets import make_classification

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sktorch import NeuralNetClassifier  # noqa: E402
from sktorch.model_selection._fused import Member, fit_members  # noqa: E402


def make_members(n: int, X, y, epochs: int, device: str, hidden: int):
    folds = np.array_split(np.random.RandomState(0).permutation(len(X)), 5)
    fold_data = []
    for k in range(5):
        train = np.concatenate([f for j, f in enumerate(folds) if j != k])
        fold_data.append((X[train], y[train]))
    members = []
    for i in range(n):
        Xf, yf = fold_data[i % 5]
        lr = float(10 ** np.random.RandomState(i).uniform(-3, -1))
        net = NeuralNetClassifier(optimizer=torch.optim.Adam, lr=lr, max_epochs=epochs,
                                  batch_size=128, hidden_units=hidden, verbose=0,
                                  random_state=i, device=device)
        members.append(Member(net, Xf, yf))
    return members


def time_sequential(members) -> float:
    start = time.perf_counter()
    for m in members:
        m.net.fit(m.X, m.y)
    return time.perf_counter() - start


def time_fused(members) -> tuple[float, list]:
    start = time.perf_counter()
    reports = fit_members(members)
    return time.perf_counter() - start, reports


def profile(n: int, X, y, epochs: int, device: str, hidden: int) -> None:
    members = make_members(n, X, y, epochs, device, hidden)
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
        fit_members(members)
    print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=12))
    members = make_members(n, X, y, epochs, device, hidden)
    profiler = cProfile.Profile()
    profiler.enable()
    fit_members(members)
    profiler.disable()
    pstats.Stats(profiler).sort_stats("tottime").print_stats(12)


def check(device: str) -> None:
    """Fused vs sequential on ``device``: largest differences of weights and losses."""
    from sktorch.callbacks import EarlyStopping

    X, y = make_classification(600, 20, random_state=1)
    X = X.astype(np.float32)
    for optimizer in (torch.optim.Adam, torch.optim.SGD):
        def nets(optimizer=optimizer):
            return [NeuralNetClassifier(optimizer=optimizer, lr=lr, max_epochs=8, batch_size=64,
                                        hidden_units=16, verbose=0, random_state=i,
                                        device=device,
                                        callbacks=[EarlyStopping(patience=2, load_best=True)])
                    for i, lr in enumerate([0.001, 0.01, 0.05, 0.2])]
        data = [(X[:600 - 37 * i], y[:600 - 37 * i]) for i in range(4)]
        seq, fused = nets(), nets()
        for net, (Xi, yi) in zip(seq, data):
            net.fit(Xi, yi)
        reports = fit_members([Member(n, Xi, yi) for n, (Xi, yi) in zip(fused, data)])
        w = max(float((a - b).abs().max()) for s, f in zip(seq, fused)
                for a, b in zip(s.module_.state_dict().values(),
                                f.module_.state_dict().values()))
        loss = max(abs(a - b) for s, f in zip(seq, fused)
                   for a, b in zip(s.history_[:, "valid_loss"], f.history_[:, "valid_loss"]))
        epochs = [(len(s.history_), len(f.history_)) for s, f in zip(seq, fused)]
        print(f"check {device} {optimizer.__name__}: max |weight diff| {w:.2e}, max |valid_loss "
              f"diff| {loss:.2e}, epochs (seq, fused) {epochs}, "
              f"{[(r.members, r.fused, r.forward) for r in reports]}")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer members, fewer epochs")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--hidden", type=int, default=20)
    parser.add_argument("--profile", type=int, default=0, help="profile N fused members")
    parser.add_argument("--check", action="store_true",
                        help="compare fused and sequential fits on --device, then exit")
    parser.add_argument("--seed-search", action="store_true",
                        help="only the issue's seed-sized search: 20 members, 10 epochs")
    args = parser.parse_args(argv)
    torch.set_num_threads(max(1, torch.get_num_threads()))
    X, y = make_classification(2000, 20, random_state=0)
    X = X.astype(np.float32)
    if args.check:
        check(args.device)
        return
    if args.profile:
        profile(args.profile, X, y, 3, args.device, args.hidden)
        return
    epochs = 10 if args.seed_search else (2 if args.quick else 5)
    sizes = [20] if args.seed_search else ([1, 10, 50] if args.quick else [1, 10, 100, 500])
    # the sequential time of many members is extrapolated from at most this many fits
    max_sequential = 10 if args.quick else 50
    time_fused(make_members(2, X, y, 1, args.device, args.hidden))  # warm-up (imports, fx)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, device "
          f"{args.device}, hidden {args.hidden}, {epochs} epochs, batch 128, Adam")
    print(f"{'members':>8} {'seq s':>8} {'fused s':>8} {'seq m/s':>9} {'fused m/s':>10} "
          f"{'ratio':>7}  fused groups")
    for n in sizes:
        n_seq = min(n, max_sequential)
        seq = time_sequential(make_members(n_seq, X, y, epochs, args.device, args.hidden))
        seq_total = seq * n / n_seq
        fused, reports = time_fused(make_members(n, X, y, epochs, args.device, args.hidden))
        groups = [(r.n_members, r.fused, len(r.chunks)) for r in reports]
        note = "" if n_seq == n else f" (seq extrapolated from {n_seq})"
        print(f"{n:>8} {seq_total:>8.3f} {fused:>8.3f} {n / seq_total:>9.1f} "
              f"{n / fused:>10.1f} {seq_total / fused:>6.1f}x  {groups}{note}")


if __name__ == "__main__":
    main()
