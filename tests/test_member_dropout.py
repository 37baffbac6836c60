"""Fused dropout members draw their own masks (issue 14: results equal n_jobs=1).

A member's dropout masks come from its own generator, so they do not depend on which
other members share its stack: the same search gives the same cv_results_ whether its
members train in one stack, in memory chunks, in parts on a Dask cluster or with
n_jobs=2. The search is the demo's (Pipeline, built-in MLP, lr x widths x dropout).
"""

import joblib
import numpy as np
import pytest
import torch
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sktorch import NeuralNetClassifier
from sktorch.model_selection import GridSearchCV
from sktorch.model_selection._fused import Member, _masks, fit_members

GRID = {"neuralnetclassifier__lr": [0.01, 0.03],
        "neuralnetclassifier__hidden_units": [8, 16],
        "neuralnetclassifier__module__dropout": [0.0, 0.3]}


def demo_data():
    rng = np.random.RandomState(0)
    X = rng.randn(90, 6).astype("float32")
    y = (X[:, 0] + X[:, 1] * X[:, 2] > 0).astype("int64") + (X[:, 3] > 1)
    return X, y


def demo_search(**kwargs):
    net = NeuralNetClassifier(optimizer=torch.optim.Adam, max_epochs=4, batch_size=16,
                              train_split=None, verbose=0, random_state=0)
    return GridSearchCV(make_pipeline(StandardScaler(), net), GRID, cv=3, fuse=True,
                        **kwargs)


def assert_same_results(found, expected):
    for key in ("mean_test_score", "split0_test_score", "split1_test_score",
                "split2_test_score"):
        np.testing.assert_allclose(found.cv_results_[key], expected.cv_results_[key],
                                   atol=1e-6, err_msg=key)
    for c in range(len(expected.cv_histories_)):
        for f in range(3):
            np.testing.assert_allclose(found.cv_histories_[c][f][:, "train_loss"],
                                       expected.cv_histories_[c][f][:, "train_loss"],
                                       rtol=1e-5, atol=1e-6)


@pytest.fixture(scope="module")
def one_stack():
    X, y = demo_data()
    search = demo_search().fit(X, y)
    groups = list(search.fuse_report_)
    assert len(groups) == 1 and groups[0].fused and groups[0].n_chunks == 1
    return search


def test_memory_chunks_train_the_same_members(one_stack):
    X, y = demo_data()
    chunked = demo_search(fuse_memory_budget=1).fit(X, y)  # one member per chunk
    assert sum(g.n_chunks for g in chunked.fuse_report_) == 24
    assert_same_results(chunked, one_stack)


def test_n_jobs_2_trains_the_same_members(one_stack):
    X, y = demo_data()
    assert_same_results(demo_search(n_jobs=2).fit(X, y), one_stack)


def nets_and_data():
    X, y = demo_data()
    nets = [NeuralNetClassifier(module__dropout=rate, hidden_units=width, lr=0.05,
                                max_epochs=3, batch_size=16, train_split=None, verbose=0,
                                random_state=seed)
            for rate in (0.2, 0.5) for width in (8, 16) for seed in (0, 1)]
    return nets, X, y


def train_losses(nets):
    return [np.asarray(net.history_[:, "train_loss"]) for net in nets]


def test_a_member_draws_the_same_masks_in_any_part_of_the_stack():
    nets, X, y = nets_and_data()
    fit_members([Member(net, X, y) for net in nets])
    whole = train_losses(nets)
    nets, X, y = nets_and_data()
    # other neighbours, rows and order; the narrow members without the wide ones' padding
    halves = [[nets[i] for i in (5, 4, 1, 0)], [nets[i] for i in (2, 3, 6, 7)]]
    for half in halves:
        reports = fit_members([Member(net, X, y) for net in half])
        assert all(r.fused for r in reports)
    for found, expected in zip(train_losses(nets), whole):
        np.testing.assert_allclose(found, expected, rtol=1e-5, atol=1e-6)


def test_dropout_still_draws_masks():
    """The members above do drop units: another seed of their masks trains other models."""
    nets, X, y = nets_and_data()
    fit_members([Member(net, X, y) for net in nets])
    first = train_losses(nets)
    nets, X, y = nets_and_data()
    with torch.random.fork_rng():
        seeds = iter(range(100, 200))
        original = _masks.member_generator
        try:
            _masks.member_generator = lambda seed, device: original(next(seeds), device)
            fit_members([Member(net, X, y) for net in nets])
        finally:
            _masks.member_generator = original
    assert all(not np.allclose(a, b) for a, b in zip(train_losses(nets), first))


def test_one_shared_generator_would_make_chunks_differ(one_stack, monkeypatch):
    """The checks above catch masks that depend on the stack: one generator for all."""
    shared = torch.Generator().manual_seed(0)
    monkeypatch.setattr(_masks, "member_generator", lambda seed, device: shared)
    X, y = demo_data()
    chunked = demo_search(fuse_memory_budget=1).fit(X, y)
    with pytest.raises(AssertionError):
        assert_same_results(chunked, one_stack)


def test_dropout_members_on_a_cluster_equal_n_jobs_1(client, one_stack):
    distributed = pytest.importorskip("distributed")
    X, y = demo_data()
    with distributed.get_task_stream(client) as stream, joblib.parallel_backend("dask"):
        remote = demo_search().fit(X, y)
    assert any("fit_part_remote" in str(task["key"]) for task in stream.data)
    assert len(list(remote.fuse_report_)) == 2  # a part per worker: each a piece of the stack
    assert_same_results(remote, one_stack)


def test_a_members_draws_depend_on_the_member_alone():
    """Its own rows and units from its own generator, whatever its row, the padding and
    its neighbours; 1 (keep at scale 1) for padding and members with rate 0."""

    def draws(n_members, row, padded_width, rates=None):
        generators = [torch.Generator().manual_seed(7 if i == row else i)
                      for i in range(n_members)]
        masks = _masks.MemberMasks(generators, {"d": rates or [0.5] * n_members},
                                   {"d": [(5,)] * n_members})
        return masks.uniform("d", torch.zeros(n_members, 4, padded_width), [3] * n_members)

    alone = draws(1, 0, 5)[0]
    stacked = draws(3, 2, 9)
    expected = torch.rand(3, 5, generator=torch.Generator().manual_seed(7))
    assert torch.equal(alone[:3], expected) and torch.equal(stacked[2, :3, :5], expected)
    assert (stacked[2, 3:] == 1).all() and (stacked[2, :, 5:] == 1).all()
    assert (draws(2, 0, 5, rates=[0.5, 0.0])[1] == 1).all()
