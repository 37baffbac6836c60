"""Overheads of parallel searches (issue 14): what each task carries, whose threads are cut."""

import pickle

import joblib
import numpy as np
import pytest
import torch

from sktorch.model_selection import GridSearchCV, HalvingGridSearchCV
from sktorch.model_selection._run import SearchRun
from tests._cluster import GRID, net


@pytest.fixture
def four_threads(monkeypatch):
    before = torch.get_num_threads()
    torch.set_num_threads(4)
    monkeypatch.setattr(joblib, "cpu_count", lambda *a, **k: 4)
    yield
    torch.set_num_threads(before)


def big_data():
    rng = np.random.RandomState(0)
    X = rng.randn(2000, 6).astype("float32")
    return X, (X[:, 0] > 0).astype("int64")


@pytest.mark.parametrize("search_class", [GridSearchCV, HalvingGridSearchCV])
def test_a_fitting_search_pickles_without_its_data(search_class):
    """scikit-learn sends the search with every fit task (caller=self): it must not carry X."""
    X, y = big_data()
    search = search_class(net(), GRID, cv=2)
    empty = len(pickle.dumps(search))
    search._fuse_run = run = SearchRun(search, X, y, {})
    run.data()  # what a running search holds
    sent = pickle.dumps(search)
    assert len(sent) < empty + 1000 < X.nbytes
    assert pickle.loads(sent)._fuse_run is None


def test_only_fits_in_threads_of_this_process_get_a_thread_budget(four_threads):
    """Under loky the workers fit and this process keeps its threads (for the refit)."""
    X, y = big_data()
    run = SearchRun(GridSearchCV(net(), GRID, cv=2, n_jobs=2, fuse=False), X, y, {})
    with joblib.parallel_backend("loky"), run._fits_budget():
        assert torch.get_num_threads() == 4
    with joblib.parallel_backend("threading"), run._fits_budget():
        assert torch.get_num_threads() == 2
    assert torch.get_num_threads() == 4
