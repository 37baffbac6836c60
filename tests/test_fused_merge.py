"""Members that differ only in layer widths or dropout rates train as one stack (#11).

A narrower member sits zero-padded in the widest member's blocks; with steps that
map zeros to zeros the padding stays exactly zero, so each member still equals its
sequential fit (weights, predictions, optimizer state, history: ``assert_same_fit``).
A member with dropout rate 0 (or no dropout layer) in a stack with dropout members
is exact too.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from torch import nn

from sktorch import NeuralNetClassifier, NeuralNetRegressor
from sktorch.model_selection import GridSearchCV
from sktorch.model_selection._fused import Member, _merge, fit_members
from sktorch.toy import MLPModule
from tests.test_fused_core import _data, _folds, _only_fused, assert_same_fit, run_both

TOL = 1e-5


def _mlp_nets(widths, make=NeuralNetClassifier, optimizer=torch.optim.Adam, **kwargs):
    params = dict(max_epochs=3, batch_size=32, train_split=None, verbose=0, random_state=0,
                  optimizer=optimizer)
    return [make(MLPModule, module__input_units=6, module__output_units=3,
                 module__hidden_units=h, module__num_hidden=2, lr=lr,
                 module__output_nonlin=nn.Softmax(dim=-1), **{**params, **kwargs})
            for h in widths for lr in (0.01, 0.05)]


def test_padded_widths_train_as_one_stack_and_equal_sequential_fits():
    X, y = _data()
    seq, fused, reports = run_both(lambda: _mlp_nets((8, 12)), [(X, y)] * 4)
    report = _only_fused(reports, 4)
    assert report.forward == "layers"
    # each member gets its own, unpadded module back
    assert fused[0].module_.sequential[0].weight.shape == (8, 6)
    assert fused[3].module_.sequential[2].weight.shape == (12, 12)
    assert fused[0].module_.sequential[0].weight.is_contiguous()


@pytest.mark.parametrize("optimizer, settings", [
    (torch.optim.SGD, dict(optimizer__momentum=0.9, optimizer__weight_decay=0.01)),
    (torch.optim.AdamW, dict(optimizer__weight_decay=0.1)),
    (torch.optim.RMSprop, dict(optimizer__centered=True, optimizer__weight_decay=0.01)),
    (torch.optim.Adagrad, dict(optimizer__weight_decay=0.01)),
])
def test_padding_stays_zero_under_every_optimizer_with_unequal_folds(optimizer, settings):
    """Weight decay and momentum of a zero with a zero gradient are zero: exact."""
    X, y = _data()
    data = _folds(X, y, (180, 150, 120, 100))
    run_both(lambda: _mlp_nets((5, 9), optimizer=optimizer, **settings), data)


def test_adam_members_skipping_steps_equal_sequential_fits():
    """Unequal folds: a member without a batch skips a step, and Adam's bias
    corrections then follow each member's own step count."""
    X, y = _data()
    data = _folds(X, y, (180, 100, 150, 60))
    _only_fused(run_both(lambda: _mlp_nets((6, 6), optimizer__betas=(0.8, 0.99)), data)[2], 4)


class _SigmoidMLP(nn.Module):
    def __init__(self, hidden_units=8):
        super().__init__()
        self.hidden = nn.Linear(6, hidden_units)
        self.output = nn.Linear(hidden_units, 3)

    def forward(self, X):
        return torch.softmax(self.output(torch.sigmoid(self.hidden(X))), dim=-1)


def test_widths_stay_apart_when_a_step_moves_zeros():
    """sigmoid(0) = 0.5: padded units would feed the next layer's gradient."""
    X, y = _data()

    def nets():
        return [NeuralNetClassifier(_SigmoidMLP, module__hidden_units=h, lr=lr,
                                    max_epochs=2, batch_size=32, train_split=None,
                                    verbose=0, random_state=0)
                for h in (4, 8) for lr in (0.01, 0.05)]

    _, _, reports = run_both(nets, [(X, y)] * 4)
    assert sorted((sorted(r.members), r.fused) for r in reports) == [
        ([0, 1], True), ([2, 3], True)]  # one stack per width


