"""A search with verbose >= 1 shows members done / total, times and the best score.

With tqdm: a ``tqdm.auto`` bar; without: a plain line on stderr; verbose=0: nothing.
Each case runs fused and unfused (``fuse=False``): 8 candidates x 5 folds = 40 members.
"""

import io
import sys

import numpy as np
import pytest
import tqdm.auto
from sklearn.datasets import make_regression

from sktorch import NeuralNetRegressor
from sktorch.model_selection import GridSearchCV, HalvingGridSearchCV
from sktorch.model_selection._fused import Member, fit_members
from sktorch.model_selection._progress import SearchProgress

GRID = {"lr": [0.001, 0.003, 0.01, 0.03], "max_epochs": [1, 2]}  # 8 candidates


@pytest.fixture(scope="module")
def data():
    X, y = make_regression(100, 4, noise=1.0, random_state=0)
    return X.astype(np.float32), (y / 100).astype(np.float32)


def _net():
    return NeuralNetRegressor(train_split=None, verbose=0, random_state=0, batch_size=32)


def _search(fuse, verbose):
    return GridSearchCV(_net(), GRID, cv=5, fuse=fuse, verbose=verbose)


@pytest.fixture
def bars(monkeypatch):
    """Every tqdm.auto bar created during the test, with the size of each update."""
    made = []

    class Recording(tqdm.auto.tqdm):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.updates = []
            made.append(self)

        def update(self, n=1):
            self.updates.append(n)
            return super().update(n)

    monkeypatch.setattr(tqdm.auto, "tqdm", Recording)
    return made


@pytest.fixture
def no_tqdm(monkeypatch):
    """As if tqdm were not installed: importing it raises ImportError."""
    monkeypatch.setitem(sys.modules, "tqdm", None)
    monkeypatch.setitem(sys.modules, "tqdm.auto", None)


@pytest.mark.parametrize("fuse", ["auto", False])
def test_tqdm_bar_counts_every_member_and_shows_best_score(data, bars, fuse, capsys):
    search = _search(fuse, verbose=1).fit(*data)
    assert len(bars) == 1
    bar = bars[0]
    assert bar.total == 40 and bar.n == 40
    assert bar.postfix == f"best={search.best_score_:.4g}"
    if fuse == "auto":  # a fused chunk's members finish together, before scoring
        assert max(bar.updates) > 1
    else:  # each of scikit-learn's fits moves the bar by one
        assert bar.updates == [1] * 40
    captured = capsys.readouterr()
    # scikit-learn's own verbose line stays, on stdout as scikit-learn prints it.
    assert "Fitting 5 folds for each of 8 candidates, totalling 40 fits" in captured.out


@pytest.mark.parametrize("fuse", ["auto", False])
def test_plain_line_without_tqdm(data, no_tqdm, fuse, capsys):
    search = _search(fuse, verbose=1).fit(*data)
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert lines, "expected progress lines on stderr"
    assert all(line.startswith("GridSearchCV: members ") for line in lines)
    assert "members 40/40" in lines[-1]
    assert lines[-1].endswith(f"best {search.best_score_:.4g}")
    assert "\r" not in err  # not a terminal: whole lines, not carriage returns
    assert len(lines) <= 12  # one line per group or tenth, not one per fit


@pytest.mark.parametrize("fuse", ["auto", False])
def test_verbose_0_prints_nothing(data, bars, fuse, capsys):
    _search(fuse, verbose=0).fit(*data)
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""
    assert bars == []


def test_halving_total_grows_with_each_iteration(data, bars):
    search = HalvingGridSearchCV(_net(), {"lr": [0.001, 0.003, 0.01, 0.03]}, cv=2,
                                 resource="max_epochs", max_resources=4, min_resources=1,
                                 factor=2, verbose=1).fit(*data)
    n_members = sum(search.n_candidates_) * 2
    assert bars[0].total == n_members and bars[0].n == n_members
    assert bars[0].postfix == f"best={search.best_score_:.4g}"


def test_fit_members_reports_each_member_once(data):
    X, y = data
    nets = [_net().set_params(lr=lr, max_epochs=1) for lr in (0.02, 0.1, 0.2)]
    nets.append(_net().set_params(max_epochs=1, batch_size=16))  # alone: fitted sequentially
    calls = []
    reports = fit_members([Member(net, X, y) for net in nets], on_done=calls.append)
    assert sorted(i for call in calls for i in call) == [0, 1, 2, 3]
    assert sorted(map(sorted, calls)) == [[0, 1, 2], [3]]
    assert sorted(i for r in reports for i in r.members) == [0, 1, 2, 3]
    assert fit_members([Member(_net().set_params(max_epochs=1), X, y)])  # old contract


class _Terminal(io.StringIO):
    def isatty(self):
        return True


def test_plain_line_in_a_terminal_rewrites_one_line():
    out = _Terminal()
    bar = SearchProgress("RandomizedSearchCV", file=out, use_tqdm=False)
    bar.add_total(4)
    for fold in range(4):
        bar.done([(0, fold)], group_end=False)
    bar.set_best(-0.5)
    bar.close()
    text = out.getvalue()
    assert text.count("\n") == 1 and text.endswith("\n")
    assert text.count("\r") == 6
    last = text.rsplit("\r", 1)[-1]
    assert "members 4/4" in last and "left 0:00" in last and last.rstrip().endswith("best -0.5")
