"""Budget-aware halving: resume=True continues survivors instead of retraining (issue 14)."""

import warnings

import numpy as np
import pytest
from torch import nn

from sktorch import NeuralNetClassifier
from sktorch.model_selection import HalvingGridSearchCV
from sktorch.model_selection._resume import ResumeStore
from sktorch.toy import MLPModule


def data():
    rng = np.random.RandomState(0)
    X = rng.randn(120, 5).astype("float32")
    y = (X[:, 0] - X[:, 2] > 0).astype("int64")
    return X, y


def net(**kwargs):
    # Small batches: the shuffle order of every epoch changes the model.
    params = dict(max_epochs=10, batch_size=16, train_split=None, verbose=0, random_state=0,
                  lr=0.1, optimizer__momentum=0.9)
    params.update(kwargs)
    from torch.optim import SGD

    return NeuralNetClassifier(MLPModule, module__input_units=5, criterion=nn.CrossEntropyLoss,
                               optimizer=SGD, **params)


class Member:
    def __init__(self, X, y):
        self.X, self.y, self.sample_weight, self.fit_params = X, y, None, {}


def weights(model):
    return np.concatenate([p.detach().numpy().ravel() for p in model.module_.parameters()])


def test_ten_then_twenty_more_epochs_equal_thirty():
    X, y = data()
    store = ResumeStore()
    ten, error = store.train(net(max_epochs=10), Member(X, y), "data")
    assert error is None and len(ten.history) == 10
    thirty, error = store.train(net(max_epochs=30), Member(X, y), "data")
    assert error is None and thirty.max_epochs == 30
    assert store.epochs_trained == 30  # 10 + 20, not 10 + 30
    direct = net(max_epochs=30).fit(X, y)
    assert len(thirty.history) == 30
    np.testing.assert_allclose(thirty.history[:, "train_loss"], direct.history[:, "train_loss"],
                               rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(weights(thirty), weights(direct), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(thirty.predict_proba(X), direct.predict_proba(X), atol=1e-6)
    assert len(ten.history) == 10  # the stored copy was continued, not the round-one net


def test_other_parameters_or_data_do_not_continue():
    X, y = data()
    store = ResumeStore()
    store.train(net(max_epochs=5, lr=0.1), Member(X, y), "data")
    store.train(net(max_epochs=5, lr=0.2), Member(X, y), "data")
    store.train(net(max_epochs=5, lr=0.1), Member(X[:60], y[:60]), "other data")
    assert store.epochs_trained == 15 and len(store.nets) == 3


def search(resume):
    return HalvingGridSearchCV(
        net(), {"lr": [0.02, 0.05, 0.1, 0.2]}, resource="max_epochs", min_resources=3,
        max_resources=12, factor=2, cv=2, resume=resume, refit=True, random_state=0)


def test_halving_with_resume_scores_like_retraining_with_fewer_epochs():
    X, y = data()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # resume trains unfused: reported
        plain = search(False).fit(X, y)
        resumed = search(True).fit(X, y)
    assert list(resumed.n_resources_) == list(plain.n_resources_) == [3, 6, 12]
    np.testing.assert_allclose(resumed.cv_results_["mean_test_score"],
                               plain.cv_results_["mean_test_score"], atol=1e-6)
    assert resumed.best_params_ == plain.best_params_
    # rounds: 4 candidates x 3 epochs, 2 x 6, 1 x 12, each x 2 folds
    retrained = 2 * (4 * 3 + 2 * 6 + 1 * 12)
    continued = 2 * (4 * 3 + 2 * 3 + 1 * 6)
    assert resumed.epochs_trained_ == continued < retrained
    last = len(resumed.cv_histories_) - 1
    assert len(resumed.cv_histories_[last][0]) == 12
    np.testing.assert_allclose(resumed.cv_histories_[last][0][:, "train_loss"],
                               plain.cv_histories_[last][0][:, "train_loss"], rtol=1e-5)


def test_resume_needs_epochs_as_the_resource():
    X, y = data()
    bad = HalvingGridSearchCV(net(), {"lr": [0.05, 0.1]}, cv=2, resume=True,
                              min_resources=40)
    with pytest.raises(ValueError, match="resource='max_epochs'"):
        bad.fit(X, y)


def test_resume_is_a_clonable_parameter():
    from sklearn.base import clone

    s = search(True)
    assert s.get_params()["resume"] is True and clone(s).resume is True
    assert search(False).get_params()["resume"] is False
