"""sktorch.model_selection: fused searches give scikit-learn's results, faster.

Each search runs twice, fused (``fuse='auto'``) and as scikit-learn would
(``fuse=False``); the results a user reads (best parameters, every fold's score,
each member's history) must agree. Small data and few epochs keep it fast.
"""

import pickle
import warnings

import numpy as np
import pytest
import torch
from scipy.stats import loguniform
from sklearn import config_context
from sklearn.base import clone
from sklearn.datasets import make_classification, make_regression
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import make_scorer, mean_squared_error
from sklearn.model_selection import GridSearchCV as SkGridSearchCV
from sklearn.model_selection import GroupKFold, KFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from torch import nn

from sktorch import NeuralNetClassifier, NeuralNetRegressor
from sktorch.callbacks import Callback, EarlyStopping
from sktorch.dataset import ValidSplit
from sktorch.model_selection import (
    FuseReport,
    GridSearchCV,
    HalvingGridSearchCV,
    HalvingRandomSearchCV,
    RandomizedSearchCV,
    _cache,
    _run,
)

TOL = 1e-4


class SimpleClassifier(nn.Module):
    """README's first model: one sigmoid output (binary), trained with BCELoss."""

    def __init__(self, hidden_units=10):
        super().__init__()
        self.hidden = nn.Linear(8, hidden_units)
        self.output = nn.Linear(hidden_units, 1)

    def forward(self, X):
        return torch.sigmoid(self.output(torch.relu(self.hidden(X))))


@pytest.fixture(scope="module")
def clf_data():
    X, y = make_classification(160, 8, n_informative=5, random_state=0)
    return X.astype(np.float32), y


@pytest.fixture(scope="module")
def reg_data():
    X, y = make_regression(150, 6, noise=5.0, random_state=0)
    return X.astype(np.float32), (y / 50).astype(np.float32)


def classifier(**kwargs):
    params = dict(optimizer=torch.optim.Adam, max_epochs=3, batch_size=32, train_split=None,
                  verbose=0, random_state=0)
    return NeuralNetClassifier(**{**params, **kwargs})


def regressor(**kwargs):
    params = dict(optimizer=torch.optim.SGD, max_epochs=3, batch_size=32, train_split=None,
                  verbose=0, random_state=0)
    return NeuralNetRegressor(**{**params, **kwargs})


def fit_both(make_search, X, y, **fit_params):
    """The same search fitted fused and with fuse=False."""
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message=".*fuse_report_")  # warns when it falls back
        fused = make_search("auto").fit(X, y, **fit_params)
    plain = make_search(False).fit(X, y, **fit_params)
    return fused, plain


def assert_same_results(fused, plain, scores=("score",)):
    """best_params_, every fold's score and every member's losses agree."""
    assert fused.best_params_ == plain.best_params_
    assert fused.cv_results_["params"] == plain.cv_results_["params"]
    for name in scores:
        for split in range(fused.n_splits_):
            key = f"split{split}_test_{name}"
            np.testing.assert_allclose(fused.cv_results_[key], plain.cv_results_[key], atol=TOL)
        np.testing.assert_allclose(fused.cv_results_[f"mean_test_{name}"],
                                   plain.cv_results_[f"mean_test_{name}"], atol=TOL)
    assert len(fused.cv_histories_) == len(plain.cv_histories_)
    for row_f, row_p in zip(fused.cv_histories_, plain.cv_histories_):
        assert len(row_f) == len(row_p) == fused.n_splits_
        for hist_f, hist_p in zip(row_f, row_p):
            np.testing.assert_allclose(hist_f[:, "train_loss"], hist_p[:, "train_loss"],
                                       atol=TOL)


def assert_all_fused(search):
    report = search.fuse_report_
    assert report.n_members == len(search.cv_results_["params"]) * search.n_splits_ or (
        hasattr(search, "n_iterations_"))
    assert report.n_fused == report.n_members, report.summary()


# ------------------------------------------------------------------ same results
def test_grid_classifier_same_results_and_histories(clf_data):
    X, y = clf_data
    grid = {"lr": [0.01, 0.1], "hidden_units": [5, 10]}
    fused, plain = fit_both(
        lambda fuse: GridSearchCV(classifier(), grid, cv=3, scoring="neg_log_loss",
                                  fuse=fuse), X, y)
    assert_same_results(fused, plain)
    assert_all_fused(fused)
    assert [len(row) for row in fused.cv_histories_] == [3] * 4
    assert all(len(h) == 3 for row in fused.cv_histories_ for h in row)
    assert {g.reason for g in plain.fuse_report_} == {"fuse=False"}


