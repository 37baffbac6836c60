"""sktorch.plotting: the displays draw the history's values, not just something.

Rendered with matplotlib's Agg backend; each test reads back the drawn artists
(x/y data, labels, markers, legend text) and compares them with the history or
``cv_results_`` they came from.
"""

import sys

import numpy as np
import pytest
from sklearn.datasets import make_classification
from sklearn.model_selection import GridSearchCV as SkGridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sktorch import History, NeuralNetClassifier, NeuralNetRegressor
from sktorch.callbacks import EarlyStopping
from sktorch.model_selection import GridSearchCV
from sktorch.plotting import HistoryDisplay, SearchDisplay
from sktorch.plotting._search import fold_mean_std

mpl = pytest.importorskip("matplotlib")
mpl.use("Agg")
plt = pytest.importorskip("matplotlib.pyplot")


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


@pytest.fixture(scope="module")
def data():
    X, y = make_classification(120, 6, n_informative=4, random_state=0)
    return X.astype(np.float32), y


def make_history(rows):
    history = History()
    for row in rows:
        history.new_epoch()
        for key, value in row.items():
            history.record(key, value)
    return history


def legend_texts(ax):
    return [t.get_text() for t in ax.get_legend().get_texts()]


# ------------------------------------------------------------------ HistoryDisplay
def test_history_display_draws_every_recorded_curve_with_its_values(data):
    X, y = data
    net = NeuralNetClassifier(max_epochs=4, lr=0.1, verbose=0, random_state=0).fit(X, y)
    display = HistoryDisplay.from_estimator(net)

    assert set(display.lines_) == {"train_loss", "valid_loss", "valid_acc"}
    for key, line in display.lines_.items():
        np.testing.assert_array_equal(line.get_xdata(), [1, 2, 3, 4])
        np.testing.assert_allclose(line.get_ydata(), net.history[:, key])
        assert line.get_label() == key
    loss_ax, score_ax = display.ax_
    assert legend_texts(loss_ax) == ["train_loss", "valid_loss"]
    assert legend_texts(score_ax) == ["valid_acc"]
    assert loss_ax.get_xlabel() == "epoch" and score_ax.get_ylabel() == "score"
    assert display.figure_ is loss_ax.figure
    assert display.stop_text_ is None  # ran all epochs


def test_history_display_marks_the_epochs_flagged_best():
    history = make_history([
        {"epoch": 1, "train_loss": 1.0, "valid_loss": 0.9, "valid_loss_best": True, "dur": 0.1},
        {"epoch": 2, "train_loss": 0.8, "valid_loss": 0.7, "valid_loss_best": True, "dur": 0.1},
        {"epoch": 3, "train_loss": 0.6, "valid_loss": 0.75, "valid_loss_best": False,
         "dur": 0.1},
    ])
    display = HistoryDisplay.from_history(history)

    assert set(display.lines_) == {"train_loss", "valid_loss"}  # not dur, not the flag
    marker = display.best_markers_["valid_loss"]
    np.testing.assert_array_equal(marker.get_xdata(), [1, 2])
    np.testing.assert_allclose(marker.get_ydata(), [0.9, 0.7])
    assert marker.get_marker() == "*"
    assert marker.get_color() == display.lines_["valid_loss"].get_color()
    assert "train_loss" not in display.best_markers_
    assert len(display.ax_) == 1  # no score panel without scores
    assert len(display.ax_[0].get_lines()) == 3  # two curves and the markers


def test_history_display_notes_why_training_stopped(data):
    X, y = data
    # lr=0: valid_loss never improves, so EarlyStopping stops after patience epochs.
    net = NeuralNetClassifier(max_epochs=10, lr=0.0, verbose=0, random_state=0,
                              callbacks=[EarlyStopping(patience=2)]).fit(X, y)
    reason = net.history[-1]["stop_reason"]
    display = HistoryDisplay.from_estimator(net)

    assert display.stop_text_ is not None
    assert reason in display.stop_text_.get_text()
    assert f"after epoch {len(net.history)}" in display.stop_text_.get_text()
    assert len(display.lines_["valid_loss"].get_xdata()) == len(net.history) < 10


def test_history_display_keys_choose_the_curves_and_unknown_keys_are_named():
    history = make_history([{"epoch": 1, "train_loss": 1.0, "valid_acc": 0.5},
                            {"epoch": 2, "train_loss": 0.5, "valid_acc": 0.7}])
    display = HistoryDisplay.from_history(history, keys=["valid_acc"])
    assert list(display.lines_) == ["valid_acc"]
    np.testing.assert_allclose(display.lines_["valid_acc"].get_ydata(), [0.5, 0.7])

    with pytest.raises(ValueError, match=r"\['valid_lose'\].*\['train_loss', 'valid_acc'\]"):
        HistoryDisplay.from_history(history, keys=["valid_lose"])


def test_history_display_draws_on_the_axes_given():
    history = make_history([{"epoch": 1, "train_loss": 1.0, "valid_acc": 0.5}])
    fig, axes = plt.subplots(1, 2)
    display = HistoryDisplay(history).plot(ax=axes)
    assert display.figure_ is fig and list(display.ax_) == list(axes)
    assert [line.get_label() for line in axes[1].get_lines()] == ["valid_acc"]

    _, one_ax = plt.subplots()
    with pytest.raises(ValueError, match="2 panel.*got 1"):
        HistoryDisplay(history).plot(ax=one_ax)


