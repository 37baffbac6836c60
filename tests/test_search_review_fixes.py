"""Fixes from a new user's review of sktorch.model_selection (continued halving with a
validation split, fuse=True and user errors, width-joined stacks, README's example)."""

import warnings
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from sklearn.datasets import make_classification, make_regression
from torch import nn

from sktorch import NeuralNetClassifier, NeuralNetRegressor
from sktorch.exceptions import TrainingDivergedError
from sktorch.model_selection import GridSearchCV, HalvingGridSearchCV
from sktorch.model_selection._fused import Member, _merge, fit_members
from sktorch.model_selection._resume import ResumeStore


def classification(n=240, n_features=8):
    X, y = make_classification(n, n_features, random_state=0)
    return X.astype(np.float32), y


class Linear(nn.Module):
    def __init__(self):
        super().__init__()
        self.l = nn.Linear(8, 2)

    def forward(self, X):
        return self.l(X)


def data_of(X, y):  # what ResumeStore.train reads of a member
    return SimpleNamespace(X=X, y=y, sample_weight=None, fit_params={})


def linear_net(**kwargs):  # the default train_split: ValidSplit(5, stratified)
    params = dict(criterion=nn.CrossEntropyLoss, verbose=0, random_state=0, batch_size=32)
    return NeuralNetClassifier(Linear, **{**params, **kwargs})


# ---------------------------------------------------------------- 1. resume keeps the split
@pytest.mark.parametrize("fuse", [False, "auto"])
def test_continued_halving_with_a_validation_split_scores_like_retraining(fuse):
    X, y = classification(300)

    def search(resume):
        return HalvingGridSearchCV(
            linear_net(), {"lr": [0.01, 0.03, 0.1, 0.3]}, resource="max_epochs",
            min_resources=2, max_resources=4, factor=2, cv=3, resume=resume,
            random_state=0, fuse=fuse)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        plain, resumed = search(False).fit(X, y), search(True).fit(X, y)
    np.testing.assert_allclose(resumed.cv_results_["mean_test_score"],
                               plain.cv_results_["mean_test_score"], atol=1e-6)
    last = len(plain.cv_histories_) - 1
    for fold in range(3):  # the continued epochs validate on the first round's rows
        np.testing.assert_allclose(resumed.cv_histories_[last][fold][:, "valid_loss"],
                                   plain.cv_histories_[last][fold][:, "valid_loss"],
                                   rtol=1e-5)
    assert resumed.epochs_trained_ < sum(len(h) for c in plain.cv_histories_ for h in c)


def test_ten_then_twenty_more_epochs_equal_thirty_with_a_validation_split():
    X, y = classification()
    store = ResumeStore()
    store.train(linear_net(max_epochs=10, lr=0.1), data_of(X, y), "data")
    thirty, error = store.train(linear_net(max_epochs=30, lr=0.1), data_of(X, y), "data")
    assert error is None
    direct = linear_net(max_epochs=30, lr=0.1).fit(X, y)
    np.testing.assert_allclose(thirty.history[:, "valid_loss"], direct.history[:, "valid_loss"],
                               rtol=1e-5)
    np.testing.assert_allclose(thirty.history[:, "train_loss"], direct.history[:, "train_loss"],
                               rtol=1e-5)


def test_a_fused_first_round_continues_unfused_on_the_same_rows():
    # Both members share one split (the second takes the first one's from a cache):
    # each must continue one by one on the rows its fused round held out.
    X, y = classification()
    store = ResumeStore()
    members = [Member(linear_net(max_epochs=10, lr=lr), X, y) for lr in (0.05, 0.1)]
    for member in members:
        store.resume(member, "data")
    reports = fit_members(members)
    assert [r.fused for r in reports] == [True]
    for member in members:
        store.keep(member, "data")
    for lr in (0.05, 0.1):
        thirty, error = store.train(linear_net(max_epochs=30, lr=lr), data_of(X, y), "data")
        assert error is None
        direct = linear_net(max_epochs=30, lr=lr).fit(X, y)
        np.testing.assert_allclose(thirty.history[:, "valid_loss"],
                                   direct.history[:, "valid_loss"], rtol=1e-5)


