"""No silent wrong results: labels, threads, module outputs, dict X, failed fits, messages."""

import threading
import warnings

import joblib
import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.datasets import make_classification
from sklearn.model_selection import GridSearchCV
from torch import nn

from sktorch import NeuralNetBinaryClassifier, NeuralNetClassifier, NeuralNetRegressor
from sktorch._random import loop_draws_globally
from sktorch.callbacks import Callback
from sktorch.dataset import ValidSplit
from sktorch.helper import SliceDict

X3, Y3 = make_classification(300, 10, n_informative=5, n_classes=3, random_state=0)
X3 = X3.astype(np.float32)
RNG = np.random.RandomState(0)
X = RNG.randn(120, 6).astype(np.float32)
Y = (X[:, 0] - X[:, 2] > 0).astype(np.int64)
Y_REG = X[:, :3].sum(axis=1).astype(np.float32)


def classifier(module=None, **kwargs):
    return NeuralNetClassifier(module, **{"max_epochs": 20, "lr": 0.1, "verbose": 0,
                                  "random_state": 0, **kwargs})


class Linear(nn.Module):
    def __init__(self, n_in=6, n_out=1):
        super().__init__()
        self.linear = nn.Linear(n_in, n_out)

    def forward(self, X):
        return self.linear(X)


def regressor(module=Linear, **kwargs):
    return NeuralNetRegressor(module, **{"max_epochs": 5, "lr": 0.05, "verbose": 0,
                                         "random_state": 0, "train_split": None, **kwargs})


# ------------------------------------------------------------------ label encoding
@pytest.mark.parametrize("order", [[1, 0, 2], [2, 1, 0], [2, 0, 1]])
def test_classes_in_any_order_train_the_model_of_sorted_classes(order):
    reference = classifier(classes=[0, 1, 2]).fit(X3, Y3)
    net = classifier(classes=order).fit(X3, Y3)
    np.testing.assert_array_equal(net.classes_, [0, 1, 2])  # sorted, as in scikit-learn
    assert net.score(X3, Y3) == reference.score(X3, Y3) > 0.75
    np.testing.assert_array_equal(net.predict_proba(X3), reference.predict_proba(X3))


def test_string_classes_in_any_order_match_a_fit_without_classes():
    names = np.array(["setosa", "versicolor", "virginica"])
    y = names[Y3]
    reference = classifier().fit(X3, y)
    net = classifier(classes=["virginica", "setosa", "versicolor"]).fit(X3, y)
    np.testing.assert_array_equal(net.classes_, names)
    np.testing.assert_array_equal(net.predict(X3), reference.predict(X3))
    assert (net.predict(X3) == y).mean() > 0.75
    # predict_proba's columns follow classes_
    proba = net.predict_proba(X3)
    np.testing.assert_array_equal(net.classes_[proba.argmax(axis=1)], net.predict(X3))


def test_partial_fit_chunk_with_one_label_is_encoded_through_classes():
    """Each chunk holds one label; the net must learn that label, not index 0 of the chunk."""
    net = classifier(max_epochs=3, train_split=None)
    chunks = [(X3[Y3 == label], Y3[Y3 == label]) for label in (2, 0, 1)]
    for _ in range(10):
        for i, (Xc, yc) in enumerate(chunks):
            net.partial_fit(Xc, yc, classes=[2, 0, 1] if i == 0 else None)
    np.testing.assert_array_equal(net.classes_, [0, 1, 2])
    # the last chunk trained was label 1: a net that learned a wrong index would not
    # predict it for its own rows
    assert (net.predict(chunks[2][0]) == 1).mean() > 0.9


def test_partial_fit_with_other_classes_than_before_raises():
    net = classifier(max_epochs=1, train_split=None).partial_fit(X3, Y3, classes=[0, 1, 2])
    with pytest.raises(ValueError, match=r"classes=\[0, 1, 2, 3\] differs from the classes"):
        net.partial_fit(X3, Y3, classes=[0, 1, 2, 3])


def test_duplicate_classes_raise():
    with pytest.raises(ValueError, match="more than once"):
        classifier(classes=[0, 1, 1, 2]).fit(X3, Y3)


