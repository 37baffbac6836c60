"""Fused training (sktorch.model_selection._fused): each member equals its sequential fit.

Every test fits the same nets twice, once with ``net.fit`` one after the other and
once with ``fit_members``, and compares weights, predictions, optimizer state and
the whole history (epoch values, best markers, batch rows, stop reasons).
"""

from __future__ import annotations

import math
import pickle

import numpy as np
import pytest
import torch
from torch import nn

from sktorch import (
    History,
    NeuralNetBinaryClassifier,
    NeuralNetClassifier,
    NeuralNetRegressor,
)
from sktorch.callbacks import Callback, EarlyStopping, EpochScoring
from sktorch.dataset import ValidSplit
from sktorch.model_selection._fused import GroupReport, Member, _optim, fit_members
from sktorch.model_selection._fused._stack import FlatStack
from sktorch.toy import MLPModule

TOL = 1e-5


def _data(n=180, n_features=6, n_classes=3, seed=0):
    rs = np.random.RandomState(seed)
    X = rs.randn(n, n_features).astype("float32")
    y = (X[:, :n_classes].argmax(axis=1)) if n_classes > 2 else (X[:, 0] + X[:, 1] > 0)
    return X, y.astype(int)


def _folds(X, y, sizes):
    """Training data of folds of different sizes (unequal folds)."""
    return [(X[:n], y[:n]) for n in sizes]


def _history_values(history):
    rows = []
    for row in history:
        rows.append({k: v for k, v in row.items() if k != "dur"})
    return rows


def _close(a, b, what):
    if isinstance(a, float) or isinstance(b, float):
        assert math.isclose(a, b, rel_tol=TOL, abs_tol=TOL), (what, a, b)
    elif isinstance(a, dict):
        assert a.keys() == b.keys(), (what, a.keys(), b.keys())
        for k in a:
            _close(a[k], b[k], f"{what}.{k}")
    elif isinstance(a, list):
        assert len(a) == len(b), (what, len(a), len(b))
        for i, (u, v) in enumerate(zip(a, b)):
            _close(u, v, f"{what}[{i}]")
    elif isinstance(a, torch.Tensor):
        torch.testing.assert_close(a.float(), b.float(), rtol=TOL, atol=TOL, msg=what)
    else:
        assert a == b, (what, a, b)


def assert_same_fit(seq, fused, X):
    """Weights, predictions, optimizer state and history of two fitted nets agree."""
    _close(dict(seq.module_.state_dict()), dict(fused.module_.state_dict()), "weights")
    np.testing.assert_allclose(seq.predict_proba(X) if hasattr(seq, "predict_proba") else
                               seq.predict(X),
                               fused.predict_proba(X) if hasattr(fused, "predict_proba") else
                               fused.predict(X), rtol=TOL, atol=TOL)
    _close(_history_values(seq.history_), _history_values(fused.history_), "history")
    s_state, f_state = seq.optimizer_.state_dict(), fused.optimizer_.state_dict()
    _close(s_state["state"], f_state["state"], "optimizer state")
    assert s_state["param_groups"] == f_state["param_groups"]
    assert seq.n_features_in_ == fused.n_features_in_
    if hasattr(seq, "classes_"):
        np.testing.assert_array_equal(seq.classes_, fused.classes_)


def run_both(make_nets, data, sample_weights=None, budget=None):
    """Fit ``make_nets()`` sequentially and fused on ``data`` (one (X, y) per net)."""
    seq, fused = make_nets(), make_nets()
    weights = sample_weights or [None] * len(seq)
    for net, (X, y), w in zip(seq, data, weights):
        net.fit(X, y, sample_weight=w)
    members = [Member(net, X, y, sample_weight=w) for net, (X, y), w in zip(fused, data, weights)]
    reports = fit_members(members, memory_budget=budget)
    for s, f, (X, _) in zip(seq, fused, data):
        assert_same_fit(s, f, X)
    return seq, fused, reports


def _only_fused(reports, n):
    fused = [r for r in reports if r.fused]
    assert [r.fused for r in reports] == [True], [(r.members, r.reason) for r in reports]
    assert sorted(fused[0].members) == list(range(n))
    return fused[0]


