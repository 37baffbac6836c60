"""scikit-learn workflows as a user writes them."""

import pickle

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV, RandomizedSearchCV, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sktorch import NeuralNetBinaryClassifier, NeuralNetRegressor
from tests.conftest import small_classifier

_clf = small_classifier


def test_clone_keeps_every_parameter_and_no_fitted_state(clf_data):
    X, y = clf_data
    net = _clf(module__hidden_units=7, optimizer__momentum=0.5).fit(X, y)
    twin = clone(net)
    assert twin.get_params(deep=False).keys() == net.get_params(deep=False).keys()
    assert twin.module__hidden_units == 7 and twin.optimizer__momentum == 0.5
    assert not hasattr(twin, "module_")


def test_fitted_net_uses_routed_parameters(clf_data):
    X, y = clf_data
    net = _clf(module__hidden_units=7, optimizer__momentum=0.5).fit(X, y)
    assert net.module_.hidden_units == 7
    assert net.optimizer_.param_groups[0]["momentum"] == 0.5


def test_grid_search_and_randomized_search(clf_data):
    X, y = clf_data
    grid = GridSearchCV(_clf(), {"lr": [0.05, 0.2], "module__hidden_units": [5, 20]}, cv=3)
    grid.fit(X, y)
    assert len(grid.cv_results_["params"]) == 4
    rand = RandomizedSearchCV(_clf(), {"lr": [0.01, 0.1, 0.3], "max_epochs": [2, 4]},
                              n_iter=3, cv=3, random_state=0)
    rand.fit(X, y)
    assert rand.best_estimator_.max_epochs in (2, 4)


def test_pipeline_with_scaler_and_cross_val_score(clf_data):
    X, y = clf_data
    pipe = make_pipeline(StandardScaler(), _clf(max_epochs=10))
    scores = cross_val_score(pipe, X * 100 + 5, y, cv=3)
    assert scores.shape == (3,)
    assert scores.mean() > 0.7


def test_pickled_net_predicts_identically(clf_data):
    X, y = clf_data
    net = _clf().fit(X, y)
    loaded = pickle.loads(pickle.dumps(net))
    np.testing.assert_array_equal(loaded.predict_proba(X), net.predict_proba(X))
    loaded.partial_fit(X, y)  # still trainable
    assert len(loaded.history) == 10


def test_random_state_gives_identical_models(clf_data):
    X, y = clf_data
    a, b = _clf(module__dropout=0.2).fit(X, y), _clf(module__dropout=0.2).fit(X, y)
    for pa, pb in zip(a.module_.parameters(), b.module_.parameters()):
        assert torch.equal(pa, pb)
    c = _clf(random_state=1).fit(X, y)
    assert not torch.equal(next(a.module_.parameters()), next(c.module_.parameters()))


def test_string_labels(clf_data):
    X, y = clf_data
    labels = np.array(["cat", "dog"])[y]
    net = _clf().fit(X, labels)
    assert list(net.classes_) == ["cat", "dog"]
    assert set(net.predict(X)) <= {"cat", "dog"}
    assert net.score(X, labels) > 0.7
    assert net.history[-1, "valid_acc"] > 0.5


def test_dataframe_input(clf_data):
    X, y = clf_data
    df = pd.DataFrame(X, columns=[f"f{i}" for i in range(X.shape[1])])
    net = _clf().fit(df, pd.Series(y))
    assert net.n_features_in_ == X.shape[1]
    assert list(net.feature_names_in_) == list(df.columns)
    assert net.predict(df).shape == (len(df),)


def test_regressor_1d_target_predicts_1d_and_scores_r2(reg_data):
    X, y = reg_data
    net = NeuralNetRegressor(max_epochs=20, lr=0.05, verbose=0, random_state=0).fit(X, y)
    assert net.predict(X).shape == (len(X),)
    assert net.score(X, y) > 0.8


def test_binary_classifier_any_two_labels(clf_data):
    X, y = clf_data
    labels = np.where(y == 1, "yes", "no")
    net = NeuralNetBinaryClassifier(max_epochs=10, lr=0.1, verbose=0, random_state=0)
    net.fit(X, labels)
    assert net.predict_proba(X).shape == (len(X), 2)
    assert net.score(X, labels) > 0.7
    with pytest.raises(ValueError, match="Only binary classification"):
        clone(net).fit(X, np.arange(len(X)) % 3)


def test_warm_start_continues_and_cold_start_restarts(clf_data):
    X, y = clf_data
    warm = _clf(warm_start=True, max_epochs=2).fit(X, y)
    first = next(warm.module_.parameters()).detach().clone()
    warm.fit(X, y)
    assert len(warm.history) == 4
    assert not torch.equal(first, next(warm.module_.parameters()))
    cold = _clf(max_epochs=2).fit(X, y)
    cold.fit(X, y)
    assert len(cold.history) == 2


def test_module_instance_is_copied_at_fit(clf_data):
    X, y = clf_data
    module = torch.nn.Sequential(torch.nn.Linear(10, 2), torch.nn.Softmax(dim=-1))
    before = module[0].weight.detach().clone()
    net = _clf(module=module).fit(X, y)
    assert torch.equal(module[0].weight, before)  # the user's instance is untouched
    assert net.module_ is not module


def test_verbose_prints_a_table(clf_data, capsys):
    X, y = clf_data
    _clf(verbose=1, max_epochs=2).fit(X, y)
    out = capsys.readouterr().out
    for column in ("epoch", "train_loss", "valid_loss", "valid_acc", "dur"):
        assert column in out
    assert len([line for line in out.splitlines() if line.strip()]) == 4


def test_partial_fit_with_classes_accepts_chunks_missing_a_label(clf_data):
    X, y = clf_data
    net = _clf(max_epochs=1, train_split=None)
    net.partial_fit(X[y == 0][:50], y[y == 0][:50], classes=[0, 1])
    net.partial_fit(X[:100], y[:100])
    assert net.classes_.tolist() == [0, 1]
    assert len(net.history) == 2
    assert net.predict_proba(X).shape == (len(y), 2)


class RecordsModes(torch.nn.Module):
    """A BatchNorm the module puts in eval mode at construction; records its mode."""

    def __init__(self):
        super().__init__()
        self.bn = torch.nn.BatchNorm1d(8).eval()
        self.out = torch.nn.Linear(8, 1)
        self.modes = []

    def forward(self, X):
        if torch.is_grad_enabled():  # training batches only
            self.modes.append(self.bn.training)
        return self.out(self.bn(X))


@pytest.mark.parametrize("train_split", [None, "default"])
def test_every_training_epoch_runs_the_whole_module_in_train_mode(reg_data, train_split):
    """As in skorch, each epoch starts with module.train(), with or without validation."""
    X, y = reg_data
    kwargs = {} if train_split == "default" else {"train_split": None}
    net = NeuralNetRegressor(RecordsModes, max_epochs=3, verbose=0, random_state=0,
                             **kwargs).fit(X, y)
    assert net.module_.modes and all(net.module_.modes)
