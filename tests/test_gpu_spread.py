"""device='cuda' in a parallel search: one visible GPU per worker (issue 14), simulated on CPU.

torch.cuda.is_available/device_count are patched to report GPUs; the tests record the
device each member was given and then train it on the CPU, so no CUDA call is made.
"""

import types

import numpy as np
import pytest
import torch
from torch import nn

from sktorch import NeuralNetClassifier
from sktorch.model_selection import GridSearchCV, _devices, _parallel, _remote
from sktorch.toy import MLPModule

GRID = {"lr": [0.05, 0.1, 0.2]}


def data():
    rng = np.random.RandomState(0)
    X = rng.randn(90, 6).astype("float32")
    y = (X[:, 0] + X[:, 1] > 0).astype("int64")
    return X, y


def net(device="cpu", **kwargs):
    return NeuralNetClassifier(MLPModule, module__input_units=6, criterion=nn.CrossEntropyLoss,
                               max_epochs=3, train_split=None, verbose=0, random_state=0,
                               device=device, **kwargs)


@pytest.fixture
def gpus(monkeypatch):
    """Pretend this process sees ``n`` GPUs; parts record their members' devices, train on CPU."""
    seen = []
    fit_part = _parallel._fit_part

    def on_cpu(members, budget, on_done=None):
        seen.append([m.net.device for m in members])
        for m in members:
            m.net.device = "cpu"
        return fit_part(members, budget, on_done)

    monkeypatch.setattr(_parallel, "_fit_part", on_cpu)

    def pretend(n):
        monkeypatch.setattr(torch.cuda, "is_available", lambda: n > 0)
        monkeypatch.setattr(torch.cuda, "device_count", lambda: n)

    return types.SimpleNamespace(seen=seen, pretend=pretend)


def test_device_for_gives_worker_i_gpu_i_mod_n():
    assert [_devices.device_for("cuda", i, 2) for i in range(4)] == [
        "cuda:0", "cuda:1", "cuda:0", "cuda:1"]
    assert _devices.device_for(torch.device("cuda"), 1, 3) == "cuda:1"
    assert _devices.device_for("cuda:2", 0, 4) == "cuda:2"  # an explicit choice stays
    assert _devices.device_for("cpu", 1, 4) == "cpu"
    assert _devices.device_for("cuda", 1, 1) == "cuda"  # one GPU: nothing to spread
    assert _devices.device_for(None, 1, 2) is None


def test_parallel_fused_search_puts_each_part_on_its_own_gpu(gpus):
    gpus.pretend(2)
    X, y = data()
    search = GridSearchCV(net("cuda"), GRID, cv=2, n_jobs=2, fuse=True, refit=False).fit(X, y)
    assert gpus.seen == [["cuda:0"] * 3, ["cuda:1"] * 3]  # 6 members, 2 parts, 2 GPUs
    one = GridSearchCV(net(), GRID, cv=2, n_jobs=1, fuse=True, refit=False).fit(X, y)
    np.testing.assert_allclose(search.cv_results_["mean_test_score"],
                               one.cv_results_["mean_test_score"])
    assert [p["lr"] for p in search.cv_results_["params"]] == GRID["lr"]


def test_more_workers_than_gpus_wrap_around_and_one_gpu_is_left_alone(gpus, monkeypatch):
    import joblib

    monkeypatch.setattr(joblib, "cpu_count", lambda *a, **k: 4)
    gpus.pretend(2)
    X, y = data()
    GridSearchCV(net("cuda"), GRID, cv=2, n_jobs=3, fuse=True, refit=False).fit(X, y)
    assert [set(devices) for devices in gpus.seen] == [{"cuda:0"}, {"cuda:1"}, {"cuda:0"}]
    gpus.seen.clear()
    gpus.pretend(1)
    from sktorch.model_selection._fused import Member

    # one GPU: nothing to spread, the members train in one call (no parts)
    assert not _parallel._spread_over_gpus([Member(net("cuda"), X, y)])
    gpus.pretend(2)
    assert _parallel._spread_over_gpus([Member(net("cuda"), X, y)])
    GridSearchCV(net("cpu"), GRID, cv=2, n_jobs=2, fuse=True, refit=False).fit(X, y)
    assert gpus.seen == []  # CPU members: one call with all threads (no parts)


def test_a_dask_worker_uses_the_gpu_of_its_number(gpus, monkeypatch):
    """On a worker, the part's members go to cuda:(worker number % GPUs it sees)."""
    distributed = pytest.importorskip("distributed")
    gpus.pretend(2)
    monkeypatch.setattr(distributed, "get_worker",
                        lambda: types.SimpleNamespace(name=3, address="tcp://h:1"))
    assert _devices.worker_slot() == 3
    X, y = data()
    source = (X, y, {})
    rows = np.arange(60)
    stubs = [_remote.Stub(net("cuda", lr=lr), ("search",), rows, 0) for lr in (0.1, 0.2)]
    held = _remote.Held("search-id", ("search",), payload=_remote.Shipped(source))
    nets, reports = _remote.fit_part_remote(stubs, None, [("search",)], held)
    assert gpus.seen == [["cuda:1", "cuda:1"]]
    assert reports[0].fused and all(len(n.history_) == 3 for n in nets)
    alone = net(lr=0.2).fit(X[:60], y[:60])
    np.testing.assert_allclose(nets[1].history_[:, "train_loss"],
                               alone.history_[:, "train_loss"], rtol=1e-5)
    monkeypatch.setattr(distributed, "get_worker",
                        lambda: types.SimpleNamespace(name="gpu-box", address="tcp://h:1"))
    assert _devices.worker_slot() == _devices.worker_slot() >= 0  # a stable number