def test_readme_module_binary_bceloss(clf_data):
    X, y = clf_data
    net = classifier(module=SimpleClassifier, loss_function=nn.BCELoss)
    fused, plain = fit_both(
        lambda fuse: GridSearchCV(net, {"lr": [0.01, 0.1], "hidden_units": [4, 8]}, cv=3,
                                  fuse=fuse), X, y)
    assert_same_results(fused, plain)
    assert_all_fused(fused)


def test_randomized_regressor_unequal_folds(reg_data):
    X, y = reg_data  # 150 rows in 4 folds: 37 or 38 test rows
    dists = {"lr": loguniform(1e-3, 1e-1), "hidden_units": [4, 8, 16]}
    fused, plain = fit_both(
        lambda fuse: RandomizedSearchCV(regressor(), dists, n_iter=4, cv=4, random_state=0,
                                        fuse=fuse), X, y)
    assert_same_results(fused, plain)
    assert_all_fused(fused)
    assert len(set(fused.cv_results_["split0_test_score"])) == 4  # candidates differ


def test_pipeline_fits_transformers_per_fold(clf_data):
    X, y = clf_data
    X = X * 10 + 3  # the scaler matters
    pipe = make_pipeline(StandardScaler(), classifier())
    grid = {"neuralnetclassifier__lr": [0.01, 0.1],
            "standardscaler__with_mean": [True, False]}
    fused, plain = fit_both(lambda fuse: GridSearchCV(pipe, grid, cv=3, fuse=fuse), X, y)
    assert_same_results(fused, plain)
    assert_all_fused(fused)
    assert type(fused.best_estimator_[-1]) is NeuralNetClassifier


def test_early_stopping_with_validation_split(clf_data):
    X, y = clf_data
    net = classifier(max_epochs=8, train_split=ValidSplit(5),  # each member has its own
                     callbacks=[EarlyStopping(patience=2, monitor="valid_loss")])
    fused, plain = fit_both(
        lambda fuse: GridSearchCV(net, {"lr": [0.003, 0.3]}, cv=3, fuse=fuse), X, y)
    assert_same_results(fused, plain)
    for row_f, row_p in zip(fused.cv_histories_, plain.cv_histories_):
        assert [len(h) for h in row_f] == [len(h) for h in row_p]
        for h_f, h_p in zip(row_f, row_p):
            np.testing.assert_allclose(h_f[:, "valid_loss"], h_p[:, "valid_loss"], atol=TOL)


def test_members_with_different_max_epochs_fuse_together(reg_data):
    X, y = reg_data
    fused, plain = fit_both(
        lambda fuse: GridSearchCV(regressor(), {"max_epochs": [2, 5], "lr": [0.02, 0.05]},
                                  cv=3, fuse=fuse), X, y)
    assert_same_results(fused, plain)
    assert_all_fused(fused)
    assert sum(g.fused for g in fused.fuse_report_) == 1  # one stacked model
    epochs = [len(h) for row in fused.cv_histories_ for h in row]
    assert sorted(set(epochs)) == [2, 5]


def test_sample_weight_as_fit_param(reg_data):
    X, y = reg_data
    weights = np.r_[np.ones(75), np.full(75, 0.1)]
    make = lambda fuse: GridSearchCV(regressor(), {"lr": [0.01, 0.05]}, cv=3, fuse=fuse)  # noqa: E731
    fused, plain = fit_both(make, X, y, sample_weight=weights)
    assert_same_results(fused, plain)
    unweighted = make("auto").fit(X, y)
    assert not np.allclose(unweighted.cv_results_["mean_test_score"],
                           fused.cv_results_["mean_test_score"], atol=1e-3)


