"""The fast paths of fused search (issue #11's speed work) give the results of the slow ones.

Each test pins one shortcut: the batched-layer forward for a softmax written as a
function, ... Every shortcut must leave each member equal to its sequential fit.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from sktorch import NeuralNetClassifier
from tests.test_fused_core import _data, _only_fused, run_both


class _SoftmaxFunction(nn.Module):
    """A user's module ending in ``torch.softmax(..., dim=-1)`` (skorch tutorials' style)."""

    def __init__(self, hidden_units=5, dim=-1):
        super().__init__()
        self.hidden = nn.Linear(6, hidden_units)
        self.output = nn.Linear(hidden_units, 3)
        self.dim = dim

    def forward(self, X):
        out = self.output(torch.relu(self.hidden(X)))
        if self.dim == 1:
            return out.softmax(1)
        return torch.softmax(out, dim=self.dim)


def test_softmax_function_runs_on_batched_layers():
    X, y = _data()

    def nets():
        return [NeuralNetClassifier(_SoftmaxFunction, lr=lr, max_epochs=2, verbose=0,
                                    random_state=0, optimizer=torch.optim.Adam)
                for lr in (0.01, 0.1)]

    report = _only_fused(run_both(nets, [(X, y)] * 2)[2], 2)
    assert report.forward == "layers"


def test_positive_softmax_dim_shifts_past_members():
    """``x.softmax(1)`` normalizes over classes, not over members (dim 1 → 2)."""
    X, y = _data()

    def nets():
        return [NeuralNetClassifier(_SoftmaxFunction, module__dim=1, lr=lr, max_epochs=2,
                                    verbose=0, random_state=0) for lr in (0.01, 0.1)]

    report = _only_fused(run_both(nets, [(X, y)] * 2)[2], 2)
    assert report.forward == "layers"


def test_seeded_cpu_fit_seeds_no_accelerator(monkeypatch):
    """A seeded CPU fit seeds only the CPU generator (torch.manual_seed also seeds each
    accelerator backend lazily, recording a stack trace: ms per fit) and keeps its
    seeded weights."""
    calls = []
    monkeypatch.setattr(torch.cuda, "manual_seed_all", lambda seed: calls.append(seed))
    X, y = _data()
    nets = [NeuralNetClassifier(_SoftmaxFunction, max_epochs=1, verbose=0, random_state=3)
            for _ in range(2)]
    for net in nets:
        net.fit(X, y)
    assert calls == []
    torch.testing.assert_close(nets[0].module_.hidden.weight, nets[1].module_.hidden.weight)
    seed = int(np.random.RandomState(3).randint(np.iinfo(np.int32).max))  # the net's _seed
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        expected = nn.Linear(6, 5).weight  # what the seeded initialization draws first
    torch.testing.assert_close(nets[0].initialize().module_.hidden.weight.detach(),
                               expected.detach(), rtol=0, atol=0)


def test_one_member_trains_once_without_fused_set_up(monkeypatch):
    """A search of one member has nothing to fuse: scikit-learn's own fit call trains
    it (no fused preparation first), and the report says why."""
    from sklearn.model_selection import ShuffleSplit

    from sktorch.model_selection import GridSearchCV, _parallel
    from sktorch.model_selection._fused._members import ALONE

    def no_fused_training(*args, **kwargs):
        raise AssertionError("one member went through fused training")

    X, y = _data()
    net = NeuralNetClassifier(_SoftmaxFunction, max_epochs=2, verbose=0, random_state=0,
                              train_split=None)
    cv = ShuffleSplit(1, test_size=0.25, random_state=0)
    plain = GridSearchCV(net, {"lr": [0.1]}, cv=cv, fuse=False).fit(X, y)
    monkeypatch.setattr(_parallel, "fit_members_parallel", no_fused_training)
    search = GridSearchCV(net, {"lr": [0.1]}, cv=cv)
    with pytest.warns(UserWarning, match="alone in its structure group"):
        search.fit(X, y)
    assert [(g.members, g.fused, g.reason) for g in search.fuse_report_] == [
        (((0, 0),), False, ALONE)]
    assert search.cv_results_["mean_test_score"][0] == plain.cv_results_["mean_test_score"][0]
    assert len(search.cv_histories_[0][0]) == 2
