"""The built-in model (module=None): its recipe, its statistics, and the rules around them."""

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.datasets import load_breast_cancer, load_wine
from sklearn.model_selection import StratifiedKFold, cross_val_score
from sklearn.neural_network import MLPClassifier

from sktorch import NeuralNetClassifier, NeuralNetRegressor
from sktorch.toy import MLPModule


@pytest.mark.slow
@pytest.mark.parametrize("load", [load_breast_cancer, load_wine])
def test_default_scores_at_least_sklearn_mlp(load):
    X, y = load(return_X_y=True)
    cv = StratifiedKFold(3, shuffle=True, random_state=0)
    ours = cross_val_score(NeuralNetClassifier(verbose=0, random_state=0), X, y, cv=cv).mean()
    theirs = cross_val_score(MLPClassifier(random_state=0, max_iter=200), X, y, cv=cv).mean()
    assert ours >= theirs - 0.01


def test_default_model_trains_with_the_recipe_and_stops_on_a_plateau():
    X, y = load_wine(return_X_y=True)
    net = NeuralNetClassifier(verbose=0, random_state=0).fit(X, y)
    assert isinstance(net.optimizer_, torch.optim.Adam)
    assert net.get_params()["optimizer"] == torch.optim.SGD and net.lr == 0.01
    assert net.max_epochs == 10 and 10 < len(net.history) <= 200
    assert net.history[-1, "batches", 0, "train_batch_size"] == 142  # min(200, rows)


def test_user_module_keeps_skorch_defaults_exactly():
    X = np.random.RandomState(0).randn(60, 4).astype("float32")
    y = np.arange(60) % 2
    net = NeuralNetClassifier(MLPModule, module__input_units=4, verbose=0)
    params = net.get_params()
    assert params["optimizer"] == torch.optim.SGD and params["lr"] == 0.01
    assert params["max_epochs"] == 10 and params["batch_size"] == 128
    net.fit(X, y)
    assert type(net.optimizer_) is torch.optim.SGD
    assert net.optimizer_.param_groups[0]["lr"] == 0.01
    assert len(net.history) == 10
    assert "stop_on_plateau" not in dict(net.callbacks_)


def test_explicit_values_other_than_the_defaults_are_used_as_given():
    X, y = load_wine(return_X_y=True)
    net = NeuralNetClassifier(lr=0.05, max_epochs=3, batch_size=50, verbose=0).fit(X, y)
    assert type(net.optimizer_) is torch.optim.SGD
    assert net.optimizer_.param_groups[0]["lr"] == 0.05
    assert len(net.history) == 3
    assert net.history[-1, "batches", 0, "train_batch_size"] == 50


def test_clone_round_trips_and_refits_the_same():
    X, y = load_wine(return_X_y=True)
    net = NeuralNetClassifier(verbose=0, random_state=0)
    twin = clone(net)
    theirs, ours = twin.get_params(deep=False), net.get_params(deep=False)
    assert repr(theirs.pop("train_split")) == repr(ours.pop("train_split"))
    assert theirs == ours
    np.testing.assert_array_equal(net.fit(X, y).predict_proba(X),
                                  twin.fit(X, y).predict_proba(X))


def test_input_standardization_makes_the_scale_of_x_irrelevant():
    X, y = load_wine(return_X_y=True)
    a = NeuralNetClassifier(verbose=0, random_state=0, max_epochs=5).fit(X, y)
    b = NeuralNetClassifier(verbose=0, random_state=0, max_epochs=5).fit(X * 1000.0, y)
    np.testing.assert_allclose(a.predict_proba(X), b.predict_proba(X * 1000.0), atol=1e-4)
    full = NeuralNetClassifier(verbose=0, max_epochs=1, train_split=None).fit(X, y)
    stats = full.module_.state_dict()  # buffers: saved with the weights
    np.testing.assert_allclose(stats["standardize.mean"].numpy(), X.mean(0), rtol=1e-5)
    np.testing.assert_allclose(stats["standardize.scale"].numpy(), X.std(0), rtol=1e-5)


