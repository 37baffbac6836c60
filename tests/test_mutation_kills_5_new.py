"""Tests that kill mutants a sample mutation run found surviving (scoring, the fused
optimizers and stack, the built-in model's recipe and statistics).

Each test names the behaviour a user relies on, and builds everything it uses.
"""

import types

import numpy as np
import pytest
import torch

from sktorch import NeuralNetRegressor
from sktorch.history import History


# ------------------------------------------------------------ _builtin/statistics.py
def test_normalized_sample_weights_summing_to_one_weight_the_standardization():
    rng = np.random.RandomState(0)
    X = rng.randn(40, 2).astype(np.float32)
    X[:20] += 10.0
    y = X.sum(axis=1, keepdims=True)
    weights = np.where(np.arange(40) < 20, 3.0, 1.0)
    weights = weights / weights.sum()  # normalized: they sum to 1
    net = NeuralNetRegressor(max_epochs=1, train_split=None, verbose=0, random_state=0)
    net.fit(X, y, sample_weight=weights)
    mean = (weights[:, None] * X.astype(np.float64)).sum(0)
    std = np.sqrt((weights[:, None] * (X - mean) ** 2).sum(0))
    np.testing.assert_allclose(net.module_.standardize.mean.numpy().ravel(), mean, rtol=1e-5)
    np.testing.assert_allclose(net.module_.standardize.scale.numpy().ravel(), std, rtol=1e-5)
    y_mean = (weights * y[:, 0]).sum()
    np.testing.assert_allclose(float(net.module_.unstandardize.mean.reshape(-1)[0]), y_mean,
                               rtol=1e-5)



def test_float64_targets_of_a_torch_dataset_train_the_builtin_regressor_as_float32_ones():
    from torch.utils.data import TensorDataset

    rng = np.random.RandomState(0)
    X = torch.from_numpy(rng.randn(30, 3).astype(np.float32))
    y64 = torch.from_numpy(rng.randn(30, 1) * 7.3 + 100.1)
    losses = []
    for y in (y64, y64.float()):
        net = NeuralNetRegressor(max_epochs=2, verbose=0, random_state=0, train_split=None)
        net.fit(TensorDataset(X, y), y=None)
        losses.append(net.history[:, "train_loss"])
    assert losses[0] == losses[1]  # the targets take the module's float32 dtype


def test_sparse_features_with_a_small_spread_are_standardized_by_their_own_std():
    import scipy.sparse as sp

    rng = np.random.RandomState(0)
    dense = (rng.rand(40, 3) * np.array([0.1, 0.5, 4.0])).astype(np.float32)
    dense[dense < 0.05] = 0.0
    y = dense.sum(axis=1, keepdims=True)
    net = NeuralNetRegressor(max_epochs=1, train_split=None, verbose=0, random_state=0)
    net.fit(sp.csr_matrix(dense), y)
    np.testing.assert_allclose(net.module_.standardize.mean.numpy().ravel(),
                               dense.astype(np.float64).mean(0), rtol=1e-5)
    np.testing.assert_allclose(net.module_.standardize.scale.numpy().ravel(),
                               dense.astype(np.float64).std(0), rtol=1e-5)


def test_a_plain_neural_net_with_the_builtin_module_leaves_its_outputs_in_raw_units():
    # only the regressor learns standardized targets; a NeuralNet's float y is left alone
    from sktorch import NeuralNet

    X = np.random.RandomState(0).randn(40, 3).astype(np.float32)
    y = (5.0 * X.sum(axis=1, keepdims=True) + 50.0).astype(np.float32)
    net = NeuralNet(module=None, criterion=torch.nn.MSELoss, max_epochs=1, train_split=None,
                    verbose=0, random_state=0).fit(X, y)
    state = net.module_.state_dict()
    assert state["unstandardize.mean"].abs().max() == 0.0
    assert (state["unstandardize.scale"] == 1.0).all()

