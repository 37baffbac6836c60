"""Parameter mappers, gradient clipping, schedules, progress bar and trackers."""

import importlib.util
import pickle
import sys
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from sklearn.base import clone
from torch import nn

import sktorch.callbacks.progress
import sktorch.callbacks.tracking
from sktorch import NeuralNetRegressor
from sktorch.callbacks import (
    Callback,
    EpochScoring,
    Freezer,
    GradientNormClipping,
    Initializer,
    InputShapeSetter,
    LRScheduler,
    MlflowLogger,
    ParamMapper,
    ProgressBar,
    TensorBoard,
    Unfreezer,
    WarmRestartLR,
)
from tests.conftest import RegressorModule


@pytest.fixture
def data():
    rng = np.random.RandomState(0)
    X = rng.randn(64, 8).astype(np.float32)
    return X, (3 * X[:, :1]).astype(np.float32)


def make_net(callbacks, **kwargs):
    params = dict(module=RegressorModule, max_epochs=3, lr=0.05, verbose=0, random_state=0)
    params.update(kwargs)
    return NeuralNetRegressor(callbacks=callbacks, **params)


def first_layer(net):
    return net.module_.net[0].weight.detach().clone()


class GradNorms(Callback):
    def initialize(self):
        self.norms_ = []
        return self

    def on_grad_computed(self, net, named_parameters, **kwargs):
        grads = [p.grad for _, p in named_parameters if p.grad is not None]
        self.norms_.append(float(torch.linalg.vector_norm(torch.stack(
            [torch.linalg.vector_norm(g) for g in grads]))))


def test_gradient_norm_clipping_bounds_the_norm(data):
    X, y = data
    unclipped = GradNorms()
    make_net([unclipped], lr=0.0).fit(X, 100 * y)
    clipped = GradNorms()
    make_net([GradientNormClipping(0.5), clipped], lr=0.0).fit(X, 100 * y)
    assert max(unclipped.norms_) > 0.5
    assert max(clipped.norms_) <= 0.5 + 1e-5
    off = GradNorms()
    make_net([GradientNormClipping(None), off], lr=0.0).fit(X, 100 * y)
    assert off.norms_ == unclipped.norms_


def test_freezer_then_unfreezer(data):
    X, y = data
    net = make_net([Freezer("net.0.*")]).initialize()
    start = first_layer(net)
    net.fit(X, y)  # fit re-initializes with the same seed: same start
    assert torch.equal(first_layer(net), start)
    assert not net.module_.net[0].weight.requires_grad
    assert net.module_.net[2].weight.requires_grad
    net = make_net([Freezer(lambda name: name.startswith("net.0")),
                    Unfreezer("net.0.*", at=3)]).fit(X, y)
    assert net.module_.net[0].weight.requires_grad
    assert not torch.equal(first_layer(net), start)  # trained in epoch 3


def test_initializer_and_param_mapper_schedule(data):
    X, y = data
    net = make_net([Initializer("*bias", fn=nn.init.zeros_)], lr=0.0).fit(X, y)
    assert all(float(p.detach().abs().sum()) == 0 for n, p in net.module_.named_parameters()
               if n.endswith("bias"))
    calls = []
    mapper = ParamMapper(["net.2.weight"], fn=lambda p: calls.append(p.shape),
                         schedule=lambda net: len(net.history) % 2 == 0)
    make_net([mapper], max_epochs=4).fit(X, y)
    assert calls == [torch.Size([1, 10])] * 2


def test_param_mappers_clone_round_trip():
    for cb in [Freezer("a*", at=2), Unfreezer(["b"], at=3), Initializer("c", fn=nn.init.ones_),
               ParamMapper("d", fn=nn.init.zeros_, schedule=len),
               LRScheduler("StepLR", step_size=2), InputShapeSetter("n_features")]:
        assert clone(cb).get_params() == cb.get_params()


class InputDimModule(nn.Module):
    def __init__(self, input_dim=1):
        super().__init__()
        self.input_dim = input_dim
        self.lin = nn.Linear(input_dim, 1)

    def forward(self, X):
        return self.lin(X)


