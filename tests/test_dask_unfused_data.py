"""Unfused searches on a Dask cluster send X to each worker once (issue 14).

A real 2-process LocalCluster (the ``client`` fixture); ScatterCounted logs every
unpickling of X in any process. Dask's active memory manager may drop a worker's extra
copy of scattered data while none of its tasks waits for it (a later task then fetches
it again): the counting tests run with it stopped. Skipped without dask.distributed.
"""

import os
import pickle

import joblib
import numpy as np
import pytest

from sktorch.model_selection import GridSearchCV, HalvingGridSearchCV
from tests._cluster import GRID, data, net
from tests.test_dask_data_faults import CountedArray, loads, worker_pids
from tests.test_dask_data_faults import _loaded as _log_load

distributed = pytest.importorskip("distributed")
from distributed.protocol import dask_deserialize, dask_serialize  # noqa: E402


def _loaded(array, log):
    return _log_load(array, log).view(ScatterCounted)


class ScatterCounted(CountedArray):
    """A CountedArray that Dask pickles when it scatters or moves it between workers too
    (not as a plain ndarray), so every copy received is logged (this module is imported
    where it is unpickled)."""

    def __reduce_ex__(self, protocol):
        return _loaded, (np.asarray(self), self.log)


@dask_serialize.register(ScatterCounted)
def _serialize(array):
    return {}, [pickle.dumps(array)]


@dask_deserialize.register(ScatterCounted)
def _deserialize(header, frames):
    return pickle.loads(frames[0])


def counted(X, log):
    out = X.view(ScatterCounted)
    out.log = str(log)
    return out


def fit_workers(stream, client):
    """The pids of the workers that ran fit tasks (the others never need X)."""
    pids = client.run(os.getpid)
    return sorted({str(pids[task["worker"]]) for task in stream.data
                   if "fit_and_score" in str(task["key"])})


@pytest.fixture
def no_amm(client):
    """The active memory manager stopped for one test (see the module notes)."""
    client.amm.stop()
    yield client
    client.amm.start()


def test_unfused_grid_search_sends_x_to_each_worker_once(no_amm, tmp_path):
    """8 fit tasks; before, every task carried X (and the search object, with X again)."""
    X, y = data()
    log = tmp_path / "loads.txt"
    local = GridSearchCV(net(), GRID, cv=2, fuse=False).fit(X, y)
    with distributed.get_task_stream(no_amm) as stream, joblib.parallel_backend("dask"):
        remote = GridSearchCV(net(), GRID, cv=2, fuse=False).fit(counted(X, log), y)
    ran = fit_workers(stream, no_amm)
    assert ran and set(ran) <= set(worker_pids(no_amm))
    assert loads(log) == [(pid, "120x6") for pid in ran]  # none on the client, none per task
    np.testing.assert_allclose(remote.cv_results_["mean_test_score"],
                               local.cv_results_["mean_test_score"])
    np.testing.assert_allclose(remote.predict_proba(X), local.predict_proba(X), atol=1e-6)


def test_unfused_halving_sends_x_once_for_all_rounds(no_amm, tmp_path):
    X, y = data()
    log = tmp_path / "loads.txt"
    halving = dict(resource="max_epochs", min_resources=2, max_resources=8, factor=2, cv=2,
                   random_state=0, fuse=False)
    local = HalvingGridSearchCV(net(), GRID, **halving).fit(X, y)
    with distributed.get_task_stream(no_amm) as stream, joblib.parallel_backend("dask"):
        remote = HalvingGridSearchCV(net(), GRID, **halving).fit(counted(X, log), y)
    assert remote.n_iterations_ == 3
    assert loads(log) == [(pid, "120x6") for pid in fit_workers(stream, no_amm)]
    np.testing.assert_allclose(remote.cv_results_["mean_test_score"],
                               local.cv_results_["mean_test_score"])


def test_the_users_backend_settings_are_kept(client):
    """Inside the search the backend is the user's (client, n_jobs) with X and y scattered."""
    from sktorch.model_selection import _remote

    X, y = data()
    with joblib.parallel_backend("dask", n_jobs=1):
        outer = joblib.parallel.get_active_backend()[0]
        with _remote.scattered_for_fits(X, y):
            backend, n_jobs = joblib.parallel.get_active_backend()
            assert backend.client is outer.client and n_jobs == 1
            assert set(backend.data_futures) == {id(X), id(y)}
    with joblib.parallel_backend("loky"), _remote.scattered_for_fits(X, y):
        assert type(joblib.parallel.get_active_backend()[0]).__name__ == "LokyBackend"
