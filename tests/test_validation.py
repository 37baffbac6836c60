"""Bad input gives a clear error at fit, partial_fit, predict, predict_proba and score."""

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
import torch
from sklearn.exceptions import NotFittedError

from sktorch import NeuralNetBinaryClassifier, NeuralNetClassifier, NeuralNetRegressor
from sktorch.exceptions import NotInitializedError

RNG = np.random.RandomState(0)
X = RNG.randn(40, 4).astype(np.float32)
Y_CLF = np.arange(40) % 2
Y_REG = X.sum(axis=1)


def classifier(**kwargs):
    return NeuralNetClassifier(**{"max_epochs": 1, "verbose": 0, "random_state": 0, **kwargs})


def regressor(**kwargs):
    return NeuralNetRegressor(**{"max_epochs": 1, "verbose": 0, "random_state": 0, **kwargs})


def with_value(array, index, value):
    out = np.array(array, dtype=np.float64)
    out[index] = value
    return out


# ----------------------------------------------------------------- bad X or y at fit
BAD_FIT_INPUTS = {
    "nan in X": (classifier, with_value(X, (3, 1), np.nan), Y_CLF, ValueError, "NaN"),
    "inf in X": (classifier, with_value(X, (0, 0), np.inf), Y_CLF, ValueError, "infinity"),
    "nan in tensor X": (classifier, torch.tensor(with_value(X, (1, 1), np.nan)), Y_CLF,
                        ValueError, "NaN"),
    "nan in regression y": (regressor, X, with_value(Y_REG, 5, np.nan), ValueError, "NaN"),
    "inf in regression y": (regressor, X, with_value(Y_REG, 5, np.inf), ValueError,
                            "infinity"),
    "X and y of different lengths": (classifier, X, Y_CLF[:-3], ValueError,
                                     "inconsistent numbers of samples"),
    "1-D X": (classifier, X[:, 0], Y_CLF, ValueError, "Expected 2D array"),
    "1-D tensor X": (classifier, torch.tensor(X[:, 0]), Y_CLF, ValueError, "Expected a 2D X"),
    "empty X": (classifier, X[:0], Y_CLF[:0], ValueError, "0 sample"),
    "strings in X": (classifier, np.array([["a", "b"]] * 40, dtype=object), Y_CLF,
                     ValueError, "could not convert string to float"),
    "text DataFrame column": (classifier, pd.DataFrame({"a": X[:, 0], "b": ["x"] * 40}),
                              Y_CLF, ValueError, r"non-numeric DataFrame columns \['b'\]"),
    "complex X": (classifier, X.astype(np.complex64), Y_CLF, ValueError, "[Cc]omplex"),
    "continuous y for a classifier": (classifier, X, Y_REG, ValueError,
                                      "Unknown label type: continuous"),
    "y is None for a classifier": (classifier, X, None, ValueError, "requires y"),
    "y is None for a regressor": (regressor, X, None, ValueError, "requires y"),
    "X is None": (classifier, None, Y_CLF, TypeError, "X is None"),
    "unsupported X type": (classifier, object(), Y_CLF, TypeError, "not supported"),
    "one class only": (classifier, X, np.ones(40), ValueError, "only one class"),
    "three classes for the binary classifier": (
        lambda **kw: NeuralNetBinaryClassifier(max_epochs=1, verbose=0, **kw), X,
        np.arange(40) % 3, ValueError, "Only binary classification"),
}


@pytest.mark.parametrize("case", BAD_FIT_INPUTS, ids=list(BAD_FIT_INPUTS))
def test_bad_input_at_fit_names_the_problem(case):
    make, X_bad, y_bad, error, message = BAD_FIT_INPUTS[case]
    with pytest.raises(error, match=message):
        make().fit(X_bad, y_bad)


@pytest.mark.parametrize("case", ["nan in X", "1-D X", "complex X"])
def test_bad_input_at_partial_fit_names_the_problem(case):
    make, X_bad, y_bad, error, message = BAD_FIT_INPUTS[case]
    with pytest.raises(error, match=message):
        make().partial_fit(X_bad, y_bad)


# ---------------------------------------------------------- parameters, at fit
@pytest.mark.parametrize("param, value", [
    ("lr", "fast"), ("max_epochs", -1), ("batch_size", 0), ("on_nan", "ignore"),
    ("precision", "16"), ("class_weight", "even"), ("verbose", -2),
])
def test_invalid_parameter_is_reported_at_fit_with_its_name(param, value):
    net = classifier(**{param: value})  # __init__ only stores
    with pytest.raises(ValueError, match=f"invalid value for parameter '{param}'"):
        net.fit(X, Y_CLF)


