"""Behaviours found unchecked by the mutmut run of MUTATION.md (second round).

Each test names what a user relies on; the mutants they kill are listed in MUTATION.md.
Objects whose construction is under test are built inside the tests: mutmut only sees
code that runs during a test, not while the test module is imported.
"""

import numpy as np
import pandas as pd
import pytest
import torch

from sktorch import _weights


class _Net:
    """What fit_weights reads from a net."""

    def __init__(self, class_weight=None, precision="32", device="cpu"):
        self.class_weight, self.precision, self.device = class_weight, precision, device


# ------------------------------------------------------------------------ _weights
@pytest.mark.parametrize("bad, what", [(np.nan, "NaN"), (np.inf, "infinity")])
def test_non_finite_sample_weight_is_rejected_naming_sample_weight(bad, what):
    with pytest.raises(ValueError, match=rf"^Input sample_weight contains {what}"):
        _weights.fit_weights(_Net(), [1.0, bad], None, 2)


def test_sample_weight_from_an_object_column_is_used_as_numbers():
    """A pandas column of dtype object (e.g. read from a CSV with gaps filled) works."""
    column = pd.Series([1, 2, 0.5], dtype=object)
    weights = _weights.fit_weights(_Net(), column, None, 3)
    assert weights.tolist() == [1.0, 2.0, 0.5] and weights.dtype == torch.float32


def test_sample_weight_with_a_loss_without_reduction_says_to_weight_in_get_loss():
    class NoReduction:
        def __call__(self, y_pred, y_true):
            return (y_pred - y_true).abs().mean()

    class Net:
        criterion_ = NoReduction()

    with pytest.raises(TypeError, match=r"NoReduction has none\. Weight the loss in your own "
                                        r"get_loss instead\.$"):
        _weights.weighted_loss(Net(), torch.ones(2), torch.ones(2), None, torch.ones(2), True)


# ---------------------------------------------------------------------- classifier
class FirstColumnLogit(torch.nn.Module):
    """The logit is the first feature (times a weight of 1): known probabilities."""

    def __init__(self):
        super().__init__()
        self.scale = torch.nn.Parameter(torch.ones(()))

    def forward(self, X):
        return X[:, 0] * self.scale


def test_binary_predict_is_positive_only_where_the_probability_exceeds_the_threshold():
    from sktorch import NeuralNetBinaryClassifier

    X = np.array([[-1.0], [0.0], [1.0], [0.0]], dtype=np.float32)
    y = np.array(["no", "no", "yes", "yes"])
    net = NeuralNetBinaryClassifier(FirstColumnLogit, max_epochs=1, lr=0.0, verbose=0,
                                    train_split=None).fit(X, y)
    assert net.predict_proba(X)[1].tolist() == [0.5, 0.5]  # logit 0
    # a probability equal to the threshold is not above it: the first class
    assert net.predict(X).tolist() == ["no", "no", "yes", "no"]


# ------------------------------------------------------------- training callbacks
def test_load_best_without_a_finite_score_keeps_the_trained_weights():
    """EarlyStopping(load_best=True) on a score that is NaN every epoch: nothing to restore,
    the fit ends normally with the weights it trained."""
    from sktorch import NeuralNetRegressor
    from sktorch.callbacks import Callback, EarlyStopping

    class NanScore(Callback):
        def on_epoch_end(self, net, **kwargs):
            net.history.record("score", float("nan"))

    X = np.random.RandomState(0).randn(20, 4).astype(np.float32)
    es = EarlyStopping(monitor="score", patience=10, load_best=True)
    net = NeuralNetRegressor(torch.nn.Linear, module__in_features=4, module__out_features=1,
                             max_epochs=2, lr=0.1, train_split=None, verbose=0,
                             random_state=0, callbacks=[NanScore(), es])
    net.fit(X, X[:, :1])
    assert es.best_score_ is None and es.best_epoch_ is None
    assert es.best_model_weights_ is None
    retrained = NeuralNetRegressor(torch.nn.Linear, module__in_features=4,
                                   module__out_features=1, max_epochs=2, lr=0.1,
                                   train_split=None, verbose=0, random_state=0).fit(X, X[:, :1])
    torch.testing.assert_close(net.module_.weight, retrained.module_.weight)