def test_sample_weight_through_metadata_routing(reg_data):
    X, y = reg_data
    weights = np.r_[np.ones(75), np.full(75, 0.1)]
    with config_context(enable_metadata_routing=True):
        scorer = make_scorer(mean_squared_error, greater_is_better=False).set_score_request(
            sample_weight=True)  # weighted test scores too
        pipe = make_pipeline(StandardScaler().set_fit_request(sample_weight=False),
                             regressor().set_fit_request(sample_weight=True))
        fused, plain = fit_both(
            lambda fuse: GridSearchCV(pipe, {"neuralnetregressor__lr": [0.01, 0.05]}, cv=3,
                                      scoring=scorer, fuse=fuse),
            X, y, sample_weight=weights)
        unweighted = GridSearchCV(pipe, {"neuralnetregressor__lr": [0.01, 0.05]}, cv=3,
                                  scoring=scorer).fit(X, y)
    assert_same_results(fused, plain)
    assert_all_fused(fused)
    assert not np.allclose(unweighted.cv_results_["mean_test_score"],
                           fused.cv_results_["mean_test_score"], atol=1e-3)


def test_groups_and_multimetric_refit(clf_data):
    X, y = clf_data
    groups = np.arange(len(X)) % 5
    scoring = {"acc": "accuracy", "nll": "neg_log_loss"}
    fused, plain = fit_both(
        lambda fuse: GridSearchCV(classifier(), {"lr": [0.01, 0.1]}, cv=GroupKFold(3),
                                  scoring=scoring, refit="nll", return_train_score=True,
                                  fuse=fuse), X, y, groups=groups)
    assert_same_results(fused, plain, scores=("nll",))
    np.testing.assert_allclose(fused.cv_results_["mean_train_nll"],
                               plain.cv_results_["mean_train_nll"], atol=TOL)
    assert fused.best_index_ == plain.best_index_
    np.testing.assert_allclose(fused.predict_proba(X), plain.predict_proba(X), atol=TOL)


def test_threads_and_processes_fuse_in_this_process(clf_data):
    X, y = clf_data
    grid = {"lr": [0.01, 0.1], "hidden_units": [5, 10]}
    fused = GridSearchCV(classifier(), grid, cv=3, n_jobs=2, scoring="neg_log_loss").fit(X, y)
    plain = GridSearchCV(classifier(), grid, cv=3, scoring="neg_log_loss", fuse=False).fit(X, y)
    assert_same_results(fused, plain)  # every history came back: no fit ran elsewhere
    assert_all_fused(fused)


@pytest.mark.parametrize("resource", ["n_samples", "max_epochs"])
def test_halving_grid(clf_data, resource):
    X, y = clf_data
    grid = {"lr": [0.003, 0.03, 0.3], "hidden_units": [4, 8]}
    extra = {"max_resources": 6, "min_resources": 2} if resource == "max_epochs" else {}
    fused, plain = fit_both(
        lambda fuse: HalvingGridSearchCV(classifier(), grid, cv=3, factor=2, resource=resource,
                                         scoring="neg_log_loss", random_state=0, fuse=fuse,
                                         **extra), X, y)
    assert_same_results(fused, plain)
    assert fused.n_iterations_ >= 2
    assert {g.iteration for g in fused.fuse_report_} == set(range(fused.n_iterations_))
    assert fused.fuse_report_.n_members == len(fused.cv_results_["params"]) * 3
    assert_all_fused(fused)
    if resource == "max_epochs":
        last = fused.cv_results_["params"][-1]["max_epochs"]
        assert len(fused.cv_histories_[-1][0]) == last


def test_halving_random(reg_data):
    X, y = reg_data
    fused, plain = fit_both(
        lambda fuse: HalvingRandomSearchCV(regressor(), {"lr": loguniform(1e-3, 1e-1)},
                                           n_candidates=4, cv=3, factor=2, random_state=0,
                                           min_resources=40, fuse=fuse), X, y)
    assert_same_results(fused, plain)


def test_error_score_for_a_failing_candidate(reg_data):
    X, y = reg_data
    grid = {"lr": [0.01, -1.0]}  # SGD rejects a negative learning rate
    with pytest.warns(Warning):
        fused = GridSearchCV(regressor(), grid, cv=3, error_score=np.nan).fit(X, y)
    assert np.isnan(fused.cv_results_["mean_test_score"][1])
    assert np.isfinite(fused.cv_results_["mean_test_score"][0])
    assert fused.best_params_ == {"lr": 0.01}
    with pytest.raises(ValueError):
        GridSearchCV(regressor(), grid, cv=3, error_score="raise").fit(X, y)
    assert _cache.active == 0 and not _cache._open


# ------------------------------------------------------------------ fallbacks
class CountingCallback(Callback):
    def on_epoch_end(self, net, **kwargs):
        pass


