"""Searches on a Dask cluster through joblib (issue 14). Skipped without dask.distributed."""

import os

import joblib
import numpy as np
import pytest

from sktorch.model_selection import GridSearchCV
from tests._cluster import GRID, KillOnce, data, net

distributed = pytest.importorskip("distributed")

# The workers import sktorch, this module and tests._cluster (spawned workers inherit
# sys.path).


def task_names(stream):
    return {task["key"].split("-")[0] if isinstance(task["key"], str) else str(task["key"])
            for task in stream.data}


def test_unfused_search_on_cluster_equals_n_jobs_1(client):
    X, y = data()
    local = GridSearchCV(net(), GRID, cv=2, fuse=False).fit(X, y)
    with distributed.get_task_stream(client) as stream, joblib.parallel_backend("dask"):
        remote = GridSearchCV(net(), GRID, cv=2, fuse=False).fit(X, y)
    assert any("fit_and_score" in name for name in task_names(stream))
    np.testing.assert_allclose(remote.cv_results_["mean_test_score"],
                               local.cv_results_["mean_test_score"])
    np.testing.assert_allclose(remote.predict_proba(X), local.predict_proba(X), atol=1e-6)


def test_fused_search_sends_parts_to_the_workers(client):
    X, y = data()
    local = GridSearchCV(net(), GRID, cv=2, fuse=True).fit(X, y)
    with distributed.get_task_stream(client) as stream, joblib.parallel_backend("dask"):
        remote = GridSearchCV(net(), GRID, cv=2, fuse=True).fit(X, y)
    assert any("fit_part_remote" in name for name in task_names(stream))
    groups = list(remote.fuse_report_)
    assert len(groups) == 2 and all(g.fused for g in groups)  # one fused part per worker
    np.testing.assert_allclose(remote.cv_results_["mean_test_score"],
                               local.cv_results_["mean_test_score"], atol=1e-6)
    for c in range(len(GRID["lr"])):
        for f in range(2):
            np.testing.assert_allclose(remote.cv_histories_[c][f][:, "train_loss"],
                                       local.cv_histories_[c][f][:, "train_loss"], rtol=1e-5)


def test_a_worker_killed_once_never_gives_partial_results(client, tmp_path):
    """A worker dies mid-search: complete, correct results (task rerun) or an error.

    With joblib 1.6's dask backend the dead worker's batch surfaces as an error
    (``FutureCancelledError``) rather than a rerun; what must never happen is a
    search that returns with some members missing or wrong.
    """
    X, y = data()
    marker = str(tmp_path / "killed")
    local = GridSearchCV(net(), GRID, cv=2, fuse=False).fit(X, y)
    remote = GridSearchCV(net(callbacks=[KillOnce(marker)]), GRID, cv=2, fuse=False)
    try:
        with joblib.parallel_backend("dask"):
            remote.fit(X, y)
    except Exception:
        assert not hasattr(remote, "cv_results_")  # nothing presented as complete
    else:
        np.testing.assert_allclose(remote.cv_results_["mean_test_score"],
                                   local.cv_results_["mean_test_score"])
    assert os.path.exists(marker)  # a worker did die