# -------------------------------------------------------------------- threads
def _weights(net):
    return [p.detach().clone() for p in net.module_.parameters()]


def _fit_in_threads(make_nets):
    """Fit the nets from ``make_nets()`` at once in threads; return them."""
    nets = make_nets()
    barrier = threading.Barrier(len(nets))
    errors = []

    def fit(net):
        try:
            barrier.wait()
            net.fit(X, Y)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=fit, args=(net,)) for net in nets]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors
    return nets


class FunctionalDropout(nn.Module):
    """Dropout through torch.nn.functional: invisible as a layer."""

    def __init__(self):
        super().__init__()
        self.hidden = nn.Linear(6, 32)
        self.out = nn.Linear(32, 2)

    def forward(self, X):
        hidden = nn.functional.dropout(torch.relu(self.hidden(X)), 0.5, self.training)
        return torch.softmax(self.out(hidden), dim=-1)


@pytest.mark.parametrize("kwargs", [
    {"module__dropout": 0.5},           # nn.Dropout layers
    {"module": FunctionalDropout},      # dropout inside a user's forward
    {},                                 # no random layer: init and shuffling only
], ids=["dropout-layer", "functional-dropout", "no-dropout"])
def test_fits_in_threads_equal_sequential_fits(kwargs):
    def make_nets():
        return [classifier(max_epochs=6, batch_size=8, random_state=seed, **kwargs)
                for seed in (1, 2, 3)]

    sequential = [net.fit(X, Y) for net in make_nets()]
    for _ in range(2):
        threaded = _fit_in_threads(make_nets)
        for a, b in zip(sequential, threaded):
            for p, q in zip(_weights(a), _weights(b)):
                assert torch.equal(p, q)


def test_grid_search_with_threads_equals_one_job():
    net = classifier(max_epochs=4, batch_size=16, module__dropout=0.3, random_state=7)
    grid = {"lr": [0.05, 0.1]}
    one = GridSearchCV(net, grid, cv=3, n_jobs=1).fit(X, Y)
    with joblib.parallel_backend("threading", n_jobs=2):
        two = GridSearchCV(net, grid, cv=3, n_jobs=2).fit(X, Y)
    for key in ("split0_test_score", "split1_test_score", "split2_test_score"):
        np.testing.assert_array_equal(one.cv_results_[key], two.cv_results_[key])
    for p, q in zip(_weights(one.best_estimator_), _weights(two.best_estimator_)):
        assert torch.equal(p, q)


def test_only_loops_that_may_draw_from_the_global_generator_hold_the_lock():
    """Seeded fits without random layers run their loops in parallel in threads."""
    net = classifier(max_epochs=1).fit(X, Y)
    batches = net.get_iterator(net.get_dataset(X, Y), training=True)
    assert not loop_draws_globally(net, batches)
    dropout = classifier(max_epochs=1, module__dropout=0.2).fit(X, Y)
    assert loop_draws_globally(dropout, batches)
    user = classifier(FunctionalDropout, max_epochs=1).fit(X, Y)
    assert loop_draws_globally(user, batches)


# ------------------------------------------------------------ module outputs
class WithAux(nn.Module):
    """Returns (prediction, a per-batch auxiliary loss)."""

    def __init__(self, n_out=1):
        super().__init__()
        self.linear = nn.Linear(6, n_out)

    def forward(self, X):
        out = self.linear(X)
        return out, out.pow(2).mean()


def test_tuple_output_regressor_uses_the_first_element():
    net = regressor(WithAux).fit(X, Y_REG)
    y_pred = net.predict(X)
    assert y_pred.shape == (len(X),)
    with torch.no_grad():
        expected = net.module_(torch.from_numpy(X))[0][:, 0].numpy()
    np.testing.assert_allclose(y_pred, expected, rtol=1e-6)
    assert net.score(X, Y_REG) > 0.5
    first, aux = net.forward(X)  # forward keeps every output; scalars stay per batch
    assert first.shape == (len(X), 1) and len(aux) == 1