# ---------------------------------------------------------------- 2. diverged members
class Regression(nn.Module):
    def __init__(self):
        super().__init__()
        self.l = nn.Linear(6, 1)

    def forward(self, X):
        return self.l(X)


def diverging_search(fuse, error_score):
    X, y = make_regression(240, 6, random_state=0)
    net = NeuralNetRegressor(Regression, max_epochs=5, verbose=0, random_state=0,
                             train_split=None)
    search = GridSearchCV(net, {"lr": [1e-3, 1e20]}, cv=3, fuse=fuse, error_score=error_score)
    return search, X.astype(np.float32), y.astype(np.float32)


def test_fuse_true_applies_error_score_to_a_member_that_diverged():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        scores = {}
        for fuse in (False, True):
            search, X, y = diverging_search(fuse, np.nan)
            scores[fuse] = search.fit(X, y).cv_results_["mean_test_score"]
    assert np.isfinite(scores[True][0]) and np.isnan(scores[True][1])
    np.testing.assert_allclose(scores[True], scores[False], rtol=1e-5)
    # the diverged members did train fused: the report still names why they were refit
    assert search.fuse_report_.n_fused == 3


def test_fuse_true_with_error_score_raise_raises_the_divergence():
    search, X, y = diverging_search(True, "raise")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(TrainingDivergedError):
            search.fit(X, y)


