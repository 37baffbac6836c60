"""skorch parity of the training callbacks and the train step (parity review, items 4-7, 12, 13f).

- ParamMapper/Freezer/Unfreezer/Initializer: a callable ``at(net)``, ``schedule(net)``
  returning the function to apply, and matching over ``net.get_all_learnable_params()``
  (extra modules and criteria with parameters), as skorch documents them.
- ``on_grad_computed`` gets every learnable parameter of the net and ``batch=``, so
  ``GradientNormClipping`` clips them all.
- ``get_train_step_accumulator``: the recorded ``train_loss`` with LBFGS is the loss of
  the first closure evaluation (the loss before the step), as in skorch.
"""

from pathlib import Path

import numpy as np
import pytest
import torch
from sklearn.base import clone
from torch import nn

from sktorch import NeuralNetClassifier, NeuralNetRegressor
from sktorch.callbacks import (
    Callback,
    Freezer,
    GradientNormClipping,
    Initializer,
    ParamMapper,
    Unfreezer,
)
from sktorch.utils import FirstStepAccumulator, freeze_parameter, noop, unfreeze_parameter

X = np.random.RandomState(0).randn(200, 4).astype("float32")
y = (X[:, 0] > 0).astype("int64")


def softmax_module():
    return nn.Sequential(nn.Linear(4, 2), nn.Softmax(-1))


class FirstLayerChanged(Callback):
    """Records per epoch whether the first layer's weight changed during the epoch."""

    def on_epoch_begin(self, net, **kwargs):
        self.start = net.module_[0].weight.detach().clone()

    def on_epoch_end(self, net, **kwargs):
        net.history.record("changed", not torch.equal(self.start, net.module_[0].weight))


def fit_with(callback, max_epochs=4):
    net = NeuralNetClassifier(softmax_module, lr=0.1, max_epochs=max_epochs, verbose=0,
                              random_state=0, callbacks=[callback, FirstLayerChanged()])
    return net.fit(X, y)


# ------------------------------------------------------------ item 4: callable at, schedule
def test_freezer_with_a_callable_at_freezes_once_it_returns_true():
    seen = []

    def at(net):
        seen.append(len(net.history))
        return len(net.history) >= 2

    net = fit_with(Freezer("0.weight", at=at))
    assert net.history[:, "changed"] == [True, False, False, False]
    assert seen == [1, 2, 3, 4]  # called with the net at the start of each epoch
    assert not net.module_[0].weight.requires_grad


def test_unfreezer_with_a_callable_at():
    net = NeuralNetClassifier(
        softmax_module, lr=0.1, max_epochs=4, verbose=0, random_state=0,
        callbacks=[Freezer("0.weight"), Unfreezer("0.weight", at=lambda net: len(net.history) == 3),
                   FirstLayerChanged()]).fit(X, y)
    assert net.history[:, "changed"] == [False, False, True, True]


def test_param_mapper_schedule_returns_the_function_to_apply():
    def schedule(net):
        return freeze_parameter if len(net.history) % 2 == 0 else unfreeze_parameter

    net = fit_with(ParamMapper("0.weight", schedule=schedule))
    assert net.history[:, "changed"] == [True, False, True, False]


def test_schedule_result_replaces_fn_and_noop_does_nothing():
    calls = []
    mapper = ParamMapper("0.bias", fn=lambda p: calls.append("fn"),
                         schedule=lambda net: (lambda p: calls.append(len(net.history)))
                         if len(net.history) == 2 else noop)
    fit_with(mapper, max_epochs=3)
    assert calls == [2]  # the returned function, at epoch 2 only; fn never


def test_schedule_returning_a_bool_applies_fn():
    calls = []
    mapper = ParamMapper("0.bias", fn=lambda p: calls.append(tuple(p.shape)),
                         schedule=lambda net: len(net.history) != 2)
    fit_with(mapper, max_epochs=3)
    assert calls == [(2,), (2,)]


# ---------------------------------------------------- item 5: every learnable parameter
class TempNLL(nn.Module):
    """NLL of temperature-scaled log-probabilities: a criterion with a parameter."""

    def __init__(self):
        super().__init__()
        self.t = nn.Parameter(torch.tensor(1.0))

    def forward(self, p, y):
        return nn.functional.nll_loss(torch.log(p + 1e-7) * self.t, y)


