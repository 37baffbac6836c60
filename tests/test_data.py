"""Input types: arrays, tensors, lists, sparse, dicts, Datasets, DataLoaders."""

from functools import partial

import numpy as np
import pytest
import scipy.sparse as sp
import torch
from sklearn.model_selection import GridSearchCV, cross_val_score
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from sktorch import NeuralNetRegressor
from sktorch.dataset import Dataset, ValidSplit
from sktorch.helper import SliceDataset, SliceDict, predefined_split
from tests.conftest import small_classifier

_clf = partial(small_classifier, max_epochs=3)


def test_list_and_float64_and_tensor_inputs_agree(clf_data):
    X, y = clf_data
    results = []
    for X_in in (X.tolist(), X.astype(np.float64), torch.tensor(X)):
        net = _clf().fit(X_in, y)
        results.append(net.predict_proba(X))
    np.testing.assert_allclose(results[0], results[1], rtol=1e-5)
    np.testing.assert_allclose(results[0], results[2], rtol=1e-5)


def test_sparse_csr_input(clf_data):
    X, y = clf_data
    X_sparse = sp.csr_matrix(np.where(np.abs(X) > 1, X, 0))
    net = _clf().fit(X_sparse, y)
    assert net.predict(X_sparse).shape == (len(y),)


class TwoInputs(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.Linear(6, 4)
        self.b = nn.Linear(4, 4)
        self.out = nn.Linear(8, 2)

    def forward(self, first, second):
        return torch.softmax(self.out(torch.cat([self.a(first), self.b(second)], 1)), -1)


def test_dict_input_is_passed_as_keyword_arguments_and_works_in_grid_search(clf_data):
    X, y = clf_data
    X_dict = SliceDict(first=X[:, :6], second=X[:, 6:])
    net = _clf(module=TwoInputs)
    search = GridSearchCV(net, {"lr": [0.05, 0.1]}, cv=3).fit(X_dict, y)
    assert search.best_estimator_.predict(X_dict).shape == (len(y),)
    plain = _clf(module=TwoInputs).fit({"first": X[:, :6], "second": X[:, 6:]}, y)
    assert plain.predict_proba({"first": X[:, :6], "second": X[:, 6:]}).shape == (len(y), 2)


def test_torch_dataset_with_slice_dataset_in_cross_val_score(clf_data):
    X, y = clf_data
    ds = TensorDataset(torch.tensor(X), torch.tensor(y))
    scores = cross_val_score(_clf(), SliceDataset(ds), SliceDataset(ds, idx=1), cv=3)
    assert scores.shape == (3,) and scores.mean() > 0.6


def test_dataset_input_trains_through_a_dataloader(clf_data):
    X, y = clf_data
    ds = TensorDataset(torch.tensor(X), torch.tensor(y))
    net = _clf(train_split=None, batch_size=50).fit(ds, y)
    assert len(net.history[-1, "batches"]) == 6
    assert net.predict(ds).shape == (len(y),)


def test_explicit_dataloader_honours_batch_size_and_kwargs(clf_data):
    X, y = clf_data
    net = _clf(iterator_train=DataLoader, iterator_train__drop_last=True, batch_size=64,
               train_split=None).fit(X, y)
    sizes = net.history[-1, "batches", :, "train_batch_size"]
    assert sizes == [64, 64, 64, 64]


class RowIdRecorder(nn.Module):
    """A linear model that records feature 0 (the row id) of each training batch."""

    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(4, 1)
        self.batches = []

    def forward(self, X):
        if self.training:
            self.batches.append(X[:, 0].long().tolist())
        return self.lin(X)


@pytest.mark.parametrize("chunk_bytes", [None, 1000])  # None: one gather; 1000: per batch
def test_fast_path_batches_cover_every_row_once_per_epoch(chunk_bytes, monkeypatch):
    if chunk_bytes is not None:
        monkeypatch.setattr("sktorch._data._CHUNK_BYTES", chunk_bytes)
    X = np.random.RandomState(0).randn(300, 4).astype(np.float32)
    X[:, 0] = np.arange(300)
    y = X[:, 1].copy()
    net = NeuralNetRegressor(RowIdRecorder, lr=0.0, max_epochs=2, batch_size=128,
                             train_split=None, verbose=0, random_state=0).fit(X, y)
    assert net.history[-1, "batches", :, "train_batch_size"] == [128, 128, 44]
    batches = net.module_.batches
    assert [len(b) for b in batches] == [128, 128, 44] * 2
    for epoch in (batches[:3], batches[3:]):
        rows = sum(epoch, [])
        assert sorted(rows) == list(range(300))  # each row once: no row drawn twice
        assert rows != list(range(300))  # in a shuffled order


def test_batch_size_minus_one_is_one_batch(clf_data):
    X, y = clf_data
    net = _clf(batch_size=-1, train_split=None).fit(X, y)
    assert net.history[-1, "batches", :, "train_batch_size"] == [len(y)]


@pytest.mark.parametrize("cv, random_state", [(5, None), (5, 0), (0.2, 0)])
def test_valid_split_sizes_and_stratification(cv, random_state):
    # Classes in blocks of 150, 90 and 60: an unshuffled unstratified fold is one class,
    # a shuffled one (seed 0) is 29/23/8; a stratified fifth is exactly 30/18/12.
    y = np.repeat([0, 1, 2], [150, 90, 60])
    X = np.random.RandomState(0).randn(300, 4).astype(np.float32)
    split = ValidSplit(cv, stratified=True, random_state=random_state)
    train, valid = split.split_indices(len(y), y)
    assert np.bincount(y[valid]).tolist() == [30, 18, 12]
    assert np.bincount(y[train]).tolist() == [120, 72, 48]
    assert sorted(np.r_[train, valid].tolist()) == list(range(300))  # a partition
    net = small_classifier(max_epochs=1, train_split=split).fit(X, y)
    assert sum(net.history[-1, "batches", :, "valid_batch_size"]) == 60


def test_predefined_split_validates_on_the_given_data(clf_data):
    X, y = clf_data
    valid = Dataset(X[:40], y[:40])
    net = _clf(train_split=predefined_split(valid)).fit(X[40:], y[40:])
    assert sum(net.history[-1, "batches", :, "valid_batch_size"]) == 40


def test_training_batches_are_shuffled_prediction_keeps_order(reg_data):
    X, y = reg_data
    seen = []

    class Recorder(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(8, 1)

        def forward(self, X):
            seen.append(X[:, 0].detach().clone())
            return self.lin(X)

    net = NeuralNetRegressor(Recorder, max_epochs=1, batch_size=300, train_split=None,
                             verbose=0, random_state=0).fit(X, y)
    assert not torch.equal(seen[0], torch.tensor(X[:, 0]))
    seen.clear()
    net.predict(X)
    assert torch.equal(seen[0], torch.tensor(X[:, 0]))


def test_float_labels_and_column_tensor_labels(clf_data):
    X, y = clf_data
    net = _clf().fit(X, y.astype(np.float64))
    assert net.classes_.tolist() == [0.0, 1.0]
    assert net.predict(X).dtype == np.float64
    net = _clf().fit(torch.tensor(X), torch.tensor(y).reshape(-1, 1))
    assert net.predict(X).shape == (len(y),)