# ---------------------------------------------------------------- 3. the user's own errors
def message(fuse, grid, **kwargs):
    X, y = classification(120)
    net = NeuralNetClassifier(max_epochs=2, verbose=0, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(Exception) as info:
            GridSearchCV(net, grid, cv=2, fuse=fuse, **kwargs).fit(X, y)
    return type(info.value), str(info.value)


@pytest.mark.parametrize("fuse", [True, "auto"])
@pytest.mark.parametrize("grid", [{"lrr": [0.1]}, {"optimizer__momentun": [0.9], "lr": [0.1]}])
def test_a_misspelled_parameter_raises_as_without_fusion(fuse, grid):
    expected = message(False, grid)
    assert expected[0] is ValueError and "fuse" not in expected[1]
    assert message(fuse, grid) == expected


@pytest.mark.parametrize("fuse", [True, "auto"])
def test_a_parameter_value_that_fails_the_fit_gets_error_score_as_without_fusion(fuse):
    grid = {"optimizer__momentum": [-0.5], "lr": [0.1]}  # SGD rejects it at fit
    raised = message(fuse, grid, error_score="raise")
    assert raised == message(False, grid, error_score="raise")
    assert raised[0] is ValueError and "momentum" in raised[1]
    kind, text = message(fuse, grid)  # error_score=nan: scikit-learn's "all fits failed"
    assert kind is ValueError and "momentum" in text and "fuse=True requires" not in text


# ---------------------------------------------------------------- 4. width-joined stacks
class Soft(nn.Module):  # softmax over the hidden layer
    def __init__(self, hidden=10):
        super().__init__()
        self.l1 = nn.Linear(8, hidden)
        self.l2 = nn.Linear(hidden, 2)

    def forward(self, X):
        return self.l2(torch.softmax(self.l1(X), dim=-1))


def soft_searches(**kwargs):
    X, y = classification()
    net = NeuralNetClassifier(Soft, criterion=nn.CrossEntropyLoss, max_epochs=3, verbose=0,
                              random_state=0, **kwargs)
    grid = {"lr": [0.01, 0.05], "module__hidden": [10, 12]}
    fused = GridSearchCV(net, grid, cv=3).fit(X, y)
    plain = GridSearchCV(net, grid, cv=3, fuse=False).fit(X, y)
    return fused, plain


def test_softmax_does_not_keep_padded_zeros_at_zero():
    assert not _merge.fusion_layout(Soft(10)).zero_preserving


def test_softmax_over_padded_widths_trains_one_stack_per_width():
    fused, plain = soft_searches()
    assert fused.fuse_report_.summary() == "12 of 12 members fused in 2 groups"
    np.testing.assert_allclose(fused.cv_results_["mean_test_score"],
                               plain.cv_results_["mean_test_score"], atol=1e-6)


def test_a_joined_stack_that_fails_its_check_falls_back_to_one_stack_per_shape(monkeypatch):
    # As if the padding analysis had missed a step: the stacked forward's check
    # catches it, and the members still fuse, by exact shape, not one by one.
    monkeypatch.setattr(_merge, "_padding_exact", lambda groups: True)
    fused, plain = soft_searches()
    assert fused.fuse_report_.summary() == "12 of 12 members fused in 2 groups"
    np.testing.assert_allclose(fused.cv_results_["mean_test_score"],
                               plain.cv_results_["mean_test_score"], atol=1e-6)


class Head(nn.Module):
    def __init__(self, n_out=2):
        super().__init__()
        self.l1 = nn.Linear(8, 6)
        self.l2 = nn.Linear(6, n_out)

    def forward(self, X):
        return self.l2(torch.relu(self.l1(X)))


def test_different_output_widths_fuse_per_width_and_score_as_unfused():
    X, y = classification()
    net = NeuralNetClassifier(Head, criterion=nn.CrossEntropyLoss, max_epochs=3, verbose=0,
                              random_state=0, train_split=None)
    grid = {"lr": [0.01, 0.05], "module__n_out": [2, 3]}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # n_out=3 predicts a class that does not exist
        fused = GridSearchCV(net, grid, cv=3).fit(X, y)
        plain = GridSearchCV(net, grid, cv=3, fuse=False).fit(X, y)
    assert fused.fuse_report_.summary() == "12 of 12 members fused in 2 groups"
    np.testing.assert_allclose(fused.cv_results_["mean_test_score"],
                               plain.cv_results_["mean_test_score"], atol=1e-6)


# ---------------------------------------------------------------- 5. README's example
class SimpleClassifier(nn.Module):  # README's "A first model"
    def __init__(self, hidden_units=10, sigmoid_hidden=False):
        super().__init__()
        self.hidden = nn.Linear(20, hidden_units)
        self.output = nn.Linear(hidden_units, 1)
        self.sigmoid_hidden = sigmoid_hidden

    def forward(self, X):
        act = torch.sigmoid if self.sigmoid_hidden else torch.relu
        return torch.sigmoid(self.output(act(self.hidden(X))))


@pytest.mark.parametrize("sigmoid_hidden, summary", [
    (False, "20 of 20 members fused in 1 group"),  # sigmoid on the 1-unit output: joins
    (True, "20 of 20 members fused in 2 groups"),  # sigmoid on the padded layer: apart
])
def test_readme_example_fuses_as_it_says(sigmoid_hidden, summary):
    X, y = classification(200, 20)
    net = NeuralNetClassifier(SimpleClassifier, loss_function=nn.BCELoss,
                              optimizer=torch.optim.Adam, max_epochs=4, random_state=0,
                              verbose=0, module__sigmoid_hidden=sigmoid_hidden)
    grid = {"lr": [0.01, 0.1], "hidden_units": [10, 20]}
    search = GridSearchCV(net, grid, cv=5).fit(X, y)
    plain = GridSearchCV(net, grid, cv=5, fuse=False).fit(X, y)
    assert search.fuse_report_.summary() == summary
    np.testing.assert_allclose(search.cv_results_["mean_test_score"],
                               plain.cv_results_["mean_test_score"], atol=1e-6)
    np.testing.assert_allclose(search.cv_histories_[3][4][:, "train_loss"],
                               plain.cv_histories_[3][4][:, "train_loss"], rtol=1e-5)