def test_widths_stay_apart_when_padding_costs_too_much():
    X, y = _data()
    fused = _mlp_nets((4, 64))
    reports = fit_members([Member(net, X, y) for net in fused])
    assert sorted(len(r.members) for r in reports if r.fused) == [2, 2]
    assert _merge.PAD_COST < (64 * 6 + 64 + 64 * 64 + 64 + 3 * 64 + 3) / (
        ((4 * 6 + 4 + 4 * 4 + 4 + 3 * 4 + 3) + (64 * 6 + 64 + 64 * 64 + 64 + 3 * 64 + 3)) / 2)


def test_dropout_rates_share_a_stack_and_rate_zero_members_are_exact():
    X, y = _data()

    def nets():
        return [NeuralNetClassifier(MLPModule, module__input_units=6, module__output_units=3,
                                    module__output_nonlin=nn.Softmax(dim=-1),
                                    module__hidden_units=h, module__dropout=p, lr=0.05,
                                    max_epochs=3, batch_size=32, train_split=None, verbose=0,
                                    random_state=0)
                for p in (0.0, 0.5) for h in (8, 10)]

    seq, fused = nets(), nets()
    reports = fit_members([Member(net, X, y) for net in fused])
    assert [(sorted(r.members), r.fused) for r in reports] == [([0, 1, 2, 3], True)]
    for s in seq:
        s.fit(X, y)
    assert_same_fit(seq[0], fused[0], X)  # rate 0 (no dropout layer): exact
    assert_same_fit(seq[1], fused[1], X)
    for s, f in zip(seq[2:], fused[2:]):  # dropout 0.5: its own masks, but it dropped units
        assert not torch.allclose(s.module_.sequential[0].weight,
                                  f.module_.sequential[0].weight, atol=TOL)
        assert [type(m).__name__ for m in f.module_.sequential] == [
            "Linear", "ReLU", "Dropout", "Linear", "Softmax"]
        assert f.module_.sequential[2].p == 0.5


def test_member_dropout_keeps_and_scales_per_member():
    from sktorch.model_selection._fused._forward import member_dropout

    x = torch.ones(3, 2000, 4)
    rates = torch.tensor([0.0, 0.25, 1.0])
    scales = torch.tensor([1.0, 1 / 0.75, 0.0])
    out = member_dropout(x, (rates, scales), training=True)
    assert torch.equal(out[0], x[0])
    kept = out[1] != 0
    assert abs(kept.float().mean().item() - 0.75) < 0.02
    assert torch.allclose(out[1][kept], torch.tensor(1 / 0.75))
    assert torch.equal(out[2], torch.zeros_like(out[2]))
    assert member_dropout(x, (rates, scales), training=False) is x


def test_builtin_regressor_widths_share_a_stack():
    """The built-in MLP (Standardize layers with each member's statistics) pads too."""
    rs = np.random.RandomState(0)
    X = rs.randn(120, 5).astype("float32")
    y = (X[:, 0] * 3 + 10).astype("float32")

    def nets():
        return [NeuralNetRegressor(hidden_units=h, lr=0.01, optimizer=torch.optim.Adam,
                                   max_epochs=3, batch_size=32, train_split=None, verbose=0,
                                   random_state=0) for h in (12, 16)]

    _only_fused(run_both(nets, [(X, y), (X[:100], y[:100])])[2], 2)


def test_demo_like_search_fuses_widths_and_dropout_and_keeps_exact_scores():
    X, y = _data(200, 8)
    X = X * 5 + 3
    net = NeuralNetClassifier(optimizer=torch.optim.Adam, max_epochs=3, batch_size=32,
                              train_split=None, verbose=0, random_state=0)
    grid = {"neuralnetclassifier__hidden_units": [6, 8],
            "neuralnetclassifier__module__dropout": [0.0, 0.3],
            "neuralnetclassifier__lr": [0.01, 0.05]}

    def search(fuse):
        return GridSearchCV(make_pipeline(StandardScaler(), net), grid, cv=3, fuse=fuse,
                            return_train_score=True, scoring=["accuracy", "neg_log_loss"],
                            refit="accuracy")

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no fallback warning
        fused = search("auto").fit(X, y)
    plain = search(False).fit(X, y)
    assert [(g.n_members, g.fused) for g in fused.fuse_report_] == [(24, True)]
    for i, params in enumerate(plain.cv_results_["params"]):
        if params["neuralnetclassifier__module__dropout"]:
            continue  # other masks: statistically equivalent, not equal
        for key in plain.cv_results_:
            if key.startswith("split") and "score" in key:
                assert abs(fused.cv_results_[key][i] - plain.cv_results_[key][i]) < 1e-4, key