def test_history_display_reads_a_pipeline_and_refuses_an_unfitted_net(data):
    X, y = data
    pipe = make_pipeline(StandardScaler(), NeuralNetClassifier(max_epochs=2, verbose=0,
                                                               random_state=0)).fit(X, y)
    display = HistoryDisplay.from_estimator(pipe)
    np.testing.assert_allclose(display.lines_["train_loss"].get_ydata(),
                               pipe[-1].history[:, "train_loss"])
    with pytest.raises(ValueError, match="Call fit first"):
        HistoryDisplay.from_estimator(NeuralNetRegressor())


def test_missing_matplotlib_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", None)
    history = make_history([{"epoch": 1, "train_loss": 1.0}])
    with pytest.raises(ImportError, match=r"pip install sktorch\[plot\]"):
        HistoryDisplay.from_history(history)


# ------------------------------------------------------------------- SearchDisplay
@pytest.fixture(scope="module")
def search(data):
    X, y = data
    net = NeuralNetClassifier(max_epochs=3, verbose=0, random_state=0)
    grid = {"lr": [0.01, 0.1], "batch_size": [16, 64]}
    return GridSearchCV(net, grid, cv=2).fit(X, y)


def test_search_display_draws_each_candidates_mean_curve_over_folds(search):
    display = SearchDisplay.from_estimator(search)
    params = search.cv_results_["params"]

    assert sorted(display.lines_) == list(range(len(params)))
    for index, line in display.lines_.items():
        per_fold = np.array([h[:, "valid_loss"] for h in search.cv_histories_[index]])
        np.testing.assert_array_equal(line.get_xdata(), [1, 2, 3])
        np.testing.assert_allclose(line.get_ydata(), per_fold.mean(axis=0))
        band = display.fill_between_[index].get_paths()[0].vertices[:, 1]
        np.testing.assert_allclose(band.min(), (per_fold.mean(0) - per_fold.std(0)).min())
        np.testing.assert_allclose(band.max(), (per_fold.mean(0) + per_fold.std(0)).max())
        assert line.get_label() == (f"#{index} batch_size={params[index]['batch_size']}, "
                                    f"lr={params[index]['lr']}")
    curves_ax = display.ax_[0]
    assert curves_ax.get_ylabel().startswith("valid_loss")
    assert len(legend_texts(curves_ax)) == len(params)


def test_search_display_draws_the_score_against_each_parameter(search):
    display = SearchDisplay.from_estimator(search)
    results = search.cv_results_

    assert list(display.errorbar_) == ["batch_size", "lr"]  # as in cv_results_['params']
    assert len(display.ax_) == 3
    for name, ax in zip(["batch_size", "lr"], display.ax_[1:]):
        points = display.errorbar_[name].lines[0]
        np.testing.assert_allclose(points.get_xdata(), [p[name] for p in results["params"]])
        np.testing.assert_allclose(points.get_ydata(), results["mean_test_score"])
        best = int(np.argmin(results["rank_test_score"]))
        star = display.best_marker_[name]
        np.testing.assert_allclose(star.get_xdata(), [results["params"][best][name]])
        np.testing.assert_allclose(star.get_ydata(), [results["mean_test_score"][best]])
        assert ax.get_xlabel() == name and ax.get_ylabel() == "mean test score"


def test_search_display_refuses_a_scikit_learn_search(data):
    X, y = data
    plain = SkGridSearchCV(NeuralNetClassifier(max_epochs=1, verbose=0), {"lr": [0.1]},
                           cv=2).fit(X, y)
    with pytest.raises(TypeError, match="from sktorch.model_selection import GridSearchCV"):
        SearchDisplay.from_estimator(plain)
    with pytest.raises(ValueError, match="Call fit first"):
        SearchDisplay.from_estimator(GridSearchCV(NeuralNetClassifier(), {"lr": [0.1]}))


def _results(params, scores):
    return {"params": params, "mean_test_score": np.array(scores),
            "std_test_score": np.zeros(len(scores)),
            "rank_test_score": np.argsort(np.argsort(-np.array(scores))) + 1}


def test_fold_curves_of_unequal_length_average_the_folds_that_reached_each_epoch():
    long = make_history([{"epoch": e, "valid_loss": v} for e, v in [(1, 1.0), (2, 0.6), (3, 0.2)]])
    short = make_history([{"epoch": e, "valid_loss": v} for e, v in [(1, 0.8), (2, 0.4)]])
    epochs, mean, std = fold_mean_std([long, short], "valid_loss")
    np.testing.assert_array_equal(epochs, [1, 2, 3])
    np.testing.assert_allclose(mean, [0.9, 0.5, 0.2])
    np.testing.assert_allclose(std, [0.1, 0.1, 0.0])


def test_search_display_categorical_and_log_spaced_parameters():
    h = make_history([{"epoch": 1, "valid_loss": 1.0}, {"epoch": 2, "valid_loss": 0.5}])
    params = [{"lr": 1e-3, "nonlin": "relu"}, {"lr": 1e-1, "nonlin": "tanh"}]
    display = SearchDisplay([[h], [None, h]], _results(params, [0.7, 0.9])).plot()
    lr_ax, nonlin_ax = display.ax_[1:]
    assert lr_ax.get_xscale() == "log"  # lr spans two decades
    assert [t.get_text() for t in nonlin_ax.get_xticklabels()] == ["relu", "tanh"]
    np.testing.assert_array_equal(display.errorbar_["nonlin"].lines[0].get_xdata(), [0, 1])
    np.testing.assert_array_equal(display.best_marker_["nonlin"].get_xdata(), [1])
    assert sorted(display.lines_) == [0, 1]  # the None history is skipped


def test_search_display_without_any_recorded_history_says_why():
    params = [{"lr": 0.1}]
    with pytest.raises(ValueError, match="other processes"):
        SearchDisplay([[None, None]], _results(params, [0.5])).plot()