def test_multiclass_nll_sgd_momentum_unequal_folds():
    X, y = _data()
    data = _folds(X, y, [180, 150, 137, 180])  # 137 rows: a last batch of 9 in training

    def nets():
        return [NeuralNetClassifier(lr=lr, max_epochs=3, batch_size=32, verbose=0,
                                    random_state=i, hidden_units=8,
                                    optimizer__momentum=mom, optimizer__nesterov=nest)
                for i, (lr, mom, nest) in enumerate(
                    [(0.1, 0.9, False), (0.05, 0.0, False), (0.2, 0.5, True), (0.1, 0.9, True)])]

    seq, fused, reports = run_both(nets, data)
    report = _only_fused(reports, 4)
    assert report.forward == "layers"
    assert all(len(n.history_) == 3 for n in fused)
    assert "valid_acc" in fused[0].history_[-1]
    # members own their weights (no view into the stack), and pickle as ordinary nets
    fused[0].module_.sequential[0].weight.data.add_(1.0)
    assert_same_fit(seq[1], fused[1], data[1][0])
    restored = pickle.loads(pickle.dumps(fused[2]))
    np.testing.assert_array_equal(restored.predict_proba(X), fused[2].predict_proba(X))


def test_cross_entropy_and_regressor_and_binary():
    X, y = _data()
    yr = (X[:, 0] * 2 - X[:, 1]).astype("float32")

    def ce():
        return [NeuralNetClassifier(criterion=nn.CrossEntropyLoss, lr=lr, max_epochs=2,
                                    batch_size=40, verbose=0, random_state=0, hidden_units=5,
                                    optimizer=torch.optim.Adam) for lr in (0.01, 0.05)]

    def reg():
        return [NeuralNetRegressor(lr=lr, max_epochs=2, batch_size=40, verbose=0,
                                   random_state=1, hidden_units=5) for lr in (0.02, 0.05)]

    def binary():
        return [NeuralNetBinaryClassifier(lr=lr, max_epochs=2, batch_size=40, verbose=0,
                                          random_state=2, hidden_units=5)
                for lr in (0.02, 0.05)]

    yb = (X[:, 0] > 0).astype(int)
    _only_fused(run_both(ce, [(X, y)] * 2)[2], 2)
    _only_fused(run_both(reg, [(X, yr)] * 2)[2], 2)
    _only_fused(run_both(binary, [(X, yb)] * 2)[2], 2)


