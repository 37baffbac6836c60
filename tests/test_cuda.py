"""Behaviour on a real CUDA device (marked ``gpu``; skipped where CUDA is not available).

These run on a GPU machine with ``pytest -m gpu tests/test_cuda.py``. For a dry run of the
tests' own logic on a machine without CUDA, ``SKTORCH_TEST_DEVICE=cpu`` runs them on the CPU
(the CPU-vs-device comparisons then compare the CPU with itself).

The exact comparisons use ``precision='64'`` and no shuffling, so a fit on the device and the
same fit on the CPU see the same batches and differ only by floating-point round-off.
"""

from __future__ import annotations

import os
import pickle

import numpy as np
import pytest
import torch
from sklearn.datasets import load_iris, make_classification, make_regression

from sktorch import NeuralNetClassifier, NeuralNetRegressor
from sktorch.callbacks import Checkpoint, EarlyStopping, LRScheduler
from sktorch.dataset import ValidSplit
from sktorch.toy import MLPModule

DEVICE = os.environ.get("SKTORCH_TEST_DEVICE", "cuda")
pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(DEVICE == "cuda" and not torch.cuda.is_available(),
                       reason="needs a CUDA device"),
]


def _data(n=300, seed=0):
    X, y = make_classification(n, 12, n_informative=6, n_classes=3, random_state=seed)
    return X.astype(np.float32), y.astype(np.int64)


def _clf(device, **kwargs):
    params = dict(module=MLPModule, module__input_units=12, module__output_units=3,
                  module__hidden_units=16, criterion=torch.nn.CrossEntropyLoss, max_epochs=6,
                  lr=0.1, batch_size=64, train_split=None, verbose=0, random_state=0,
                  iterator_train__shuffle=False, precision="64")
    params.update(kwargs)
    if params["iterator_train__shuffle"] is None:  # the engine's own shuffling (fusable)
        del params["iterator_train__shuffle"]
    return NeuralNetClassifier(device=device, **params)


def _device_of(net):
    return next(net.module_.parameters()).device.type


def test_fit_on_the_device_matches_the_cpu():
    X, y = _data()
    cpu, dev = _clf("cpu").fit(X, y), _clf(DEVICE).fit(X, y)
    assert _device_of(dev) == torch.device(DEVICE).type
    proba = dev.predict_proba(X)
    assert isinstance(proba, np.ndarray)
    np.testing.assert_allclose(proba, cpu.predict_proba(X), atol=1e-8)
    np.testing.assert_allclose(dev.history[:, "train_loss"], cpu.history[:, "train_loss"],
                               atol=1e-10)


def test_sample_weight_on_the_device_matches_the_cpu():
    X, y = _data()
    w = np.random.default_rng(0).uniform(0, 2, len(y))
    cpu = _clf("cpu").fit(X, y, sample_weight=w)
    dev = _clf(DEVICE).fit(X, y, sample_weight=w)
    np.testing.assert_allclose(dev.history[:, "train_loss"], cpu.history[:, "train_loss"],
                               atol=1e-10)
    unweighted = _clf("cpu").fit(X, y)
    assert abs(dev.history[-1, "train_loss"] - unweighted.history[-1, "train_loss"]) > 1e-4


def test_random_state_makes_shuffled_device_fits_repeat():
    X, y = _data()
    a = _clf(DEVICE, iterator_train__shuffle=True, precision="32").fit(X, y)
    b = _clf(DEVICE, iterator_train__shuffle=True, precision="32").fit(X, y)
    np.testing.assert_array_equal(a.predict_proba(X), b.predict_proba(X))


@pytest.mark.parametrize("precision", ["32", "bf16", "16-mixed"])
def test_reduced_precisions_train_on_the_device(precision):
    X, y = _data(600)
    net = _clf(DEVICE, precision=precision, max_epochs=15, iterator_train__shuffle=True)
    net.fit(X, y)
    losses = net.history[:, "train_loss"]
    assert np.all(np.isfinite(losses)) and losses[-1] < 0.8 * losses[0]
    assert (net.predict(X) == y).mean() > 0.7


