"""Dask searches (issue 14): the data reaches each worker once; a dying worker is survived.

A real 2-process LocalCluster. The workers import this module (spawned workers inherit
sys.path), so the helpers below run there too. Skipped without dask.distributed.
"""

import os

import joblib
import numpy as np
import pytest

from sktorch.model_selection import GridSearchCV, HalvingGridSearchCV, _remote
from sktorch.toy import MLPModule
from tests._cluster import GRID, data, net

distributed = pytest.importorskip("distributed")


def _loaded(array, log):
    """Unpickling a CountedArray: note which process received which shape."""
    with open(log, "a") as f:
        f.write(f"{os.getpid()} {'x'.join(map(str, array.shape))}\n")
    out = array.view(CountedArray)
    out.log = log
    return out


class CountedArray(np.ndarray):
    """An array (and every slice of it) that logs each time a process unpickles it."""

    def __array_finalize__(self, obj):
        self.log = getattr(obj, "log", None)

    def __reduce_ex__(self, protocol):
        return _loaded, (np.asarray(self), self.log)

    def __reduce__(self):
        return self.__reduce_ex__(2)


def counted(X, log):
    out = X.view(CountedArray)
    out.log = str(log)
    return out


def loads(log):
    if not os.path.exists(log):
        return []
    with open(log) as f:
        return sorted(tuple(line.split()) for line in f)


def held_payloads():
    return len(_remote._HELD)


def worker_pids(client):
    return sorted(str(pid) for pid in client.run(os.getpid).values())


def test_fused_search_sends_the_data_to_each_worker_once(client, tmp_path):
    """Each worker unpickles the whole X once, never a fold's rows per task, across rounds."""
    X, y = data()
    log = tmp_path / "loads.txt"
    local = GridSearchCV(net(), GRID, cv=2, fuse=True).fit(X, y)
    with joblib.parallel_backend("dask"):
        remote = GridSearchCV(net(), GRID, cv=2, fuse=True).fit(counted(X, log), y)
    assert all(g.fused for g in remote.fuse_report_) and len(remote.fuse_report_) == 2
    pids = worker_pids(client)
    assert loads(log) == [(pid, "120x6") for pid in pids]  # whole X, once per worker
    np.testing.assert_allclose(remote.cv_results_["mean_test_score"],
                               local.cv_results_["mean_test_score"], atol=1e-6)
    for c in range(len(GRID["lr"])):
        for f in range(2):
            np.testing.assert_allclose(remote.cv_histories_[c][f][:, "train_loss"],
                                       local.cv_histories_[c][f][:, "train_loss"], rtol=1e-5)
    np.testing.assert_allclose(remote.predict_proba(X), local.predict_proba(X), atol=1e-6)

    # halving: three rounds of fused parts, still one copy per worker for the search
    log2 = tmp_path / "loads2.txt"
    halving = dict(resource="max_epochs", min_resources=2, max_resources=8, factor=2, cv=2,
                   random_state=0)
    one = HalvingGridSearchCV(net(), GRID, **halving).fit(X, y)
    with joblib.parallel_backend("dask"):
        two = HalvingGridSearchCV(net(), GRID, **halving).fit(counted(X, log2), y)
    assert two.n_iterations_ == 3
    assert loads(log2) == [(pid, "120x6") for pid in pids]
    assert sum(client.run(held_payloads).values()) == 0  # the workers let go of the data
    np.testing.assert_allclose(two.cv_results_["mean_test_score"],
                               one.cv_results_["mean_test_score"], atol=1e-6)


def test_pipeline_members_train_on_the_cluster_like_locally(client):
    """A Pipeline's fold X exists only on the client: it is sent with the parts that need it."""
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X, y = data()
    grid = {"neuralnetclassifier__lr": GRID["lr"]}
    local = GridSearchCV(make_pipeline(StandardScaler(), net()), grid, cv=2, fuse=True).fit(X, y)
    with joblib.parallel_backend("dask"):
        remote = GridSearchCV(make_pipeline(StandardScaler(), net()), grid, cv=2,
                              fuse=True).fit(X, y)
    assert len(remote.fuse_report_) == 2 and all(g.fused for g in remote.fuse_report_)
    np.testing.assert_allclose(remote.cv_results_["mean_test_score"],
                               local.cv_results_["mean_test_score"], atol=1e-6)
    assert all(h is not None for row in remote.cv_histories_ for h in row)


class KillOnceMLP(MLPModule):
    """An MLP whose forward ends its process the first time it runs anywhere (a crash)."""

    def __init__(self, marker="", driver=0, **kwargs):
        super().__init__(**kwargs)
        self.marker, self.driver = marker, driver

    def forward(self, X):
        if self.marker and not os.path.exists(self.marker) and os.getpid() != self.driver:
            open(self.marker, "w").close()
            os._exit(1)
        return super().forward(X)


def test_a_worker_dying_during_a_fused_part_reruns_it_or_raises(client, tmp_path):
    """The part's task dies with its worker: Dask reruns it and the results are complete."""
    X, y = data()
    marker = str(tmp_path / "killed")
    local = GridSearchCV(net(module=KillOnceMLP), GRID, cv=2, fuse=True).fit(X, y)
    remote = GridSearchCV(net(module=KillOnceMLP, module__marker=marker,
                              module__driver=os.getpid()), GRID, cv=2, fuse=True)
    try:
        with joblib.parallel_backend("dask"):
            remote.fit(X, y)
    except _remote.ClusterTrainingError as exc:  # acceptable: a clear error, nothing kept
        assert "No result of this search was kept" in str(exc)
        assert not hasattr(remote, "cv_results_")
    else:
        assert all(g.fused for g in remote.fuse_report_)
        np.testing.assert_allclose(remote.cv_results_["mean_test_score"],
                                   local.cv_results_["mean_test_score"], atol=1e-6)
        assert all(h is not None for row in remote.cv_histories_ for h in row)
    assert os.path.exists(marker)  # a worker did die
    assert len(client.run(os.getpid)) >= 1


def test_a_failing_cluster_raises_instead_of_training_on_the_client(client, monkeypatch):
    """fuse='auto' never falls back to training the whole search here when the cluster fails."""
    X, y = data()

    def broken(*args, **kwargs):
        raise ConnectionError("worker lost")

    monkeypatch.setattr(_remote, "fit_part_remote", broken)
    search = GridSearchCV(net(), GRID, cv=2, fuse="auto")
    with pytest.raises(_remote.ClusterTrainingError, match="fused part.*ConnectionError"):
        with joblib.parallel_backend("dask"):
            search.fit(X, y)
    assert not hasattr(search, "cv_results_")