def test_bce_loss_on_probabilities():
    X, _ = _data()
    y = (X[:, 0] > 0).astype(int)

    class Prob(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(6, 1)

        def forward(self, x):
            return torch.sigmoid(self.lin(x)).squeeze(-1)

    def nets():
        return [NeuralNetClassifier(Prob, criterion=nn.BCELoss, lr=lr, max_epochs=2,
                                    verbose=0, random_state=3) for lr in (0.1, 0.3)]

    _only_fused(run_both(nets, [(X, y)] * 2)[2], 2)


@pytest.mark.parametrize("optimizer, settings", [
    (torch.optim.SGD, [dict(momentum=0.9, dampening=0.1, weight_decay=1e-3),
                       dict(momentum=0.0, weight_decay=0.0), dict(momentum=0.5, nesterov=True)]),
    (torch.optim.Adam, [dict(betas=(0.8, 0.99)), dict(amsgrad=True, weight_decay=1e-2),
                        dict(eps=1e-4)]),
    (torch.optim.AdamW, [dict(weight_decay=0.1), dict(amsgrad=True), dict(betas=(0.5, 0.9))]),
    (torch.optim.RMSprop, [dict(alpha=0.9), dict(centered=True, momentum=0.5),
                           dict(momentum=0.9, weight_decay=1e-2)]),
    (torch.optim.Adagrad, [dict(lr_decay=0.01), dict(initial_accumulator_value=0.1),
                           dict(weight_decay=1e-2, eps=1e-6)]),
])
def test_optimizers_with_member_hyperparameters(optimizer, settings):
    X, y = _data()
    lrs = [0.01, 0.03, 0.05]

    def nets():
        return [NeuralNetClassifier(optimizer=optimizer, lr=lr, max_epochs=2, batch_size=50,
                                    verbose=0, random_state=i, hidden_units=7,
                                    **{f"optimizer__{k}": v for k, v in s.items()})
                for i, (lr, s) in enumerate(zip(lrs, settings))]

    seq, fused, reports = run_both(nets, [(X, y), (X[:170], y[:170]), (X, y)])
    _only_fused(reports, 3)


@pytest.mark.parametrize("optimizer, settings", [
    (torch.optim.SGD, dict(lr=0.1, momentum=0.9, dampening=0.2, nesterov=False,
                           weight_decay=0.01)),
    (torch.optim.SGD, dict(lr=0.1, momentum=0.9, nesterov=True)),
    (torch.optim.Adam, dict(lr=0.01, betas=(0.7, 0.95), weight_decay=0.05, amsgrad=True)),
    (torch.optim.AdamW, dict(lr=0.01, weight_decay=0.3)),
    (torch.optim.RMSprop, dict(lr=0.01, alpha=0.8, momentum=0.3, centered=True,
                               weight_decay=0.01)),
    (torch.optim.Adagrad, dict(lr=0.1, lr_decay=0.1, initial_accumulator_value=0.2,
                               weight_decay=0.01)),
])
def test_vectorized_step_equals_torch_optimizer(optimizer, settings):
    """One member, random gradients: the vectorized update equals torch's to ~1e-6."""
    gen = torch.Generator().manual_seed(0)
    param = nn.Parameter(torch.randn(30, generator=gen))
    reference = optimizer([param], **settings)
    flat = param.detach().clone()[None].requires_grad_(True)
    group = {k: v for k, v in reference.param_groups[0].items() if k != "params"}
    group.setdefault("decoupled_weight_decay", optimizer is torch.optim.AdamW)
    vectorized = _optim._CLASSES[optimizer]([group], flat)
    for _ in range(5):
        grad = torch.randn(30, generator=gen)
        param.grad = grad.clone()
        reference.step()
        vectorized.step(flat, grad[None].clone())
    torch.testing.assert_close(flat.detach()[0], param.detach(), rtol=1e-6, atol=1e-6)
    copy = nn.Parameter(param.detach().clone())
    loaded = optimizer([copy], **settings)
    holder = nn.Module()
    holder.weight = copy
    vectorized.load_into(0, loaded, FlatStack([holder]))
    _close(reference.state_dict()["state"], loaded.state_dict()["state"], "state")


def test_sample_weight_and_class_weight():
    X, y = _data()
    rs = np.random.RandomState(1)
    weights = [rs.rand(180), None, rs.randint(0, 3, 150).astype(float)]

    def nets():
        return [NeuralNetClassifier(lr=0.1, max_epochs=2, batch_size=32, verbose=0,
                                    random_state=i, hidden_units=6,
                                    class_weight="balanced" if i == 1 else None)
                for i in range(3)]

    _only_fused(run_both(nets, [(X, y), (X, y), (X[:150], y[:150])], weights)[2], 3)


def test_no_train_split_and_float_valid_split():
    X, y = _data()

    def nets():
        return [NeuralNetClassifier(lr=0.1, max_epochs=2, train_split=split, verbose=0,
                                    random_state=0, hidden_units=6)
                for split in (ValidSplit(0.3, stratified=True), ValidSplit(0.3, stratified=True))]

    _only_fused(run_both(nets, [(X, y)] * 2)[2], 2)

    def no_split():
        return [NeuralNetClassifier(lr=lr, max_epochs=2, train_split=split, verbose=0,
                                    random_state=0, hidden_units=6)
                for lr, split in [(0.1, None), (0.2, None), (0.3, False)]]

    seq, fused, reports = run_both(no_split, [(X, y)] * 3)
    _only_fused(reports, 3)
    assert "valid_loss" not in fused[0].history_[-1]


def test_early_stopping_differing_epochs_and_load_best():
    X, y = _data(n=240)

    def nets():
        out = []
        for i, (lr, patience) in enumerate([(0.05, 1), (0.2, 1), (0.1, 2), (0.02, 50)]):
            out.append(NeuralNetClassifier(
                lr=lr, max_epochs=12 if i < 3 else 4, batch_size=32, verbose=0,
                random_state=0, hidden_units=6, optimizer=torch.optim.Adam,
                callbacks=[EarlyStopping(patience=patience, load_best=True)]))
        return out

    seq, fused, reports = run_both(nets, [(X, y)] * 4)
    _only_fused(reports, 4)
    lengths = [len(n.history_) for n in fused]
    assert lengths == [8, 3, 9, 4], lengths  # stopped at different epochs; max_epochs=4
    assert all("stop_reason" in n.history_[-1] for n in fused[:3])
    # load_best: the weights are those of the best epoch, not the last one
    best = fused[0].callbacks_[-1][1].best_model_weights_
    _close(dict(best), dict(fused[0].module_.state_dict()), "best weights")


def test_epoch_scoring_on_train_and_user_scoring():
    X, y = _data()

    def nets():
        return [NeuralNetClassifier(lr=lr, max_epochs=2, verbose=0, random_state=0,
                                    hidden_units=6, callbacks=[
                                        EpochScoring("accuracy", lower_is_better=False,
                                                     on_train=True, name="train_acc"),
                                        EpochScoring("neg_log_loss", name="nll",
                                                     use_caching=False)])
                for lr in (0.1, 0.3)]

    seq, fused, reports = run_both(nets, [(X, y)] * 2)
    _only_fused(reports, 2)
    assert "train_acc" in fused[0].history_[-1] and "nll" in fused[0].history_[-1]


def test_memory_budget_chunks_give_the_same_results():
    X, y = _data()

    def nets():
        return [NeuralNetClassifier(lr=0.05 * (i + 1), max_epochs=2, verbose=0,
                                    random_state=i, hidden_units=6) for i in range(5)]

    seq, fused, reports = run_both(nets, [(X, y)] * 5, budget=1)
    report = _only_fused(reports, 5)
    assert report.chunks == [[0], [1], [2], [3], [4]]
    seq, fused, reports = run_both(nets, [(X, y)] * 5, budget=None)
    assert _only_fused(reports, 5).chunks == [[0, 1, 2, 3, 4]]


def test_partial_fit_continues_from_fused_optimizer_state():
    X, y = _data()

    def nets():
        return [NeuralNetClassifier(lr=0.01, max_epochs=2, verbose=0, random_state=i,
                                    hidden_units=6, optimizer=torch.optim.Adam)
                for i in range(2)]

    seq, fused, _ = run_both(nets, [(X, y)] * 2)
    for s, f in zip(seq, fused):
        s.partial_fit(X, y)
        f.partial_fit(X, y)
        assert_same_fit(s, f, X)


class _Shifted(nn.Module):
    """Not traceable by fx (Python control flow on a shape): the vmap path."""

    def __init__(self, n_in=6, n_out=3):
        super().__init__()
        self.lin = nn.Linear(n_in, n_out)
        self.register_buffer("shift", torch.linspace(-1, 1, n_in))

    def forward(self, x):
        if x.shape[0] > 0:
            x = x + self.shift
        return torch.softmax(self.lin(x), dim=-1)


def test_vmap_path_for_other_modules():
    X, y = _data()

    def nets():
        return [NeuralNetClassifier(_Shifted, lr=lr, max_epochs=2, verbose=0, random_state=0)
                for lr in (0.1, 0.2)]

    report = _only_fused(run_both(nets, [(X, y)] * 2)[2], 2)
    assert report.forward == "vmap"


class _ItemModule(nn.Module):
    """vmap cannot run ``.item()``: falls back."""

    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(6, 3)

    def forward(self, x):
        scale = float(x.abs().max().item()) + 1.0
        return torch.softmax(self.lin(x / scale), dim=-1)


class _Noop(Callback):
    pass


@pytest.mark.parametrize("make, needle", [
    (lambda lr: NeuralNetClassifier(optimizer=torch.optim.LBFGS, lr=lr, max_epochs=1,
                                    verbose=0), "LBFGS"),
    (lambda lr: NeuralNetClassifier(_ItemModule, lr=lr, max_epochs=1, verbose=0),
     "stacked forward"),
    (lambda lr: NeuralNetClassifier(lr=lr, max_epochs=1, verbose=0, callbacks=[_Noop()]),
     "callback"),
    (lambda lr: NeuralNetClassifier(
        nn.Sequential(nn.Linear(6, 4), nn.BatchNorm1d(4), nn.Linear(4, 3), nn.Softmax(-1)),
        lr=lr, max_epochs=1, verbose=0), "BatchNorm1d"),
    (lambda lr: NeuralNetClassifier(lr=lr, max_epochs=1, verbose=0,
                                    iterator_train__shuffle=False), "iterator"),
    (lambda lr: NeuralNetClassifier(lr=lr, max_epochs=1, verbose=0, history=History()),
     "history object"),
])
def test_unfusable_members_fit_normally_with_a_reason(make, needle):
    X, y = _data()
    nets = [make(lr) for lr in (0.1, 0.2)]
    reports = fit_members([Member(net, X, y) for net in nets])
    assert len(reports) == 1 and not reports[0].fused, reports
    assert needle in reports[0].reason
    assert reports[0].members == [0, 1] and not reports[0].errors
    assert all(len(net.history_) == 1 and net.module_ is not None for net in nets)


def test_diverging_member_is_refit_alone_and_others_stay_fused():
    X, y = _data()
    yr = (X[:, 0] * 100).astype("float32")

    def nets():
        return [NeuralNetRegressor(lr=lr, max_epochs=3, verbose=0, random_state=0,
                                   hidden_units=5, on_nan=on_nan)
                for lr, on_nan in [(1e-4, "raise"), (10.0, "raise"), (10.0, "stop"),
                                   (1e-3, "raise")]]

    fused = nets()
    with pytest.warns(Warning):
        reports = fit_members([Member(net, X, yr) for net in fused])
    by_fused = {r.fused: r for r in reports}
    assert by_fused[True].members == [0, 3]
    assert by_fused[False].members == [1, 2] and "NaN" in by_fused[False].reason
    assert type(by_fused[False].errors[1]).__name__ == "TrainingDivergedError"
    assert "diverged" in fused[2].history_[-1]["stop_reason"]
    seq = nets()
    for i in (0, 3):
        seq[i].fit(X, yr)
        assert_same_fit(seq[i], fused[i], X)


def test_dropout_members_draw_their_own_masks():
    """Dropout masks cannot equal the sequential ones (other draws); each member draws
    its own from a generator of its seed, so equal members train equal models, as
    their sequential fits would, and the losses agree with sequential fits statistically."""
    X, y = _data(n=300)

    def nets(seeds):
        return [NeuralNetClassifier(lr=0.1, max_epochs=4, verbose=0, random_state=seed,
                                    hidden_units=32, dropout=0.5, train_split=None)
                for seed in seeds]

    fused = nets([0, 0, 1, 2, 3, 4, 5])
    reports = fit_members([Member(net, X, y) for net in fused])
    assert _only_fused(reports, 7).forward == "layers"
    weights = [n.module_.sequential[0].weight.detach() for n in fused]
    assert torch.equal(weights[0], weights[1])  # same seed: same init, same masks
    assert not torch.equal(weights[0], weights[2])
    # The sequential fits (same inits, their own masks) end near the fused members: all
    # seeded, so this is deterministic.
    losses = [n.history_[-1]["train_loss"] for n in fused[1:]]
    seq_losses = [n.fit(X, y).history_[-1]["train_loss"] for n in nets(range(6))]
    spread = np.std(losses) + np.std(seq_losses)
    assert abs(np.mean(losses) - np.mean(seq_losses)) < 0.05 * np.mean(seq_losses), (
        losses, seq_losses)
    assert abs(np.mean(losses) - np.mean(seq_losses)) < 2 * spread + 1e-3, (
        losses, seq_losses)


def test_members_alone_or_with_errors_are_reported():
    X, y = _data()
    nets = [NeuralNetClassifier(lr=0.1, max_epochs=1, verbose=0, random_state=0),
            NeuralNetClassifier(lr=-1.0, max_epochs=1, verbose=0)]
    reports = fit_members([Member(net, X, y) for net in nets])
    assert all(isinstance(r, GroupReport) for r in reports)
    assert sorted(i for r in reports for i in r.members) == [0, 1]
    failed = next(r for r in reports if 1 in r.members)
    assert isinstance(failed.errors[1], ValueError) and not failed.fused
    assert nets[0].history_[-1]["epoch"] == 1


def test_string_labels_single_logit_and_precision_64():
    X, y = _data()
    labels = np.where(X[:, 0] > 0, "yes", "no")

    def logit():
        return [NeuralNetClassifier(criterion=nn.BCEWithLogitsLoss, lr=lr, max_epochs=2,
                                    verbose=0, random_state=0, hidden_units=5)
                for lr in (0.1, 0.3)]

    seq, fused, reports = run_both(logit, [(X, labels)] * 2)
    _only_fused(reports, 2)
    assert fused[0].predict(X[:3]).dtype.kind == "U"

    def double():
        return [NeuralNetRegressor(lr=lr, max_epochs=2, verbose=0, random_state=0,
                                   hidden_units=5, precision="64") for lr in (0.03, 0.02)]

    yr = X[:, 1].astype("float64")
    seq, fused, reports = run_both(double, [(X.astype("float64"), yr)] * 2)
    _only_fused(reports, 2)
    assert fused[0].module_.sequential[0].weight.dtype == torch.float64


def test_zero_epochs_shared_module_instance_and_failures_inside_fused_training(monkeypatch):
    X, y = _data()

    def zero():
        return [NeuralNetClassifier(lr=lr, max_epochs=0, verbose=0, random_state=0,
                                    hidden_units=4) for lr in (0.1, 0.2)]

    seq, fused, reports = run_both(zero, [(X, y)] * 2)
    assert fused[0].history_ == [] and _only_fused(reports, 2)

    shared = nn.Sequential(nn.Linear(6, 3), nn.Softmax(dim=-1))
    nets = [NeuralNetClassifier(shared, warm_start=True, lr=lr, max_epochs=1, verbose=0)
            for lr in (0.1, 0.2)]
    reports = fit_members([Member(net, X, y) for net in nets])
    assert not reports[0].fused and "share parameters" in reports[0].reason

    from sktorch.model_selection._fused import _loop

    def broken(self, *args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(_loop.FusedRun, "_valid_pass", broken)
    nets = [NeuralNetClassifier(lr=lr, max_epochs=2, verbose=0, random_state=0,
                                hidden_units=4) for lr in (0.1, 0.2)]
    reports = fit_members([Member(net, X, y) for net in nets])
    assert [r.fused for r in reports] == [False] and "boom" in reports[0].reason
    monkeypatch.undo()
    for net, lr in zip(nets, (0.1, 0.2)):
        ref = NeuralNetClassifier(lr=lr, max_epochs=2, verbose=0, random_state=0,
                                  hidden_units=4).fit(X, y)
        assert_same_fit(ref, net, X)


def test_one_batch_per_epoch_with_unequal_folds():
    X, y = _data()

    def nets():
        return [NeuralNetClassifier(lr=0.2, max_epochs=3, verbose=0, random_state=i,
                                    hidden_units=4, batch_size=size)
                for i, size in enumerate([-1, -1, -1])]

    seq, fused, reports = run_both(nets, [(X, y), (X[:120], y[:120]), (X[:150], y[:150])])
    _only_fused(reports, 3)
    assert [len(n.history_[-1]["batches"]) for n in fused] == [2, 2, 2]  # train + valid


def test_member_whose_callback_raises_is_refit_alone():
    X, yr = _data()[0], _data()[0][:, 0]

    def nets():
        return [NeuralNetRegressor(lr=0.01, max_epochs=2, verbose=0, random_state=0,
                                   hidden_units=4, callbacks=[EarlyStopping(monitor=monitor)])
                for monitor in ("valid_loss", "valid_acc")]  # a regressor has no valid_acc

    fused = nets()
    reports = fit_members([Member(net, X, yr) for net in fused])
    failed = next(r for r in reports if not r.fused)
    assert failed.members == [1] and "callback raised" in failed.reason
    assert "valid_acc" in str(failed.errors[1])
    assert next(r for r in reports if r.fused).members == [0]


def test_members_sharing_X_convert_it_once(monkeypatch):
    X, y = _data()
    X2, y2 = X[:150].copy(), y[:150].copy()
    calls = []
    original = NeuralNetClassifier.get_dataset

    def counting(self, X, y=None):
        calls.append(self)
        return original(self, X, y)

    monkeypatch.setattr(NeuralNetClassifier, "get_dataset", counting)
    nets = [NeuralNetClassifier(lr=lr, max_epochs=1, verbose=0, random_state=0, hidden_units=4)
            for lr in (0.1, 0.2, 0.3, 0.4)]
    reports = fit_members([Member(n, *data) for n, data in
                           zip(nets, [(X, y), (X, y), (X2, y2), (X2, y2)])])
    _only_fused(reports, 4)
    assert len([net for net in calls if any(net is n for n in nets)]) == 2  # one per X


def test_canary_catches_a_set_up_the_fused_preparation_does_not_mirror(monkeypatch):
    """If fit_loop's set-up changes (here: it re-initializes the weights), fusing stops."""
    X, y = _data()
    original = NeuralNetClassifier.fit_loop

    def changed(self, X, y=None, epochs=None, sample_weight=None, **fit_params):
        with torch.no_grad():
            for param in self.module_.parameters():
                param.mul_(0.5)
        return original(self, X, y, epochs=epochs, sample_weight=sample_weight, **fit_params)

    monkeypatch.setattr(NeuralNetClassifier, "fit_loop", changed)
    nets = [NeuralNetClassifier(MLPModule, module__input_units=6, module__output_units=3,
                                module__output_nonlin=nn.Softmax(dim=-1), lr=lr, max_epochs=1,
                                verbose=0, random_state=0) for lr in (0.1, 0.2)]
    reports = fit_members([Member(n, X, y) for n in nets])
    assert [r.fused for r in reports] == [False] and "initial module" in reports[0].reason