def test_regressor_learns_standardized_targets_and_predicts_in_their_units():
    rng = np.random.RandomState(0)
    X = rng.randn(300, 3)
    y = 1000.0 + 500.0 * X[:, 0]
    net = NeuralNetRegressor(verbose=0, random_state=0).fit(X, y)
    assert net.score(X, y) > 0.95
    np.testing.assert_allclose(float(net.module_.unstandardize.mean), y[:240].mean(), rtol=0.05)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_regressor_predictions_follow_the_dtype_of_y(dtype):
    X = np.random.RandomState(0).randn(40, 3)
    y = X[:, 0].astype(dtype)
    assert NeuralNetRegressor(max_epochs=2, verbose=0).fit(X, y).predict(X).dtype == dtype
    user = NeuralNetRegressor(torch.nn.Linear, module__in_features=3, module__out_features=1,
                              max_epochs=2, verbose=0)
    assert user.fit(X.astype(np.float32), y).predict(X.astype(np.float32)).dtype == dtype


def test_regressor_integer_y_predicts_float64():
    X = np.random.RandomState(0).randn(40, 3)
    y = (X[:, 0] > 0).astype(int)
    assert NeuralNetRegressor(max_epochs=1, verbose=0).fit(X, y).predict(X).dtype == np.float64


@pytest.mark.parametrize("shape", [(20, 2, 3), (20, 1, 4, 4)])
def test_default_mlp_refuses_nd_x(shape):
    X = np.zeros(shape, dtype=np.float32)
    y = np.arange(20) % 2
    for given in (X, torch.from_numpy(X)):
        with pytest.raises(ValueError, match=r"(?i)flatten X \(e\.g\. X\.reshape\(len\(X\), -1\)\)"
                                             r".*your own module"):
            NeuralNetClassifier(verbose=0).fit(given, y)


@pytest.mark.parametrize("change", [{"hidden_units": 5}, {"module__dropout": 0.2}])
def test_set_params_on_a_fitted_default_net_keeps_the_data_sizes(change):
    X, y = load_wine(return_X_y=True)
    net = NeuralNetClassifier(verbose=0, random_state=0, max_epochs=3).fit(X, y)
    mean = net.module_.standardize.mean.clone()
    net.set_params(**change)
    assert net.module_.sequential[0].in_features == 13
    assert net.module_.sequential[-2].out_features == 3
    if "hidden_units" in change:
        assert net.module_.sequential[0].out_features == 5
    else:
        assert any(isinstance(m, torch.nn.Dropout) for m in net.module_.sequential)
    torch.testing.assert_close(net.module_.standardize.mean, mean)  # statistics kept
    assert net.predict(X).shape == (178,)
    net.partial_fit(X, y)
    assert net.score(X, y) > 0.5


def test_set_params_before_fit_leaves_the_sizes_to_fit():
    X, y = load_wine(return_X_y=True)
    net = NeuralNetClassifier(verbose=0, max_epochs=1).initialize()
    net.set_params(hidden_units=7)
    net.fit(X, y)
    assert net.module_.sequential[0].in_features == 13
    assert net.module_.sequential[0].out_features == 7


def test_statistics_survive_save_params_and_pickle(tmp_path):
    import pickle

    X, y = load_wine(return_X_y=True)
    net = NeuralNetClassifier(verbose=0, random_state=0, max_epochs=3).fit(X, y)
    net.save_params(f_params=tmp_path / "p.pt")
    new = NeuralNetClassifier(verbose=0).initialize_like(net)
    new.load_params(f_params=tmp_path / "p.pt")
    np.testing.assert_allclose(new.predict_proba(X), net.predict_proba(X))
    again = pickle.loads(pickle.dumps(net))
    np.testing.assert_allclose(again.predict_proba(X), net.predict_proba(X))


def _linear_targets(n=200, seed=0):
    rng = np.random.RandomState(seed)
    X = rng.randn(n, 4)
    return X, X @ [1.0, -2.0, 0.5, 0.0] + 0.1 * rng.randn(n)


def test_regressor_loss_is_in_standardized_units_so_the_targets_scale_is_irrelevant():
    """SGD at a user's lr trains the same model on y and on 1000 * y + 5.

    The loss compares standardized predictions with standardized targets: the
    recorded losses are equal and the predictions are the same up to the scale.
    With the loss in target units the second fit's gradients would be 1e6 times
    larger (and diverge).
    """
    X, y = _linear_targets()
    make = lambda: NeuralNetRegressor(lr=0.05, max_epochs=8, verbose=0,  # noqa: E731
                                      random_state=0, precision="64")
    a, b = make().fit(X, y), make().fit(X, 1000.0 * y + 5.0)
    losses_a, losses_b = a.history[:, "train_loss"], b.history[:, "train_loss"]
    np.testing.assert_allclose(losses_b, losses_a, rtol=1e-6)
    np.testing.assert_allclose(b.predict(X), 1000.0 * a.predict(X) + 5.0, rtol=1e-6, atol=1e-6)
    assert losses_a[0] < 2.0 and losses_a[-1] < 0.2  # standardized units: 1 = predicting the mean
    assert b.score(X, 1000.0 * y + 5.0) > 0.9