def test_input_shape_setter_sizes_and_resizes_the_module(data):
    X, y = data
    sched = LRScheduler("StepLR", step_size=1, gamma=0.5)  # follows the rebuilt optimizer
    net = NeuralNetRegressor(InputDimModule, max_epochs=2, lr=0.1, verbose=0,
                             callbacks=[InputShapeSetter(), sched]).fit(X, y)
    assert net.module_.input_dim == 8 and net.module_.lin.in_features == 8
    assert net.history[:, "event_lr"] == [0.1, 0.05]
    net.fit(X[:, :5], y)
    assert net.module_.lin.in_features == 5
    setter = InputShapeSetter("input_dim", input_dim_fn=lambda X: X.shape[1] - 1)
    net = NeuralNetRegressor(InputDimModule, max_epochs=1, verbose=0, callbacks=[setter])
    with pytest.raises(RuntimeError):  # 7 inputs for 8 features: the fn was used
        net.fit(X, y)


def test_warm_restart_lr_schedule():
    opt = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=1.0)
    sched = WarmRestartLR(opt, min_lr=0.0, max_lr=1.0, base_period=2, period_mult=2)
    lrs = []
    for _ in range(8):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    # periods of 2, then 4 steps; each restarts at max_lr and decays along a cosine
    np.testing.assert_allclose(lrs, [1.0, 0.5, 1.0, 0.85355339, 0.5, 0.14644661, 1.0,
                                     0.96193977], atol=1e-7)
    with pytest.raises(ValueError, match="one per group"):
        WarmRestartLR(opt, max_lr=[0.1, 0.2])


def test_default_policy_is_warm_restart(data):
    X, y = data
    net = make_net([LRScheduler(base_period=2, period_mult=1, max_lr=0.1, min_lr=0.0)],
                   max_epochs=4).fit(X, y)
    np.testing.assert_allclose(net.history[:, "event_lr"], [0.1, 0.05, 0.1, 0.05])


def test_net_with_callbacks_pickles_after_fit(data):
    X, y = data
    net = make_net([LRScheduler("StepLR", step_size=1), ProgressBar()]).fit(X, y)
    loaded = pickle.loads(pickle.dumps(net))
    np.testing.assert_allclose(loaded.predict(X), net.predict(X))
    assert dict(net.callbacks_)["LRScheduler"].lr_scheduler_ is not None  # live one kept
    loaded.partial_fit(X, y)


def test_progress_bar_shows_batches_and_losses(data, capsys):
    X, y = data
    bar = ProgressBar()
    make_net([bar], batch_size=16, max_epochs=2).fit(X, y)
    err = capsys.readouterr().err
    assert "train_loss" in err and "valid_loss" in err
    assert bar.n_batches_ == 5 and bar.pbar_ is None  # 4 training, 1 validation batch
    counted = ProgressBar(batches_per_epoch="count")
    make_net([counted], batch_size=16, max_epochs=2).fit(X, y)
    assert counted.n_batches_ == 5


