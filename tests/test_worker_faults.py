"""A worker process killed during a search on joblib's loky backend (issue 14).

joblib does not rerun the batch of a worker that died: the search raises
``TerminatedWorkerError`` and keeps no results; running it again works. (On
Dask the task is rerun: tests/test_dask_data_faults.py.)
"""

import os

import numpy as np
import pytest
from joblib.externals.loky.process_executor import TerminatedWorkerError
from torch import nn

from sktorch import NeuralNetClassifier
from sktorch.model_selection import GridSearchCV
from sktorch.toy import MLPModule
from tests._cluster import KillOnce

GRID = {"lr": [0.05, 0.1, 0.2, 0.3]}




def data():
    rng = np.random.RandomState(0)
    X = rng.randn(120, 6).astype("float32")
    return X, (X[:, 0] + X[:, 3] > 0).astype("int64")


def net(**kwargs):
    return NeuralNetClassifier(MLPModule, module__input_units=6, criterion=nn.CrossEntropyLoss,
                               max_epochs=4, batch_size=32, train_split=None, verbose=0,
                               random_state=0, **kwargs)


def test_a_loky_worker_killed_once_raises_and_keeps_nothing(tmp_path):
    X, y = data()
    marker = str(tmp_path / "killed")
    search = GridSearchCV(net(callbacks=[KillOnce(marker)]), GRID, cv=2, n_jobs=2, fuse=False)
    with pytest.raises(TerminatedWorkerError, match="unexpectedly terminated"):
        search.fit(X, y)
    assert os.path.exists(marker)  # a worker did die
    assert not hasattr(search, "cv_results_") and not hasattr(search, "best_estimator_")
    # the next run (the marker exists: nothing dies) completes with n_jobs=1's results
    search.fit(X, y)
    one = GridSearchCV(net(callbacks=[KillOnce(marker)]), GRID, cv=2, n_jobs=1,
                       fuse=False).fit(X, y)
    np.testing.assert_allclose(search.cv_results_["mean_test_score"],
                               one.cv_results_["mean_test_score"])