# ------------------------------------------------------------ callbacks/scoring.py
def test_passthrough_mean_weights_batches_by_weight_even_when_the_weights_sum_below_one():
    from sktorch.callbacks import PassthroughScoring

    net = types.SimpleNamespace(history=History())
    net.history.new_epoch()
    for loss, weight in [(1.0, 0.1), (3.0, 0.3)]:  # equal sizes, total weight 0.4
        net.history.new_batch()
        net.history.record_batch("valid_loss", loss)
        net.history.record_batch("valid_batch_size", 10)
        net.history.record_batch("valid_batch_weight", weight)
    PassthroughScoring("valid_loss").initialize().on_epoch_end(net)
    assert net.history[-1, "valid_loss"] == pytest.approx((1.0 * 0.1 + 3.0 * 0.3) / 0.4)


def test_the_builtin_regressor_with_a_squeezed_output_learns_in_standardized_units():
    rng = np.random.RandomState(0)
    X = rng.randn(40, 3).astype(np.float32)
    y = (1000.0 + 100.0 * X[:, 0]).astype(np.float32)  # 1-D y, far from standard units
    net = NeuralNetRegressor(module__squeeze_output=True, max_epochs=2, train_split=None,
                             verbose=0, random_state=0)
    net.fit(X, y)
    assert net.predict(X).shape == (40,)
    # the loss compares standardized values: of the order of 1, not of 100**2
    assert net.history[0, "train_loss"] < 10.0


# ------------------------------------------------------------ _builtin/recipe.py
def test_set_params_max_epochs_keeps_the_callbacks_state_when_no_plateau_stop_comes_or_goes():
    X = np.random.RandomState(0).randn(40, 3).astype(np.float32)
    y = X.sum(axis=1, keepdims=True)
    net = NeuralNetRegressor(max_epochs=2, verbose=0, random_state=0).fit(X, y)
    valid_loss = dict(net.callbacks_)["valid_loss"]
    best = valid_loss.best_score_
    assert best is not None
    net.set_params(max_epochs=5)  # written before and after: no stop_on_plateau either way
    assert dict(net.callbacks_)["valid_loss"] is valid_loss
    assert valid_loss.best_score_ == best
    assert "stop_on_plateau" not in dict(net.callbacks_)



def test_epoch_scoring_reuses_the_epochs_predictions_by_default():
    from sktorch.callbacks import EpochScoring

    scoring = EpochScoring("r2")
    assert scoring.use_caching is True
    assert scoring.get_params()["use_caching"] is True

# ------------------------------------------------------------ model_selection/_fused/_optim.py
@pytest.mark.parametrize("default_dtype", [torch.float32, torch.float64, torch.float16])
def test_a_fused_members_step_count_is_written_in_torchs_own_dtype(default_dtype):
    from sktorch.model_selection._fused._optim import make_optimizer
    from sktorch.model_selection._fused._stack import FlatStack

    previous = torch.get_default_dtype()
    torch.set_default_dtype(default_dtype)
    try:
        module = torch.nn.Linear(2, 1)
        own = torch.optim.Adam(module.parameters(), lr=0.1)
        module(torch.ones(1, 2)).sum().backward()
        own.step()  # torch's own format for one step
        stack = FlatStack([module])
        vectorized = make_optimizer([own], stack.flat)
        vectorized.step(stack.flat, torch.ones_like(stack.flat))
        written = torch.optim.Adam(module.parameters(), lr=0.1)
        vectorized.load_into(0, written, stack)
        for param in module.parameters():
            assert written.state[param]["step"].dtype == own.state[param]["step"].dtype
            assert float(written.state[param]["step"]) == 1.0
    finally:
        torch.set_default_dtype(previous)


def test_an_optimizer_rebuilt_after_a_module_change_keeps_the_fits_recipe_learning_rate():
    X = np.random.RandomState(0).randn(40, 3).astype(np.float32)
    y = X.sum(axis=1, keepdims=True)
    net = NeuralNetRegressor(max_epochs=1, verbose=0, random_state=0).fit(X, y)
    assert net.optimizer_.param_groups[0]["lr"] == 1e-2  # 40 rows fit in one batch
    net.set_params(module__hidden_units=7)  # a new module, and a new optimizer over it
    assert type(net.optimizer_) is torch.optim.Adam
    assert net.optimizer_.param_groups[0]["lr"] == 1e-2
    assert net.optimizer_.param_groups[0]["weight_decay"] == 3e-3
