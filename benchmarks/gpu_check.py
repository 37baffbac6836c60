"""GPU check: data stays on the device during a fit, and the benchmark ratios on CUDA.

Usage: ``python benchmarks/gpu_check.py`` on a machine with CUDA (a short script, about a
minute). Without CUDA it prints a message and exits with status 0.

Checks:
1. every training batch the engine sees is already on the GPU (a callback records the
   batches' devices) and the inputs are copied to the device once per fit, not per batch
   (the CUDA caching allocator's count of host-to-device copies is not exposed, so the
   check profiles the fit with torch.profiler and counts ``Memcpy HtoD`` events);
2. training and prediction times against the hand-written loop on the same device,
   with ``precision='32'`` and ``'16-mixed'``;
3. a fused ``GridSearchCV`` on CUDA: every member fuses, the scores equal the unfused
   search's, and the time of each;
4. device spreading (issue 14): a fused search's parts with ``device='cuda'`` and
   ``n_jobs`` = the number of GPUs train one part per GPU (``cuda:i``); with one GPU
   visible it says so and checks that every member stayed on ``'cuda'``.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import harness  # noqa: E402
import torch  # noqa: E402
import workloads as wl  # noqa: E402


def check_batches_on_device() -> None:
    import sktorch
    from sktorch.callbacks import Callback

    devices = set()

    class Devices(Callback):
        def on_batch_begin(self, net, batch=None, **kwargs):
            devices.add(batch[0].device.type)

    w = wl.WORKLOADS["c"]
    X, y = w.data()
    net = sktorch.NeuralNetRegressor(
        wl.MLP, criterion=torch.nn.MSELoss, device="cuda", verbose=0, train_split=None,
        max_epochs=3, callbacks=[Devices()], **{f"module__{k}": v
                                                for k, v in w.module_params().items()})
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
        net.fit(X, y)
        torch.cuda.synchronize()
    h2d = sum(e.count for e in prof.key_averages() if "HtoD" in e.key)
    n_batches = 3 * len(net.history[-1, "batches"])
    print(f"batch devices: {devices}; host-to-device copies: {h2d} for {n_batches} batches")
    assert devices == {"cuda"}, f"batches seen on {devices}"
    assert h2d < n_batches, "data is copied to the GPU per batch"


def _search_net(**kwargs):
    import sktorch
    from sktorch.toy import MLPModule

    return sktorch.NeuralNetClassifier(
        MLPModule, module__input_units=64, module__output_units=10, module__hidden_units=64,
        criterion=torch.nn.CrossEntropyLoss, max_epochs=5, batch_size=64, train_split=None,
        verbose=0, random_state=0, device="cuda", **kwargs)


def _digits():
    import numpy as np
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    return (X / 16.0).astype(np.float32), y.astype(np.int64)


def check_fused_search() -> None:
    import time

    import numpy as np

    from sktorch.model_selection import GridSearchCV

    X, y = _digits()
    grid = {"lr": [0.02, 0.05, 0.1, 0.2], "batch_size": [32, 64]}
    times, searches = {}, {}
    for fuse in (True, False):
        start = time.perf_counter()
        searches[fuse] = GridSearchCV(_search_net(), grid, cv=3, fuse=fuse).fit(X, y)
        torch.cuda.synchronize()
        times[fuse] = time.perf_counter() - start
    fused = searches[True]
    print(f"fused search on CUDA: {fused.fuse_report_.summary()}; "
          f"fused {times[True]:.2f} s, unfused {times[False]:.2f} s "
          f"({times[False] / times[True]:.2f}x)")
    assert not fused.fuse_report_.fallback_reasons(), fused.fuse_report_.summary()
    np.testing.assert_allclose(fused.cv_results_["mean_test_score"],
                               searches[False].cv_results_["mean_test_score"], atol=2e-3)


def check_device_spreading() -> None:
    from sktorch.model_selection._fused import Member
    from sktorch.model_selection._parallel import _split, fit_members_parallel

    X, y = _digits()
    n_gpus = torch.cuda.device_count()
    n_jobs = max(2, n_gpus)
    members = [Member(_search_net(lr=lr), X, y) for lr in (0.02, 0.05, 0.1, 0.2)]
    fit_members_parallel(members, None, n_jobs)
    parts = _split(list(range(len(members))), n_jobs)
    placed = [sorted({str(next(members[i].net.module_.parameters()).device) for i in part})
              for part in parts]
    print(f"{n_gpus} GPU(s) visible; parts of a fused search with n_jobs={n_jobs} "
          f"trained on: {placed}")
    if n_gpus < 2:
        print("device spreading not exercised (one GPU): every member stays on 'cuda'")
        assert all(m.net.device == "cuda" for m in members)
        return
    assert placed == [[f"cuda:{k % n_gpus}"] for k in range(len(parts))], placed


def ratios() -> None:
    for key in ("a", "b", "c"):
        w = wl.WORKLOADS[key]
        X, y = w.data()
        calls = {
            "hand": lambda w=w, X=X, y=y: _hand_cuda(w, X, y),
            "sktorch": lambda w=w, X=X, y=y: _sktorch_cuda(w, X, y, "32"),
            "sktorch 16-mixed": lambda w=w, X=X, y=y: _sktorch_cuda(w, X, y, "16-mixed"),
        }
        med = harness.time_alternating(calls, 3)
        print(f"{w.title}: " + ", ".join(
            f"{k} {v:.3f} s ({v / med['hand']:.2f}x)" for k, v in med.items()))


def _hand_cuda(w, X, y):
    torch.manual_seed(0)
    Xt, yt = torch.from_numpy(X).cuda(), torch.from_numpy(y).cuda()
    model = wl.MLP(**w.module_params()).cuda()
    optimizer = torch.optim.SGD(model.parameters(), lr=wl.LR)
    criterion = torch.nn.CrossEntropyLoss() if w.is_classifier else torch.nn.MSELoss()
    for _ in range(w.epochs):
        order = torch.randperm(len(Xt), device="cuda")
        for start in range(0, len(Xt), wl.BATCH_SIZE):
            index = order[start : start + wl.BATCH_SIZE]
            optimizer.zero_grad()
            criterion(model(Xt[index]), yt[index]).backward()
            optimizer.step()
    torch.cuda.synchronize()


def _sktorch_cuda(w, X, y, precision):
    import sktorch

    cls = sktorch.NeuralNetClassifier if w.is_classifier else sktorch.NeuralNetRegressor
    cls(wl.MLP, criterion=torch.nn.CrossEntropyLoss if w.is_classifier else torch.nn.MSELoss,
        lr=wl.LR, max_epochs=w.epochs, batch_size=wl.BATCH_SIZE, verbose=0, train_split=None,
        device="cuda", precision=precision,
        **{f"module__{k}": v for k, v in w.module_params().items()}).fit(X, y)
    torch.cuda.synchronize()


def main() -> int:
    if not torch.cuda.is_available():
        print("No CUDA device: the GPU check was not run.")
        return 0
    print(f"device: {torch.cuda.get_device_name()}, torch {torch.__version__}")
    check_batches_on_device()
    check_fused_search()
    check_device_spreading()
    ratios()
    return 0


if __name__ == "__main__":
    sys.exit(main())