def test_tuple_output_classifier_predicts_from_the_first_element():
    net = classifier(WithAux, module__n_out=2, criterion=nn.CrossEntropyLoss).fit(X, Y)
    proba = net.predict_proba(X)
    with torch.no_grad():
        expected = torch.softmax(net.module_(torch.from_numpy(X))[0], dim=-1).numpy()
    np.testing.assert_allclose(proba, expected, rtol=1e-5)
    assert net.score(X, Y) > 0.8


def test_get_loss_override_receives_the_whole_tuple():
    seen = []

    class AuxNet(NeuralNetRegressor):
        def get_loss(self, y_pred, y_true, X=None, training=False):
            seen.append(type(y_pred))
            prediction, aux = y_pred
            return super().get_loss(prediction, y_true) + 0.0 * aux

    AuxNet(WithAux, max_epochs=1, verbose=0, train_split=None).fit(X, Y_REG)
    assert seen and set(seen) == {tuple}


def test_dict_output_raises_a_clear_error():
    class DictOut(nn.Module):
        def __init__(self):
            super().__init__()
            self.linear = nn.Linear(6, 1)

        def forward(self, X):
            return {"y": self.linear(X)}

    with pytest.raises(TypeError, match=r"returned a dict \(keys \['y'\]\).*first element"):
        regressor(DictOut).fit(X, Y_REG)


@pytest.mark.parametrize("loss", [nn.CrossEntropyLoss, nn.NLLLoss])
def test_classification_loss_in_a_one_output_regressor_raises(loss):
    with pytest.raises(ValueError, match="single output column.*criterion=torch.nn.MSELoss"):
        regressor(criterion=loss).fit(X, Y_REG)


def test_binary_classifier_with_two_outputs_raises():
    net = NeuralNetBinaryClassifier(Linear, module__n_out=2, max_epochs=1, verbose=0)
    with pytest.raises(ValueError, match=r"one logit per sample.*got shape \(\d+, 2\)"):
        net.fit(X, Y)


def test_bce_with_logits_and_a_float_column_y_in_the_classifier():
    y = Y.astype(np.float32).reshape(-1, 1)
    net = classifier(Linear, criterion=nn.BCEWithLogitsLoss, max_epochs=30)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # scikit-learn's column-vector y warning
        net.fit(X, y)
    np.testing.assert_array_equal(net.classes_, [0.0, 1.0])
    assert net.predict(X).shape == (len(X),)
    assert (net.predict(X) == Y).mean() > 0.9
    np.testing.assert_allclose(net.predict_proba(X).sum(axis=1), 1, rtol=1e-6)
    net_t = classifier(Linear, criterion=nn.BCEWithLogitsLoss, max_epochs=30)
    np.testing.assert_array_equal(net_t.fit(X, torch.from_numpy(y)).predict(X), net.predict(X))