def test_lbfgs_falls_back_and_says_why(reg_data):
    X, y = reg_data
    net = regressor(optimizer=torch.optim.LBFGS, optimizer__max_iter=2, max_epochs=2)
    with pytest.warns(UserWarning, match="fuse_report_") as record:
        fused = GridSearchCV(net, {"lr": [0.1, 0.5]}, cv=3).fit(X, y)
    assert len([w for w in record if "fuse_report_" in str(w.message)]) == 1
    plain = GridSearchCV(net, {"lr": [0.1, 0.5]}, cv=3, fuse=False).fit(X, y)
    assert_same_results(fused, plain)
    report = fused.fuse_report_
    assert report.n_fused == 0 and report.n_members == 6
    assert all(group.reason for group in report)
    assert "LBFGS" in report.summary()
    with pytest.raises(ValueError, match="fuse=True requires every member"):
        GridSearchCV(net, {"lr": [0.1]}, cv=2, fuse=True).fit(X, y)


def test_custom_callback_falls_back(clf_data):
    X, y = clf_data
    net = classifier(callbacks=[CountingCallback()])
    with pytest.warns(UserWarning, match="CountingCallback"):
        search = GridSearchCV(net, {"lr": [0.01, 0.1]}, cv=2).fit(X, y)
    assert search.fuse_report_.n_fused == 0
    assert all(len(h) == 3 for row in search.cv_histories_ for h in row)


def test_not_a_net_trains_as_scikit_learn(clf_data):
    X, y = clf_data
    with pytest.warns(UserWarning, match="not an sktorch net"):
        ours = GridSearchCV(LogisticRegression(), {"C": [0.1, 1.0]}, cv=3).fit(X, y)
    theirs = SkGridSearchCV(LogisticRegression(), {"C": [0.1, 1.0]}, cv=3).fit(X, y)
    np.testing.assert_array_equal(ours.cv_results_["mean_test_score"],
                                  theirs.cv_results_["mean_test_score"])


def test_fuse_false_never_calls_the_fused_engine(clf_data, monkeypatch):
    import sktorch.model_selection._fused as fused_pkg

    def boom(*args, **kwargs):
        raise AssertionError("fit_members called with fuse=False")

    monkeypatch.setattr(fused_pkg, "fit_members", boom)
    X, y = clf_data
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        search = GridSearchCV(classifier(), {"lr": [0.01]}, cv=2, fuse=False).fit(X, y)
    assert search.fuse_report_.n_fused == 0


def test_engine_failure_falls_back_in_auto_and_raises_in_strict(clf_data, monkeypatch):
    import sktorch.model_selection._fused as fused_pkg

    def broken(*args, **kwargs):
        raise RuntimeError("engine bug")

    monkeypatch.setattr(fused_pkg, "fit_members", broken)
    X, y = clf_data
    with pytest.warns(UserWarning, match="engine bug"):
        fused = GridSearchCV(classifier(), {"lr": [0.01, 0.1]}, cv=2, scoring="neg_log_loss"
                             ).fit(X, y)
    plain = GridSearchCV(classifier(), {"lr": [0.01, 0.1]}, cv=2, scoring="neg_log_loss",
                         fuse=False).fit(X, y)
    assert_same_results(fused, plain)
    with pytest.raises(RuntimeError, match="engine bug"):
        GridSearchCV(classifier(), {"lr": [0.01]}, cv=2, fuse=True).fit(X, y)


# ------------------------------------------------------------------ the cache
def _trained(net, X, y):
    with _cache.bypass():
        return net.fit(X, y)


def test_cache_serves_by_parameters_and_data(clf_data):
    """Same parameters, different folds: each fit gets its own fold's member."""
    X, y = clf_data
    folds = [(X[:80], y[:80]), (X[80:], y[80:])]
    members = [_trained(classifier(), Xf, yf) for Xf, yf in folds]
    cache = _cache.FitCache()
    for i, ((Xf, yf), member) in enumerate(zip(folds, members)):
        cache.expect(_cache.member_key(classifier(), Xf, yf, None, {}), i, member)
    with cache.open():
        second = classifier().fit(*folds[1])  # asked for in the other order
        first = classifier().fit(*folds[0])
    for net, member in ((first, members[0]), (second, members[1])):
        assert net.module_ is member.module_
        assert net.history_ is member.history_
    assert cache.histories == {0: members[0].history_, 1: members[1].history_}