def test_built_in_model_on_the_device():
    X, y = load_iris(return_X_y=True)
    labels = np.array(["setosa", "versicolor", "virginica"])[y]
    net = NeuralNetClassifier(device=DEVICE, random_state=0, verbose=0).fit(X, labels)
    assert _device_of(net) == torch.device(DEVICE).type
    assert (net.predict(X) == labels).mean() > 0.9
    Xr, yr = make_regression(400, 8, noise=1.0, random_state=0)
    reg = NeuralNetRegressor(device=DEVICE, random_state=0, verbose=0).fit(Xr, yr)
    pred = reg.predict(Xr)
    assert pred.dtype == np.float64 and reg.score(Xr, yr) > 0.95


def test_device_params_load_on_the_cpu_and_pickles_round_trip(tmp_path):
    X, y = _data()
    dev = _clf(DEVICE).fit(X, y)
    dev.save_params(f_params=tmp_path / "w.pt", f_optimizer=tmp_path / "o.pt")
    cpu = _clf("cpu").initialize()
    cpu.load_params(f_params=tmp_path / "w.pt", f_optimizer=tmp_path / "o.pt")
    np.testing.assert_allclose(cpu.predict_proba(X), dev.predict_proba(X), atol=1e-10)
    state = cpu.optimizer_.state_dict()["state"]
    assert all(t.device.type == "cpu" for s in state.values() for t in s.values()
               if torch.is_tensor(t))
    again = pickle.loads(pickle.dumps(dev))
    assert _device_of(again) == torch.device(DEVICE).type
    np.testing.assert_array_equal(again.predict_proba(X), dev.predict_proba(X))


def test_partial_fit_and_training_callbacks_on_the_device(tmp_path):
    X, y = _data(400)
    cp = Checkpoint(dirname=str(tmp_path), load_best=True, monitor="valid_loss_best")
    net = _clf(DEVICE, train_split=ValidSplit(4), optimizer=torch.optim.SGD,
               optimizer__momentum=0.9,
               max_epochs=12, callbacks=[cp, EarlyStopping(patience=4),
                                         LRScheduler(policy="StepLR", step_size=3)])
    net.fit(X, y)
    best = int(np.argmin(net.history[:, "valid_loss"]))
    reloaded = _clf("cpu").initialize()
    reloaded.load_params(checkpoint=cp)
    np.testing.assert_allclose(reloaded.predict_proba(X), net.predict_proba(X), atol=1e-10)
    assert net.history[best, "event_cp"] is True
    n_epochs, before = len(net.history), net.history[-1, "train_loss"]
    net.partial_fit(X, y)
    assert len(net.history) > n_epochs and np.isfinite(net.history[-1, "train_loss"])
    assert net.history[-1, "train_loss"] != before


def test_multioutput_regressor_on_the_device_matches_the_cpu():
    X, Y = make_regression(200, 6, n_targets=3, noise=0.5, random_state=0)
    X, Y = X.astype(np.float32), (Y / 100).astype(np.float32)
    kwargs = dict(module=MLPModule, module__input_units=6, module__output_units=3,
                  max_epochs=5, lr=0.05, batch_size=50, train_split=None, verbose=0,
                  random_state=0, iterator_train__shuffle=False, precision="64")
    cpu = NeuralNetRegressor(device="cpu", **kwargs).fit(X, Y)
    dev = NeuralNetRegressor(device=DEVICE, **kwargs).fit(X, Y)
    np.testing.assert_allclose(dev.predict(X), cpu.predict(X), atol=1e-8)


def test_fused_search_on_the_device_equals_unfused():
    from sktorch.model_selection import GridSearchCV

    X, y = _data(300)
    grid = {"lr": [0.05, 0.1, 0.2], "optimizer__momentum": [0.0, 0.9],
            "module__dropout": [0.0]}
    net = _clf(DEVICE, optimizer=torch.optim.SGD, iterator_train__shuffle=None)
    fused = GridSearchCV(net, grid, cv=3, fuse=True).fit(X, y)
    plain = GridSearchCV(net, grid, cv=3, fuse=False).fit(X, y)
    assert not fused.fuse_report_.fallback_reasons(), fused.fuse_report_.summary()
    for key in ("split0_test_score", "split1_test_score", "split2_test_score"):
        np.testing.assert_allclose(fused.cv_results_[key], plain.cv_results_[key], atol=1e-9)
    assert _device_of(fused.best_estimator_) == torch.device(DEVICE).type