class TwoModules(NeuralNetClassifier):
    def initialize_module(self):
        super().initialize_module()
        self.module2_ = nn.Linear(4, 1)
        return self

    def get_loss(self, y_pred, y_true, X=None, training=False):
        loss = super().get_loss(y_pred, y_true, X=X, training=training)
        return loss + self.module2_(X).pow(2).mean()


def test_freezer_matches_the_parameters_of_extra_modules():
    net = TwoModules(softmax_module, lr=0.1, max_epochs=2, verbose=0, random_state=0,
                     callbacks=[Freezer("bias")]).initialize()
    bias2, weight2 = net.module2_.bias.detach().clone(), net.module2_.weight.detach().clone()
    bias1 = net.module_[0].bias.detach().clone()
    net.partial_fit(X, y)
    assert torch.equal(net.module2_.bias, bias2)  # 'bias' is module2_'s own name for it
    assert not net.module2_.bias.requires_grad
    assert not torch.equal(net.module2_.weight, weight2)
    assert not torch.equal(net.module_[0].bias, bias1)  # '0.bias' does not match 'bias'


def test_initializer_reaches_a_criterion_parameter():
    net = NeuralNetClassifier(softmax_module, criterion=TempNLL, lr=0.0, max_epochs=1,
                              verbose=0, callbacks=[Initializer("t", fn=nn.init.zeros_)])
    net.fit(X, y)
    assert net.criterion_.t.item() == 0.0
    assert net.history[0, "train_loss"] == 0.0  # the zeroed temperature was used


# ---------------------------------------------------------------- item 12: Initializer(at=)
def test_initializer_at_a_later_epoch():
    biases = []

    class Record(Callback):
        def on_epoch_end(self, net, **kwargs):
            biases.append(net.module_[0].bias.detach().clone())

    init = Initializer("0.bias", fn=nn.init.ones_, at=2)
    net = NeuralNetClassifier(softmax_module, lr=0.0, max_epochs=3, verbose=0, random_state=0,
                              callbacks=[init, Record()]).fit(X, y)
    assert not torch.equal(biases[0], torch.ones(2))  # epoch 1: untouched
    assert torch.equal(biases[1], torch.ones(2)) and torch.equal(biases[2], torch.ones(2))
    assert clone(init).get_params() == init.get_params()
    assert init.get_params()["at"] == 2 and Initializer("a").at == 1
    calls = []
    Initializer("0.bias", fn=lambda p: calls.append(len(calls)),
                at=lambda net: len(net.history) > 1).on_epoch_begin(net)
    assert calls == [0]


# ------------------------------------------------------- item 7: on_grad_computed arguments
class Spy(Callback):
    def initialize(self):
        self.names_, self.kwargs_ = [], []
        return self

    def on_grad_computed(self, net, named_parameters, **kwargs):
        self.names_.append([name for name, _ in named_parameters])
        self.kwargs_.append(kwargs)


class GradNorm(Callback):
    """The total gradient norm over every learnable parameter, after clipping."""

    def on_grad_computed(self, net, named_parameters, **kwargs):
        grads = [p.grad for _, p in net.get_all_learnable_params() if p.grad is not None]
        net.history.record_batch("grad_norm", float(torch.norm(torch.stack(
            [g.norm() for g in grads]))))


def test_on_grad_computed_gets_every_learnable_parameter_and_the_batch():
    first, second = Spy(), Spy()
    net = TwoModules(softmax_module, criterion=TempNLL, max_epochs=1, batch_size=50,
                     train_split=None, verbose=0, iterator_train__shuffle=False,
                     callbacks=[("a", first), ("b", second)]).fit(X, y)
    expected = ["0.weight", "0.bias", "weight", "bias", "t"]
    assert sorted(first.names_[0]) == sorted(expected)
    assert first.names_ == second.names_  # each callback can iterate the parameters
    assert len(first.kwargs_) == 4
    kwargs = first.kwargs_[0]
    assert kwargs["training"] is True
    Xb, yb = kwargs["batch"][0], kwargs["batch"][1]
    assert torch.equal(Xb, torch.from_numpy(X[:50])) and torch.equal(yb, torch.from_numpy(y[:50]))
    assert kwargs["X"] is Xb and kwargs["y"] is yb
    assert net.history[-1, "train_loss"] > 0