# ------------------------------------------------------------------ predict and score
@pytest.fixture(scope="module")
def fitted():
    return classifier().fit(X, Y_CLF)


@pytest.mark.parametrize("method", ["predict", "predict_proba", "score"])
def test_predict_before_fit_raises_not_fitted(method):
    args = (X, Y_CLF) if method == "score" else (X,)
    with pytest.raises(NotInitializedError, match="not initialized yet; call fit"):
        getattr(classifier(), method)(*args)
    assert issubclass(NotInitializedError, NotFittedError)


@pytest.mark.parametrize("method", ["predict", "predict_proba", "score"])
def test_wrong_number_of_features_at_predict(fitted, method):
    args = (X[:, :3], Y_CLF) if method == "score" else (X[:, :3],)
    with pytest.raises(ValueError, match="X has 3 features, but NeuralNetClassifier is "
                                         "expecting 4 features"):
        getattr(fitted, method)(*args)


@pytest.mark.parametrize("method", ["predict", "predict_proba", "score"])
def test_nan_at_predict(fitted, method):
    X_bad = with_value(X, (2, 2), np.nan)
    args = (X_bad, Y_CLF) if method == "score" else (X_bad,)
    with pytest.raises(ValueError, match="NaN"):
        getattr(fitted, method)(*args)


def test_wrong_number_of_features_at_predict_with_a_tensor(fitted):
    with pytest.raises(ValueError, match="X has 5 features.*expecting 4"):
        fitted.predict(torch.zeros(3, 5))


def test_wrong_number_of_features_at_partial_fit(fitted):
    net = classifier().fit(X, Y_CLF)
    with pytest.raises(ValueError, match="X has 3 features.*expecting 4"):
        net.partial_fit(X[:, :3], Y_CLF)


def test_refit_learns_the_new_number_of_features():
    net = classifier().fit(X, Y_CLF)
    net.fit(X[:, :2], Y_CLF)
    assert net.n_features_in_ == 2
    assert net.predict(X[:, :2]).shape == (40,)


def test_dataframe_feature_names_are_checked_at_predict():
    df = pd.DataFrame(X, columns=list("abcd"))
    net = classifier().fit(df, Y_CLF)
    assert list(net.feature_names_in_) == list("abcd")
    with pytest.raises(ValueError, match="feature names"):
        net.predict(df[list("dcba")])


def test_integer_X_is_accepted_by_the_default_module():
    net = classifier().fit((X * 10).astype(np.int64), Y_CLF)
    assert net.predict(torch.tensor((X * 10).astype(np.int32))).shape == (40,)


def test_torch_dataset_input_skips_array_validation():
    """A torch Dataset is used as it is: sktorch cannot look inside without reading it."""
    data = torch.utils.data.TensorDataset(torch.tensor(X), torch.tensor(Y_REG[:, None]))
    net = regressor(module__input_units=4, module__output_units=1, module=None)
    net.fit(data, None)  # no y check, no n_features_in_
    assert not hasattr(net, "n_features_in_")


@pytest.mark.parametrize("container", ["array", "read-only array", "reversed view", "tensor",
                                       "csr"])
def test_non_finite_x_is_found_in_every_container_and_large_finite_x_passes(container):
    """The finite check sums first; a float32 sum that overflows must not fail good X."""
    def wrap(a):
        if container == "read-only array":
            a = a.copy()
            a.setflags(write=False)
        if container == "reversed view":  # negative strides, which torch cannot share
            a = a[::-1, ::-1].copy()[::-1, ::-1]
        return {"tensor": torch.from_numpy, "csr": sp.csr_matrix}.get(container, np.asarray)(a)

    net = NeuralNetRegressor(max_epochs=1, verbose=0, train_split=None).fit(wrap(X), Y_REG)
    huge = np.full_like(X, 3e38)  # finite, but its float32 sum is inf
    assert net.predict(wrap(huge)).shape == (len(X),)  # accepted (the outputs may overflow)
    for method, args in (("predict", ()), ("fit", (Y_REG,))):  # a failed fit unfits the net
        for value in (np.nan, np.inf, -np.inf):
            with pytest.raises(ValueError, match="NaN or infinity"):
                getattr(net, method)(wrap(with_value(huge, (5, 1), value)), *args)
