"""Shared small datasets and modules for the test suite."""

import warnings

import numpy as np
import pytest
import torch
from sklearn.datasets import make_classification, make_regression
from torch import nn


@pytest.fixture(autouse=True, scope="session")
def one_torch_thread():
    """One intra-op thread per test process: the suite runs one process per core, and
    tiny models gain nothing from more threads, whose spin-waiting on a busy machine
    slows each step many times over. Restored afterwards."""
    n_threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n_threads)


@pytest.fixture(scope="session")
def clf_data():
    X, y = make_classification(300, 10, n_informative=5, random_state=0)
    return X.astype(np.float32), y


@pytest.fixture(scope="session")
def reg_data():
    X, y = make_regression(300, 8, noise=0.1, random_state=0)
    return X.astype(np.float32), (y / y.std()).astype(np.float32)


def small_classifier(**kwargs):
    """A quiet, seeded NeuralNetClassifier with the built-in MLP; kwargs override."""
    from sktorch import NeuralNetClassifier

    params = dict(max_epochs=5, lr=0.1, verbose=0, random_state=0)
    params.update(kwargs)
    return NeuralNetClassifier(**params)


class SimpleClassifier(nn.Module):
    """The tutorial's binary module: one sigmoid output."""

    def __init__(self, hidden_units=10, n_features=10):
        super().__init__()
        self.hidden = nn.Linear(n_features, hidden_units)
        self.output = nn.Linear(hidden_units, 1)

    def forward(self, X):
        return torch.sigmoid(self.output(torch.relu(self.hidden(X))))


class MultiClassModule(nn.Module):
    """A module that outputs logits for several classes."""

    def __init__(self, n_features=10, n_classes=3, hidden_units=16):
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(n_features, hidden_units), nn.ReLU(), nn.Linear(hidden_units, n_classes)
        )

    def forward(self, X):
        return self.net(X)


class RegressorModule(nn.Module):
    def __init__(self, n_features=8, hidden_units=10):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(n_features, hidden_units), nn.ReLU(),
                                 nn.Linear(hidden_units, 1))

    def forward(self, X):
        return self.net(X)


def _slow_patterns():
    from pathlib import Path

    lines = (Path(__file__).parent / "slow_tests.txt").read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def pytest_collection_modifyitems(config, items):
    """Mark the tests listed in slow_tests.txt `slow` (`make mutation` runs without them)."""
    import fnmatch

    patterns = _slow_patterns()
    for item in items:
        nodeid = item.nodeid.removeprefix("mutants/")
        if any(fnmatch.fnmatchcase(nodeid, p) for p in patterns):
            item.add_marker(pytest.mark.slow)
    _fastest_first_under_mutmut(items)


_TEST_SECONDS: dict = {}


def _fastest_first_under_mutmut(items):
    """Under mutmut, run a mutant's tests fastest first (by mutmut's recorded durations).

    mutmut runs them with `-x`, so a killed mutant costs the time of the tests before the
    first that fails. The order cannot change a verdict as long as the tests do not depend
    on each other's order (`make test` already splits them over xdist's workers in no fixed
    order). The durations are read once, in the fork server's warm-up, and the forked
    workers inherit them.
    """
    import json
    import os
    from pathlib import Path

    stats = Path("mutmut-stats.json")  # mutmut runs pytest in mutants/
    if "MUTANT_UNDER_TEST" not in os.environ or not stats.exists():
        return
    if not _TEST_SECONDS:
        _TEST_SECONDS.update(json.loads(stats.read_text())["duration_by_test"])
    if "__mutmut_" in os.environ["MUTANT_UNDER_TEST"]:
        items.sort(key=lambda item: _TEST_SECONDS.get(item.nodeid, 0.0))


def pytest_configure(config):
    """Under mutmut (`make mutation`), freeze the heap the fork server's warm-up left.

    Every mutant's run starts from that heap (torch, scikit-learn, every test module);
    without the freeze each garbage collection walks all of it, which more than doubled
    the time pytest takes to collect a mutant's tests.
    """
    import gc
    import os

    if os.environ.get("MUTANT_UNDER_TEST"):
        gc.freeze()


@pytest.fixture(scope="module")
def client():
    """A ``distributed.Client`` on a LocalCluster of 2 worker processes, 1 thread each."""
    distributed = pytest.importorskip("distributed")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cluster = distributed.LocalCluster(n_workers=2, processes=True, threads_per_worker=1,
                                           dashboard_address=None, silence_logs=50)
        c = distributed.Client(cluster)
    yield c
    c.close()
    cluster.close()