# ------------------------------------------------------------------ dict X
class TwoInputs(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.Linear(4, 1)
        self.b = nn.Linear(2, 1)

    def forward(self, a, b):
        return self.a(a) + self.b(b)


def dict_x(**changes):
    data = {"a": X[:, :4].copy(), "b": X[:, 4:].copy()}
    data.update(changes)
    return data


@pytest.mark.parametrize("bad, message", [
    (dict_x(a=np.where(np.arange(120)[:, None] == 3, np.nan, X[:, :4])),
     r"X\['a'\] contains NaN or infinity"),
    (dict_x(b=np.full((120, 2), np.inf, dtype=np.float32)), r"X\['b'\] contains NaN"),
    (dict_x(b=torch.full((120, 2), float("nan"))), r"X\['b'\] contains NaN"),
    (dict_x(a=np.array([["x"] * 4] * 120)), r"X\['a'\] holds strings"),
    (dict_x(a=np.array([[object()] * 4] * 120)), r"X\['a'\] has dtype object"),
    (dict_x(b=X[:100, 4:]), "different lengths"),
    (dict_x(b=np.float32(1.0)), r"X\['b'\] is a scalar"),
    ({}, "X is an empty dict"),
], ids=["nan", "inf", "nan-tensor", "strings", "objects", "lengths", "scalar", "empty"])
def test_bad_dict_x_is_rejected_at_fit_and_predict(bad, message):
    with pytest.raises(ValueError, match=message):
        regressor(TwoInputs).fit(bad, Y_REG)
    net = regressor(TwoInputs, max_epochs=1).fit(dict_x(), Y_REG)
    with pytest.raises(ValueError, match=message):
        net.predict(bad)


def test_good_dict_x_and_slicedict_still_train_alike():
    plain = regressor(TwoInputs).fit(dict_x(), Y_REG)
    sliced = regressor(TwoInputs).fit(SliceDict(**dict_x()), Y_REG)
    np.testing.assert_array_equal(plain.predict(dict_x()), sliced.predict(dict_x()))
    lists = {key: value.tolist() for key, value in dict_x().items()}
    np.testing.assert_array_equal(regressor(TwoInputs).fit(lists, Y_REG).predict(lists),
                                  plain.predict(dict_x()))


# ------------------------------------------------------------- failed fits
def _nan_at(array, index=(0, 0)):
    array = array.astype(np.float32).copy()
    array[index] = np.nan
    return array


BAD_FITS = {
    "nan-X": lambda: (_nan_at(X), Y),
    "inf-X": lambda: (np.where(X > 2, np.inf, X), Y),
    "nan-y": lambda: (X, _nan_at(Y.astype(np.float32), (0,))),
    "one-class": lambda: (X, np.zeros(len(X), dtype=np.int64)),
    "lengths": lambda: (X, Y[:-1]),
    "1d-X": lambda: (X[:, 0], Y),
    "3-column-y": lambda: (X, np.c_[Y, Y, Y]),
    "two-samples": lambda: (X[:2], np.array([0, 1])),
}


def _snapshot(net):
    return (net.module_, [p.detach().clone() for p in net.module_.parameters()],
            len(net.history), net.n_features_in_, net.classes_.copy())


@pytest.mark.parametrize("case", list(BAD_FITS))
@pytest.mark.parametrize("module", [None, "class"])
def test_failed_fit_leaves_a_fitted_net_as_it_was(case, module):
    kwargs = {"module": Linear, "module__n_out": 2, "criterion": nn.CrossEntropyLoss} if (
        module == "class") else {}
    net = classifier(max_epochs=3, **kwargs).fit(X, Y)
    before = _snapshot(net)
    proba = net.predict_proba(X)
    X_bad, y_bad = BAD_FITS[case]()
    with pytest.raises(ValueError):
        net.fit(X_bad, y_bad)
    after = _snapshot(net)
    assert after[0] is before[0]
    for p, q in zip(before[1], after[1]):
        assert torch.equal(p, q)
    assert after[2:4] == before[2:4]
    np.testing.assert_array_equal(after[4], before[4])
    np.testing.assert_array_equal(net.predict_proba(X), proba)


@pytest.mark.parametrize("case", ["nan-X", "nan-y", "lengths"])
def test_failed_fit_of_a_regressor_with_a_module_class_keeps_its_weights(case):
    net = regressor().fit(X, Y_REG)
    y_pred = net.predict(X)
    X_bad, y_bad = BAD_FITS[case]()
    with pytest.raises(ValueError):
        net.fit(X_bad, y_bad if case != "lengths" else Y_REG[:-1])
    np.testing.assert_array_equal(net.predict(X), y_pred)


class FailAtTrainBegin(Callback):
    def on_train_begin(self, net, **kwargs):
        raise RuntimeError("the callback failed")


@pytest.mark.parametrize("failure", ["module-rejects-X", "callback-raises"])
def test_fit_failing_before_its_first_epoch_ends_keeps_the_fitted_net(failure):
    """Valid input the module cannot take, or a failing callback: the old model stays."""
    net = regressor().fit(X, Y_REG)
    module, y_pred = net.module_, net.predict(X)
    if failure == "module-rejects-X":
        with pytest.raises(RuntimeError, match="shapes cannot be multiplied"):
            net.fit(np.c_[X, X], Y_REG)  # 12 features into Linear(6, 1)
    else:
        net.set_params(callbacks=[FailAtTrainBegin()])
        with pytest.raises(RuntimeError, match="the callback failed"):
            net.fit(X, Y_REG)
    assert net.module_ is module and net.n_features_in_ == 6 and len(net.history) == 5
    np.testing.assert_array_equal(net.predict(X), y_pred)


def test_bad_sample_weight_leaves_a_fitted_net_as_it_was():
    net = classifier(max_epochs=2).fit(X, Y)
    proba = net.predict_proba(X)
    with pytest.raises(ValueError, match="sample_weight must have shape"):
        net.fit(X, Y, sample_weight=np.ones(3))
    np.testing.assert_array_equal(net.predict_proba(X), proba)


def test_failed_fit_on_new_features_does_not_change_n_features_in():
    net = classifier(max_epochs=2).fit(X, Y)
    with pytest.raises(ValueError):
        net.fit(_nan_at(X3), Y3)  # 10 features, and a NaN
    assert net.n_features_in_ == 6
    assert net.predict(X).shape == (len(X),)


# --------------------------------------------------------------- messages
def test_x_that_requires_grad_is_detached():
    Xt = torch.from_numpy(X).requires_grad_(True)
    yt = torch.from_numpy(Y_REG).requires_grad_(True)
    net = regressor().fit(Xt, yt)
    reference = regressor().fit(X, Y_REG)
    np.testing.assert_array_equal(net.predict(Xt), reference.predict(X))
    assert Xt.grad is None


def test_big_endian_inputs_are_converted():
    reference = regressor().fit(X, Y_REG)
    net = regressor().fit(X.astype(">f4"), Y_REG.astype(">f8"))
    np.testing.assert_allclose(net.predict(X.astype(">f4")), reference.predict(X), rtol=1e-6)
    clf = classifier(max_epochs=2).fit(X.astype(">f8"), Y.astype(">i8"))
    assert clf.predict(X).shape == (len(X),)


@pytest.mark.parametrize("make", [classifier, lambda **kw: NeuralNetRegressor(verbose=0, **kw)])
def test_too_few_samples_for_the_validation_split_names_train_split(make):
    y = np.array([0, 1, 0, 1]) if make is classifier else Y_REG[:4]
    with pytest.raises(ValueError, match=r"cannot split 2 samples.*train_split=None"):
        make().fit(X[:2], y[:2])
    make(train_split=None).fit(X[:2], y[:2])  # what the message says to do works
    make(train_split=ValidSplit(2)).fit(X[:4], y)


def test_read_only_inputs_raise_no_warning_and_stay_unchanged():
    X_ro, y_ro = X.copy(), Y_REG.copy()
    X_ro.setflags(write=False)
    y_ro.setflags(write=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        net = regressor().fit(X_ro, y_ro)
        y_pred = net.predict(X_ro)
        series = regressor().fit(pd.DataFrame(X), pd.Series(Y_REG)).predict(pd.DataFrame(X))
    np.testing.assert_array_equal(X_ro, X)
    np.testing.assert_array_equal(y_pred, regressor().fit(X, Y_REG).predict(X))
    np.testing.assert_array_equal(series, y_pred)


def test_regressor_restored_with_load_params_predicts_the_fitted_shape(tmp_path):
    net = regressor().fit(X, Y_REG)
    net.save_params(f_params=tmp_path / "params.pt")
    restored = regressor()
    restored.initialize()
    restored.load_params(f_params=tmp_path / "params.pt")
    assert net.predict(X).shape == restored.predict(X).shape == (len(X),)
    np.testing.assert_array_equal(restored.predict(X), net.predict(X))
    # a (n, 1) y keeps its shape too (skorch's convention for regression targets)
    column = regressor().fit(X, Y_REG.reshape(-1, 1))
    column.save_params(f_params=tmp_path / "column.pt")
    restored = regressor()
    restored.initialize()
    restored.load_params(f_params=tmp_path / "column.pt")
    assert column.predict(X).shape == restored.predict(X).shape == (len(X), 1)
    # the weights file still loads into a plain module
    plain = Linear()
    plain.load_state_dict(torch.load(tmp_path / "column.pt", weights_only=True))