def test_progress_bar_without_tqdm_says_what_to_install(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(sktorch.callbacks.progress.importlib.util, "find_spec",
                        lambda name, *a: None if name == "tqdm" else real(name, *a))
    with pytest.raises(ImportError, match=r"pip install sktorch\[progress\]"):
        ProgressBar()


class FakeWriter:
    def __init__(self):
        self.scalars, self.closed = [], False

    def add_scalar(self, tag, value, global_step=None):
        self.scalars.append((tag, value, global_step))

    def close(self):
        self.closed = True


def test_tensorboard_logs_each_epoch_to_a_writer(data):
    X, y = data
    writer = FakeWriter()
    scoring = EpochScoring("r2", lower_is_better=False, name="valid_r2")
    net = make_net([scoring, TensorBoard(writer, keys_ignored=["dur"])], max_epochs=2).fit(X, y)
    h = net.history
    assert writer.scalars == [
        ("Loss/train_loss", h[0, "train_loss"], 1), ("Loss/valid_loss", h[0, "valid_loss"], 1),
        ("valid_r2", h[0, "valid_r2"], 1),
        ("Loss/train_loss", h[1, "train_loss"], 2), ("Loss/valid_loss", h[1, "valid_loss"], 2),
        ("valid_r2", h[1, "valid_r2"], 2)]
    assert h[1, "train_loss"] < h[0, "train_loss"]  # the values differ by epoch
    assert writer.closed


@pytest.mark.skipif(importlib.util.find_spec("tensorboard") is not None,
                    reason="tensorboard is installed")
def test_tensorboard_without_package_says_what_to_install():
    with pytest.raises(ImportError, match="pip install tensorboard"):
        TensorBoard("runs/")


@pytest.mark.skipif(importlib.util.find_spec("mlflow") is not None, reason="mlflow installed")
def test_mlflow_without_package_says_what_to_install():
    with pytest.raises(ImportError, match="pip install mlflow"):
        MlflowLogger()


def test_mlflow_logger_with_given_run_and_client(data):
    X, y = data
    logged = []
    client = SimpleNamespace(
        log_metric=lambda run_id, key, value, step=None: logged.append((run_id, key, value, step)),
        log_artifact=lambda run_id, path: logged.append(("artifact", path.rsplit("/", 1)[-1])),
        set_terminated=lambda run_id: logged.append(("terminated", run_id)))
    run = SimpleNamespace(info=SimpleNamespace(run_id="r1"))
    logger = MlflowLogger(run, client, keys_ignored="dur", log_on_batch_end=True)
    net = make_net([logger], max_epochs=1, batch_size=32).fit(X, y)
    row = net.history[0]
    (t1, t2, v1) = row["batches"]  # 51 training rows in batches of 32 and 19, 13 valid rows
    assert logged[:9] == [
        ("r1", "train_loss_batch", t1["train_loss"], 1), ("r1", "train_batch_size_batch", 32, 1),
        ("r1", "train_loss_batch", t2["train_loss"], 2), ("r1", "train_batch_size_batch", 19, 2),
        ("r1", "valid_loss_batch", v1["valid_loss"], 3), ("r1", "valid_batch_size_batch", 13, 3),
        ("r1", "train_loss_epoch", row["train_loss"], 1),
        ("r1", "valid_loss_epoch", row["valid_loss"], 1),
        ("artifact", "params.pt")]
    assert row["train_loss"] == pytest.approx((32 * t1["train_loss"] + 19 * t2["train_loss"]) / 51)
    assert [e for e in logged if e[0] == "artifact"] == [
        ("artifact", "params.pt"), ("artifact", "optimizer.pt"), ("artifact", "criterion.pt"),
        ("artifact", "history.json")]
    assert logged[-1] == ("terminated", "r1")


def test_tracking_modules_import_without_their_packages(data, monkeypatch):
    X, y = data
    for name in ("tensorboard", "mlflow", "torch.utils.tensorboard"):
        monkeypatch.setitem(sys.modules, name, None)  # hidden: import fails, find_spec is None
    with pytest.raises(ImportError):
        import mlflow  # noqa: F401
    # A fresh copy of the module, executed while the packages are hidden: it must not
    # import them at the top, and must say what to install when they are needed.
    spec = importlib.util.spec_from_file_location(
        "_tracking_without_packages", sktorch.callbacks.tracking.__file__)
    tracking = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tracking)
    with pytest.raises(ImportError, match=r"pip install tensorboard"):
        tracking.TensorBoard("runs/")
    with pytest.raises(ImportError, match=r"pip install mlflow.*pass both run and client"):
        tracking.MlflowLogger()
    writer = FakeWriter()  # objects given by the user need neither package
    client = SimpleNamespace(log_metric=lambda *args, **kwargs: None,
                             set_terminated=lambda run_id: None)
    run = SimpleNamespace(info=SimpleNamespace(run_id="r1"))
    make_net([tracking.TensorBoard(writer),
              tracking.MlflowLogger(run, client, create_artifact=False)], max_epochs=1).fit(X, y)
    assert [tag for tag, _, _ in writer.scalars] == ["dur", "Loss/train_loss", "Loss/valid_loss"]