def test_cache_miss_trains_normally(clf_data):
    X, y = clf_data
    member = _trained(classifier(), X[:80], y[:80])
    cache = _cache.FitCache()
    cache.expect(_cache.member_key(classifier(), X[:80], y[:80], None, {}), 0, member)
    expected = _trained(classifier(lr=0.05), X[:80], y[:80])
    with cache.open():
        other_params = classifier(lr=0.05).fit(X[:80], y[:80])
        other_data = classifier().fit(X[80:], y[80:])
    assert other_params.module_ is not member.module_
    assert other_data.module_ is not member.module_
    np.testing.assert_allclose(other_params.predict_proba(X), expected.predict_proba(X))
    assert len(other_data.history_) == 3
    assert cache.histories == {}


def test_cache_is_inactive_outside_a_search(clf_data, monkeypatch):
    X, y = clf_data
    GridSearchCV(classifier(), {"lr": [0.01]}, cv=2).fit(X, y)
    assert _cache.active == 0 and not _cache._open

    def serve(*args, **kwargs):
        raise AssertionError("serve called outside a search")

    monkeypatch.setattr(_cache, "serve", serve)
    net = classifier().fit(X, y)
    assert len(net.history_) == 3


def test_fingerprint_tells_folds_apart():
    from sktorch.model_selection._fingerprint import fingerprint, token

    a = np.arange(12, dtype=np.float32).reshape(4, 3)
    assert fingerprint(a) == fingerprint(a.copy())
    assert fingerprint(a) != fingerprint(a[::-1])
    assert fingerprint(a) != fingerprint(a.astype(np.float64))
    assert fingerprint(a) == fingerprint(np.asfortranarray(a))
    assert fingerprint(torch.from_numpy(a)) == fingerprint(torch.from_numpy(a.copy()))
    assert fingerprint(torch.utils.data.TensorDataset(torch.from_numpy(a))) is None
    assert token({"lr": 0.1, "callbacks": [EarlyStopping(patience=2)]}) == token(
        {"callbacks": [EarlyStopping(patience=2)], "lr": 0.1})
    assert token([EarlyStopping(patience=2)]) != token([EarlyStopping(patience=3)])


def test_fused_fit_time_is_shared_among_members(clf_data, monkeypatch):
    clock = iter([0.0, 60.0])
    monkeypatch.setattr(_run, "perf_counter", lambda: next(clock))
    X, y = clf_data
    search = GridSearchCV(classifier(), {"lr": [0.01, 0.1]}, cv=3).fit(X, y)
    assert np.all(search.cv_results_["mean_fit_time"] >= 10.0)  # 60 s over 6 members


# ------------------------------------------------------------------ estimator protocol
def test_clone_pickle_and_best_estimator(clf_data):
    X, y = clf_data
    search = GridSearchCV(classifier(), {"lr": [0.01, 0.1]}, cv=2, fuse=True,
                          fuse_memory_budget=2**30)
    params = search.get_params(deep=False)
    assert params["fuse"] is True and params["fuse_memory_budget"] == 2**30
    assert clone(search).get_params(deep=False)["fuse"] is True
    search.fit(X, y)
    assert type(search.best_estimator_) is NeuralNetClassifier
    assert len(search.best_estimator_.history_) == 3  # refit trains normally
    restored = pickle.loads(pickle.dumps(search))
    np.testing.assert_allclose(restored.predict_proba(X), search.predict_proba(X))
    assert isinstance(restored.fuse_report_, FuseReport)
    assert restored.fuse_report_.summary() == search.fuse_report_.summary()
    assert restored.cv_histories_[1][0][:, "train_loss"] == search.cv_histories_[1][0][
        :, "train_loss"]
    assert not hasattr(restored, "_fuse_run")


def test_invalid_fuse_value_is_rejected(clf_data):
    X, y = clf_data
    with pytest.raises(ValueError, match="fuse"):
        GridSearchCV(classifier(), {"lr": [0.01]}, fuse="always").fit(X, y)


def test_dataframe_input_fuses(clf_data):
    pd = pytest.importorskip("pandas")
    X, y = clf_data
    frame = pd.DataFrame(X, columns=[f"f{i}" for i in range(X.shape[1])])
    fused, plain = fit_both(
        lambda fuse: GridSearchCV(classifier(), {"lr": [0.01, 0.1]}, cv=KFold(3),
                                  scoring="neg_log_loss", fuse=fuse), frame, y)
    assert_same_results(fused, plain)
