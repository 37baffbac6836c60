"""Continued halving trains continued members fused (issue 14): same models as a long fit."""

import warnings

import numpy as np
import pytest
import torch
from torch import nn

from sktorch import NeuralNetClassifier
from sktorch.model_selection import HalvingGridSearchCV
from sktorch.model_selection._fused import Member, fit_members
from sktorch.model_selection._fused._group import fit_one_by_one
from sktorch.model_selection._resume import UNFUSED, ResumeStore
from sktorch.toy import MLPModule

OPTIMIZERS = {
    "sgd-momentum": (torch.optim.SGD, {"optimizer__momentum": 0.9}),
    "adam": (torch.optim.Adam, {}),
}


def data():
    rng = np.random.RandomState(0)
    X = rng.randn(120, 5).astype("float32")
    y = (X[:, 0] - X[:, 2] > 0).astype("int64")
    return X, y


def net(optimizer="sgd-momentum", **kwargs):
    cls, extra = OPTIMIZERS[optimizer]
    # Small batches: the shuffle order of every epoch changes the model.
    params = dict(max_epochs=10, batch_size=16, train_split=None, verbose=0, random_state=0,
                  lr=0.05, optimizer=cls, **extra)
    params.update(kwargs)
    return NeuralNetClassifier(MLPModule, module__input_units=5, criterion=nn.CrossEntropyLoss,
                               **params)


def weights(model):
    return np.concatenate([p.detach().numpy().ravel() for p in model.module_.parameters()])


LRS = (0.02, 0.05, 0.1)


def rounds(optimizer, fused, epochs=(10, 30)):
    """Members of each lr trained to ``epochs[0]``, then continued to ``epochs[1]``."""
    X, y = data()
    store, reports = ResumeStore(), []
    for total in epochs:
        members = [Member(net(optimizer, lr=lr, max_epochs=total), X, y) for lr in LRS]
        for member in members:
            store.resume(member, "data")
        if fused:
            reports.append(fit_members(members))
        else:
            reports.append([fit_one_by_one(members, [0, 1, 2], UNFUSED)])
        for member in members:
            store.keep(member, "data")
    return members, reports, store


@pytest.mark.parametrize("optimizer", sorted(OPTIMIZERS))
def test_fused_continued_members_equal_one_long_fit(optimizer):
    """10 epochs, then 20 more, fused both times == 30 epochs of each net's own fit."""
    X, y = data()
    members, reports, store = rounds(optimizer, fused=True)
    assert [[(r.members, r.fused) for r in round_] for round_ in reports] == [
        [([0, 1, 2], True)], [([0, 1, 2], True)]]
    assert store.epochs_trained == 3 * 30  # 3 x (10 + 20), not 3 x (10 + 30)
    for lr, member in zip(LRS, members):
        direct = net(optimizer, lr=lr, max_epochs=30).fit(X, y)
        assert len(member.net.history) == 30 and member.net.max_epochs == 30
        np.testing.assert_allclose(member.net.history[:, "train_loss"],
                                   direct.history[:, "train_loss"], rtol=1e-4, atol=1e-6)
        np.testing.assert_allclose(weights(member.net), weights(direct), rtol=1e-4, atol=1e-5)
        # the optimizer state went on too (Adam's moments and step, SGD's momentum)
        ours, theirs = member.net.optimizer_.state_dict(), direct.optimizer_.state_dict()
        assert ours["state"].keys() == theirs["state"].keys() and ours["state"]
        for k, state in theirs["state"].items():
            assert state.keys() == ours["state"][k].keys()
            for name, value in state.items():
                np.testing.assert_allclose(ours["state"][k][name].numpy(), value.numpy(),
                                           rtol=1e-3, atol=1e-6)


@pytest.mark.parametrize("optimizer", sorted(OPTIMIZERS))
def test_fused_continuation_equals_unfused_continuation(optimizer):
    fused, _, _ = rounds(optimizer, fused=True, epochs=(4, 9, 15))
    unfused, reports, _ = rounds(optimizer, fused=False, epochs=(4, 9, 15))
    assert all(not r.fused for round_ in reports for r in round_)
    for a, b in zip(fused, unfused):
        assert len(a.net.history) == len(b.net.history) == 15
        np.testing.assert_allclose(a.net.history[:, "train_loss"],
                                   b.net.history[:, "train_loss"], rtol=1e-4, atol=1e-6)
        np.testing.assert_allclose(weights(a.net), weights(b.net), rtol=1e-4, atol=1e-5)


def test_a_continued_member_refit_alone_starts_from_its_stored_net():
    """After a failed fused try (weights half-trained), the member continues its stored net."""
    X, y = data()
    store = ResumeStore()
    _, error = store.train(net(max_epochs=10), Member(None, X, y), "data")
    assert error is None
    member = Member(net(max_epochs=30), X, y)
    store.resume(member, "data")
    with torch.no_grad():
        for p in member.net.module_.parameters():
            p.zero_()  # what a fused try may leave behind
    report = fit_one_by_one([member], [0], "refit alone")
    assert not report.errors
    direct = net(max_epochs=30).fit(X, y)
    np.testing.assert_allclose(weights(member.net), weights(direct), rtol=1e-4, atol=1e-5)


def search(resume, fuse="auto"):
    return HalvingGridSearchCV(
        net(), {"lr": [0.02, 0.05, 0.1, 0.2]}, resource="max_epochs", min_resources=3,
        max_resources=12, factor=2, cv=2, resume=resume, refit=True, random_state=0, fuse=fuse)


def test_continued_halving_fuses_every_round_and_scores_like_retraining():
    X, y = data()
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)  # fuse='auto': nothing fell back
        plain = search(False).fit(X, y)
        resumed = search(True).fit(X, y)
    unfused = search(True, fuse=False).fit(X, y)
    groups = list(resumed.fuse_report_)
    assert sorted({g.iteration for g in groups}) == [0, 1, 2]
    assert all(g.fused for g in groups if g.iteration < 2)  # the last round has 2 members
    assert {g.reason for g in unfused.fuse_report_} == {UNFUSED}
    for other in (plain, unfused):
        np.testing.assert_allclose(resumed.cv_results_["mean_test_score"],
                                   other.cv_results_["mean_test_score"], atol=1e-6)
    assert resumed.epochs_trained_ == unfused.epochs_trained_ == 2 * (4 * 3 + 2 * 3 + 1 * 6)
    last = len(resumed.cv_histories_) - 1
    for other in (plain, unfused):
        np.testing.assert_allclose(resumed.cv_histories_[last][0][:, "train_loss"],
                                   other.cv_histories_[last][0][:, "train_loss"], rtol=1e-4)