def test_fused_built_in_and_continued_halving_on_the_device():
    from sktorch.model_selection import GridSearchCV, HalvingGridSearchCV

    X, y = load_iris(return_X_y=True)
    grid = {"module__hidden_units": [16, 32], "module__dropout": [0.0, 0.1]}
    net = NeuralNetClassifier(device=DEVICE, random_state=0, verbose=0)
    search = GridSearchCV(net, grid, cv=3, fuse=True).fit(X, y)
    assert search.best_score_ > 0.85
    halving = HalvingGridSearchCV(
        _clf(DEVICE, module__input_units=4, optimizer=torch.optim.Adam, precision="32",
             iterator_train__shuffle=None),
        {"lr": [0.003, 0.01, 0.03, 0.1]}, resource="max_epochs", min_resources=5,
        max_resources=20, factor=2, cv=3, random_state=0, resume=True, fuse=True)
    halving.fit(X.astype(np.float32), y)
    assert halving.best_score_ > 0.85
    assert _device_of(halving.best_estimator_) == torch.device(DEVICE).type


def test_tensors_already_on_the_device_train_as_arrays_do():
    X, y = _data()
    from_arrays = _clf(DEVICE).fit(X, y)
    Xt, yt = torch.from_numpy(X).to(DEVICE), torch.from_numpy(y).to(DEVICE)
    from_tensors = _clf(DEVICE).fit(Xt, yt)
    proba = from_tensors.predict_proba(Xt)
    assert isinstance(proba, np.ndarray)
    np.testing.assert_allclose(proba, from_arrays.predict_proba(X), atol=1e-12)
    np.testing.assert_array_equal(from_tensors.classes_, from_arrays.classes_)


def test_fused_dropout_members_train_the_same_in_any_chunking_on_the_device():
    from sktorch.model_selection import GridSearchCV

    X, y = _data(300)
    grid = {"lr": [0.05, 0.2], "module__dropout": [0.0, 0.2, 0.5]}
    net = _clf(DEVICE, iterator_train__shuffle=None, precision="32")
    one = GridSearchCV(net, grid, cv=3, fuse=True).fit(X, y)
    chunked = GridSearchCV(net, grid, cv=3, fuse=True, fuse_memory_budget=1).fit(X, y)
    assert sum(g.n_chunks for g in chunked.fuse_report_) == 18
    for key in ("split0_test_score", "split1_test_score", "split2_test_score"):
        np.testing.assert_allclose(chunked.cv_results_[key], one.cv_results_[key], atol=1e-6)
    index = one.cv_results_["params"].index({"lr": 0.2, "module__dropout": 0.5})
    losses = [h[:, "train_loss"] for h in one.cv_histories_[index]]  # still learns
    assert all(np.isfinite(loss).all() and loss[-1] < loss[0] for loss in losses)


def test_validation_batches_are_on_the_device():
    from sktorch.callbacks import Callback

    class Devices(Callback):
        def initialize(self):
            self.seen_ = {True: set(), False: set()}
            return self

        def on_batch_begin(self, net, batch=None, training=None, **kwargs):
            self.seen_[training].add(batch[0].device.type)

    X, y = _data()
    record = Devices()
    net = _clf(DEVICE, train_split=ValidSplit(4), callbacks=[record]).fit(X, y)
    assert record.seen_ == {True: {torch.device(DEVICE).type},
                            False: {torch.device(DEVICE).type}}
    assert np.isfinite(net.history[:, "valid_loss"]).all()


def test_random_state_seeds_dropout_on_the_device_and_leaves_its_generator_alone():
    X, y = _data()
    if torch.device(DEVICE).type == "cuda":
        torch.cuda.manual_seed(1)
        state = torch.cuda.get_rng_state()
    a = _clf(DEVICE, module__dropout=0.5, precision="32").fit(X, y)
    if torch.device(DEVICE).type == "cuda":
        assert torch.equal(torch.cuda.get_rng_state(), state)  # nothing global changed
        torch.cuda.manual_seed(2)
    b = _clf(DEVICE, module__dropout=0.5, precision="32").fit(X, y)
    np.testing.assert_array_equal(a.history[:, "train_loss"], b.history[:, "train_loss"])
    np.testing.assert_array_equal(a.predict_proba(X), b.predict_proba(X))