def test_regressor_valid_loss_is_in_standardized_units():
    X, y = _linear_targets()
    net = NeuralNetRegressor(verbose=0, random_state=0).fit(X, 1e4 * y)
    # a good fit's squared error relative to the target variance, not in units of 1e8
    assert net.history[-1, "valid_loss"] < 0.1
    assert net.score(X, 1e4 * y) > 0.95


def test_user_module_regressor_loss_stays_in_target_units():
    X, y = _linear_targets()
    net = NeuralNetRegressor(torch.nn.Linear, module__in_features=4, module__out_features=1,
                             max_epochs=1, verbose=0, random_state=0, train_split=None)
    net.fit(X.astype(np.float32), (100.0 * y).astype(np.float32))
    assert net.history[0, "train_loss"] > 100.0  # MSE of targets with variance ~5e4


def test_default_scores_on_small_data_with_fixed_seeds():
    from sklearn.datasets import load_diabetes, load_iris

    X, y = load_iris(return_X_y=True)
    cv = StratifiedKFold(3, shuffle=True, random_state=0)
    assert cross_val_score(NeuralNetClassifier(verbose=0, random_state=0), X, y,
                           cv=cv).mean() > 0.93
    X, y = load_diabetes(return_X_y=True)
    net = NeuralNetRegressor(verbose=0, random_state=0)
    assert cross_val_score(net, X[:300], y[:300], cv=3).mean() > 0.35


def test_float64_predictions_do_not_depend_on_the_batch():
    """With float64 y the built-in regressor evaluates its weights in float64: a row's
    prediction is the same alone as in a batch (scikit-learn checks at atol=1e-7)."""
    rng = np.random.RandomState(0)
    X = rng.randn(300, 20) * 3.0
    y = X @ rng.randn(20) + 10.0
    net = NeuralNetRegressor(max_epochs=3, verbose=0, random_state=0).fit(X, y)
    full = net.predict(X)
    one_by_one = np.concatenate([net.predict(X[i:i + 1]) for i in range(len(X))])
    assert full.dtype == np.float64
    np.testing.assert_allclose(full, one_by_one, rtol=0, atol=1e-9)
    assert net.module_.sequential[0].weight.dtype == torch.float32  # trained in float32


@pytest.mark.parametrize("bad", ["3d-X", "nan-y", "nan-X"])
def test_failed_fit_leaves_the_fitted_default_regressor_as_it_was(bad):
    X, y = _linear_targets(120)
    net = NeuralNetRegressor(verbose=0, random_state=0).fit(X, 50.0 * y + 3.0)
    state = {k: v.clone() for k, v in net.module_.state_dict().items()}  # statistics too
    y_pred, n_epochs = net.predict(X), len(net.history)
    X_bad, y_bad = X.copy(), y.copy()
    if bad == "3d-X":
        X_bad = X.reshape(len(X), 2, 2)
    elif bad == "nan-y":
        y_bad[3] = np.nan
    else:
        X_bad[3, 1] = np.nan
    with pytest.raises(ValueError, match="(?i)flatten X" if bad == "3d-X" else "NaN|infinity"):
        net.fit(X_bad, y_bad)
    for key, value in net.module_.state_dict().items():
        torch.testing.assert_close(value, state[key], rtol=0, atol=0)
    assert len(net.history) == n_epochs
    np.testing.assert_array_equal(net.predict(X), y_pred)


def test_valid_acc_is_scikit_learns_accuracy_also_for_string_labels():
    from sklearn.metrics import accuracy_score

    from sktorch.callbacks.scoring import _accuracy

    X, y = load_wine(return_X_y=True)
    labels = np.array(["red", "rose", "white"], dtype=object)[y]
    net = NeuralNetClassifier(max_epochs=2, verbose=0, random_state=0).fit(X, labels)
    assert _accuracy(net, X, labels) == accuracy_score(labels, net.predict(X))
    assert 0.0 < net.history[-1, "valid_acc"] <= 1.0
