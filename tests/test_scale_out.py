"""Searches over every core: thread budgets per worker, fused parts in parallel (issue 14)."""

import joblib
import numpy as np
import pytest
import torch
from sklearn.model_selection import GridSearchCV as SkGridSearchCV
from torch import nn

from sktorch import NeuralNetClassifier
from sktorch.callbacks import Callback
from sktorch.model_selection import GridSearchCV, _parallel, thread_budget
from sktorch.toy import MLPModule

SEEN_THREADS = []


class RecordThreads(Callback):
    """Records torch's intra-op thread count at the start of each fit (same process)."""

    def on_train_begin(self, net, **kwargs):
        SEEN_THREADS.append(torch.get_num_threads())


def threads_scorer(estimator, X, y):
    """A 'score' that is the thread count in force where the fit ran (any process)."""
    return float(torch.get_num_threads())


@pytest.fixture
def four_threads(monkeypatch):
    """torch starts with 4 threads on a (pretend) 4-core machine; restored after."""
    before = torch.get_num_threads()
    torch.set_num_threads(4)
    monkeypatch.setattr(joblib, "cpu_count", lambda *a, **k: 4)
    SEEN_THREADS.clear()
    yield
    torch.set_num_threads(before)


def data():
    rng = np.random.RandomState(0)
    X = rng.randn(90, 6).astype("float32")
    y = (X[:, 0] + X[:, 1] > 0).astype("int64")
    return X, y


def net(**kwargs):
    return NeuralNetClassifier(MLPModule, module__input_units=6, criterion=nn.CrossEntropyLoss,
                               max_epochs=3, train_split=None, verbose=0, random_state=0,
                               lr=0.1, **kwargs)


GRID = {"lr": [0.05, 0.1, 0.2]}


def test_threads_per_worker_shares_the_cores():
    assert _parallel.threads_per_worker(2, n_cores=8) == 4
    assert _parallel.threads_per_worker(3, n_cores=8) == 2
    assert _parallel.threads_per_worker(4, n_cores=2) == 1
    assert _parallel.threads_per_worker(None, n_cores=8) == 8


def test_thread_budget_sets_and_restores(four_threads):
    with thread_budget(2) as threads:
        assert threads == 2 and torch.get_num_threads() == 2
    assert torch.get_num_threads() == 4
    with thread_budget(1):  # one worker: left as it is
        assert torch.get_num_threads() == 4
    with pytest.raises(RuntimeError), thread_budget(4):
        assert torch.get_num_threads() == 1
        raise RuntimeError("boom")
    assert torch.get_num_threads() == 4  # restored after an error too


def test_sklearn_search_in_threads_respects_the_budget(four_threads):
    X, y = data()
    search = SkGridSearchCV(net(callbacks=[RecordThreads()]), GRID, cv=2, n_jobs=2)
    with joblib.parallel_backend("threading"), thread_budget(2):
        search.fit(X, y)
    fits = len(GRID["lr"]) * 2 + 1  # members + refit
    assert SEEN_THREADS[:fits - 1] == [2] * (fits - 1)
    assert torch.get_num_threads() == 4


def test_unfused_search_in_processes_budget_and_results():
    """loky workers (started once here: slow under load) run with cores // n_jobs threads."""
    X, y = data()
    probe = GridSearchCV(net(), GRID, cv=2, n_jobs=2, fuse=False, scoring=threads_scorer,
                         refit=False).fit(X, y)
    expected = max(1, joblib.cpu_count() // 2)  # loky starts workers with this budget
    assert set(probe.cv_results_["mean_test_score"]) == {float(expected)}
    one = GridSearchCV(net(), GRID, cv=2, n_jobs=1, fuse=False).fit(X, y)
    two = GridSearchCV(net(), GRID, cv=2, n_jobs=2, fuse=False).fit(X, y)
    np.testing.assert_allclose(two.cv_results_["mean_test_score"],
                               one.cv_results_["mean_test_score"])
    np.testing.assert_allclose(two.predict_proba(X), one.predict_proba(X), atol=1e-5)


def test_fused_search_on_the_cpu_trains_in_one_call_with_all_threads(four_threads,
                                                                    monkeypatch):
    """Parts in threads cannot overlap (fx tracing), so n_jobs=2 does not split CPU members:
    split, each part had half the threads and they ran one after another (0.79x)."""
    from sktorch.model_selection import _fused

    seen = []
    fit_members = _fused.fit_members

    def recording(members, *args, **kwargs):
        seen.append((torch.get_num_threads(), len(members)))
        return fit_members(members, *args, **kwargs)

    monkeypatch.setattr(_fused, "fit_members", recording)
    X, y = data()
    one = GridSearchCV(net(), GRID, cv=2, n_jobs=1, fuse=True).fit(X, y)
    two = GridSearchCV(net(), GRID, cv=2, n_jobs=2, fuse=True).fit(X, y)
    assert seen == [(4, 6), (4, 6)]  # 6 members in one call, all 4 threads, both times
    assert torch.get_num_threads() == 4
    assert two.fuse_report_.summary() and not two.fuse_report_.fallback_reasons()
    np.testing.assert_allclose(two.cv_results_["mean_test_score"],
                               one.cv_results_["mean_test_score"])
    for c in range(3):
        for f in range(2):
            np.testing.assert_allclose(two.cv_histories_[c][f][:, "train_loss"],
                                       one.cv_histories_[c][f][:, "train_loss"], rtol=1e-5)


def test_split_keeps_order_and_sizes():
    assert _parallel._split(list(range(7)), 3) == [[0, 1, 2], [3, 4], [5, 6]]
    assert _parallel._split([0, 1], 4) == [[0], [1]]