def test_gradient_norm_clipping_clips_a_criterion_parameter_too():
    net = NeuralNetClassifier(softmax_module, criterion=TempNLL, lr=0.1, max_epochs=1,
                              batch_size=200, train_split=None, verbose=0, random_state=0,
                              callbacks=[GradientNormClipping(1e-4), GradNorm()]).initialize()
    t0 = net.criterion_.t.item()
    net.partial_fit(X, y)
    assert net.history[-1, "batches", 0, "grad_norm"] <= 1e-4 * (1 + 1e-4)
    assert abs(net.criterion_.t.item() - t0) <= 0.1 * 1e-4 * (1 + 1e-4)  # one SGD step


# ------------------------------------------------- item 6: the train step's accumulator
class LossCalls(NeuralNetClassifier):
    def get_loss(self, *args, **kwargs):
        loss = super().get_loss(*args, **kwargs)
        if kwargs.get("training"):
            self.calls_.append(loss.item())
        return loss


def lbfgs_net(cls=LossCalls, **kwargs):
    net = cls(softmax_module, optimizer=torch.optim.LBFGS, lr=0.5, max_epochs=1,
              batch_size=200, train_split=None, verbose=0, random_state=0, **kwargs)
    net.calls_ = []
    return net


def test_lbfgs_records_the_first_closure_loss():
    net = lbfgs_net().fit(X, y)
    assert len(net.calls_) > 2 and net.calls_[-1] < net.calls_[0] - 0.1
    assert net.history[-1, "train_loss"] == pytest.approx(net.calls_[0], rel=1e-6)
    assert isinstance(net.get_train_step_accumulator(), FirstStepAccumulator)


class LastStepAccumulator:
    def __init__(self):
        self.n_stored = 0

    def store_step(self, step):
        self.step, self.n_stored = step, self.n_stored + 1

    def get_step(self):
        return self.step


def test_a_custom_train_step_accumulator_decides_the_recorded_step():
    made = []

    class LastLoss(LossCalls):
        def get_train_step_accumulator(self):
            made.append(LastStepAccumulator())
            return made[-1]

    net = lbfgs_net(LastLoss).fit(X, y)
    assert net.history[-1, "train_loss"] == pytest.approx(net.calls_[-1], rel=1e-6)
    assert len(made) == 1 and made[0].n_stored == len(net.calls_)
    made.clear()
    net = LastLoss(softmax_module, lr=0.1, max_epochs=2, batch_size=50, train_split=None,
                   verbose=0, random_state=0)
    net.calls_ = []
    net.fit(X, y)  # an optimizer without closure: one accumulator per batch, one step each
    assert [acc.n_stored for acc in made] == [1] * 8
    assert net.history[:, "batches", :, "train_loss"][0] == pytest.approx(net.calls_[:4])


def test_sgd_train_loss_is_unchanged_by_the_accumulator():
    net = LossCalls(softmax_module, lr=0.1, max_epochs=1, batch_size=50, train_split=None,
                    verbose=0, random_state=0)
    net.calls_ = []
    net.fit(X, y)
    assert np.mean(net.calls_) == pytest.approx(net.history[-1, "train_loss"], rel=1e-6)


# ------------------------------------------------------------ item 13f: the migration page
def test_migration_page_lists_the_diverged_training_error():
    text = (Path(__file__).parents[1] / "docs" / "MIGRATION.md").read_text()
    row = next(line for line in text.splitlines() if "TrainingDivergedError" in line)
    assert "on_nan='stop'" in row and "NaN" in row
    with pytest.raises(FloatingPointError):  # what the row says a user can catch
        NeuralNetRegressor(nn.Linear(4, 1), lr=1e30, max_epochs=3, verbose=0,
                           train_split=None).fit(X, 1e30 * X[:, :1])
