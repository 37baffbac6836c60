"""SearchDisplay: each candidate's learning curve and the score per searched parameter."""

from __future__ import annotations

from collections.abc import Sequence
from numbers import Real
from typing import Any, Optional

import numpy as np

from sktorch.plotting._history import _curve, numeric_keys
from sktorch.plotting._mpl import epoch_axis, import_pyplot, panel_axes

__all__ = ["SearchDisplay"]


def fold_mean_std(histories: Sequence[Any], key: str) -> tuple[np.ndarray, ...]:
    """Epochs, mean and std over folds of ``key``; an epoch counts the folds that reached it.

    Folds may stop at different epochs (early stopping), so each epoch's mean is
    over the folds that recorded it.
    """
    values: dict[float, list[float]] = {}
    for history in histories:
        for epoch, value in zip(*_curve(history, key)):
            values.setdefault(epoch, []).append(value)
    epochs = np.array(sorted(values), dtype=float)
    mean = np.array([np.mean(values[e]) for e in epochs])
    std = np.array([np.std(values[e]) for e in epochs])
    return epochs, mean, std


def _check_search(search: Any) -> None:
    name = type(search).__name__
    if not hasattr(search, "cv_results_"):
        raise ValueError(f"SearchDisplay.from_estimator needs a fitted search; this {name} "
                         "has no cv_results_. Call fit first.")
    if not hasattr(search, "cv_histories_"):
        raise TypeError(
            f"SearchDisplay.from_estimator needs the members' histories (cv_histories_), "
            f"which {type(search).__module__}.{name} does not record. Use sktorch's search "
            f"classes, same parameters: `from sktorch.model_selection import {name}`."
        )


def _score_key(search: Any, scoring: Optional[str]) -> str:
    results = search.cv_results_
    if scoring is None:
        refit = getattr(search, "refit", True)
        scoring = refit if isinstance(refit, str) else "score"
    key = f"mean_test_{scoring}"
    if key not in results:
        names = sorted(k[len("mean_test_"):] for k in results if k.startswith("mean_test_"))
        raise ValueError(f"SearchDisplay: no score {scoring!r} in cv_results_; the scores are "
                         f"{names}. Pass scoring=<one of them>.")
    return scoring


def _short(param: str) -> str:
    return param.rsplit("__", 1)[-1]


def _label(params: dict, index: int) -> str:
    return f"#{index} " + ", ".join(f"{_short(k)}={v}" for k, v in params.items())


class SearchDisplay:
    """A search at a glance: learning curves of the candidates and score per parameter.

    Build it with :meth:`from_estimator`; the constructor only stores what to draw.

    Parameters
    ----------
    cv_histories : list of list of History
        ``cv_histories[candidate][fold]``, as a sktorch search's ``cv_histories_``
        (None entries, fits made in another process, are skipped).
    cv_results : dict
        The search's ``cv_results_``.
    key : str, default='valid_loss'
        History key drawn as the learning curve (``'train_loss'`` when the
        histories have no ``'valid_loss'``).
    scoring : str, default='score'
        Which ``mean_test_<scoring>`` of ``cv_results`` to draw per parameter.

    Attributes
    ----------
    figure_ : matplotlib Figure
    ax_ : ndarray of matplotlib Axes
        The learning curves first, then one Axes per searched parameter.
    lines_ : dict of int to Line2D
        Per candidate (index into ``cv_results_['params']``): the mean over folds of
        ``key`` per epoch.
    fill_between_ : dict of int to PolyCollection
        Per candidate: the band mean ± std over folds.
    errorbar_ : dict of str to ErrorbarContainer
        Per searched parameter: ``mean_test_<scoring>`` ± std against its values,
        one point per candidate.
    best_marker_ : dict of str to Line2D
        Per searched parameter: the best-ranked candidate's point.

    Examples
    --------
    >>> import numpy as np
    >>> from sktorch import NeuralNetRegressor
    >>> from sktorch.model_selection import GridSearchCV
    >>> from sktorch.plotting import SearchDisplay
    >>> X = np.random.RandomState(0).randn(60, 3).astype('float32'); y = X[:, 0]
    >>> net = NeuralNetRegressor(max_epochs=3, train_split=None, verbose=0, random_state=0)
    >>> search = GridSearchCV(net, {'lr': [0.01, 0.1]}, cv=3).fit(X, y)
    >>> display = SearchDisplay.from_estimator(search)
    >>> sorted(display.lines_), list(display.errorbar_)
    ([0, 1], ['lr'])
    >>> import matplotlib.pyplot as plt; plt.close(display.figure_)
    """

    def __init__(self, cv_histories: Sequence[Sequence[Any]], cv_results: dict, *,
                 key: str = "valid_loss", scoring: str = "score") -> None:
        self.cv_histories = cv_histories
        self.cv_results = cv_results
        self.key = key
        self.scoring = scoring

    @classmethod
    def from_estimator(cls, search: Any, *, key: Optional[str] = None,
                       scoring: Optional[str] = None, ax: Any = None) -> SearchDisplay:
        """Draw a fitted sktorch search (``sktorch.model_selection``).

        Parameters
        ----------
        search : sktorch.model_selection.GridSearchCV (or another sktorch search)
            Fitted.
        key : str or None, default=None
            History key of the learning curves; None: ``'valid_loss'`` when recorded,
            else ``'train_loss'``.
        scoring : str or None, default=None
            Score of ``cv_results_`` per parameter; None: the one the search refits on.
        ax : list of matplotlib Axes or None, default=None
            ``1 + n_params`` Axes, or None for a new figure.

        Returns
        -------
        SearchDisplay
        """
        _check_search(search)
        histories = search.cv_histories_
        if key is None:
            recorded = {k for cand in histories for h in cand if h for k in numeric_keys(h)}
            key = "valid_loss" if "valid_loss" in recorded else "train_loss"
        return cls(histories, search.cv_results_, key=key,
                   scoring=_score_key(search, scoring)).plot(ax=ax)

    def _param_names(self) -> list[str]:
        names: dict[str, None] = {}
        for params in self.cv_results["params"]:
            for name in params:
                names.setdefault(name, None)
        return list(names)

    def plot(self, ax: Any = None) -> SearchDisplay:
        """Draw; returns ``self`` with the artists set.

        Parameters
        ----------
        ax : list of matplotlib Axes or None, default=None
            One Axes for the curves plus one per searched parameter.
        """
        names = self._param_names()
        fig, axes = panel_axes(ax, 1 + len(names), type(self).__name__)
        self._plot_curves(axes[0])
        self.errorbar_, self.best_marker_ = {}, {}
        for param_ax, name in zip(axes[1:], names):
            self._plot_param(param_ax, name)
        self.figure_, self.ax_ = fig, axes
        return self

    def _plot_curves(self, ax: Any) -> None:
        cmap = import_pyplot().get_cmap("viridis")
        ranks = np.asarray(self.cv_results.get("rank_test_" + self.scoring,
                                               np.arange(1, len(self.cv_histories) + 1)))
        order = np.argsort(ranks, kind="stable")
        self.lines_, self.fill_between_ = {}, {}
        for position, index in enumerate(order):
            folds = [h for h in self.cv_histories[index] if h]
            epochs, mean, std = fold_mean_std(folds, self.key)
            if not epochs.size:
                continue
            color = cmap(position / max(len(order) - 1, 1) * 0.9)
            (line,) = ax.plot(epochs, mean, color=color,
                              label=_label(self.cv_results["params"][index], int(index)))
            self.lines_[int(index)] = line
            self.fill_between_[int(index)] = ax.fill_between(
                epochs, mean - std, mean + std, color=color, alpha=0.2)
        if not self.lines_:
            raise ValueError(
                f"SearchDisplay found no {self.key!r} in the members' histories (all None: "
                "fits made in other processes are not recorded; use the threading backend or "
                "n_jobs=None).")
        epoch_axis(ax)
        ax.set_ylabel(f"{self.key} (mean ± std over folds)")
        ax.set_title("learning curves, best ranked darkest")
        ax.legend(loc="best", fontsize="x-small")
        ax.grid(True, alpha=0.3)

    def _plot_param(self, ax: Any, name: str) -> None:
        results, scoring = self.cv_results, self.scoring
        rows = [i for i, p in enumerate(results["params"]) if name in p]
        values = [results["params"][i][name] for i in rows]
        mean = np.asarray(results[f"mean_test_{scoring}"], dtype=float)[rows]
        std = np.asarray(results[f"std_test_{scoring}"], dtype=float)[rows]
        numeric = all(isinstance(v, Real) and not isinstance(v, bool) for v in values)
        if numeric:
            x = np.asarray(values, dtype=float)
            if x.min() > 0 and x.max() / x.min() >= 100:
                ax.set_xscale("log")
        else:
            labels = list(dict.fromkeys(str(v) for v in values))
            x = np.array([labels.index(str(v)) for v in values], dtype=float)
            ax.set_xticks(range(len(labels)), labels)
        self.errorbar_[name] = ax.errorbar(x, mean, yerr=std, linestyle="none", marker="o",
                                           capsize=3, label="candidates")
        best = int(np.argmin(np.asarray(results[f"rank_test_{scoring}"])[rows]))
        (self.best_marker_[name],) = ax.plot(x[best], mean[best], linestyle="none", marker="*",
                                             markersize=14, color="crimson", label="best")
        ax.set_xlabel(name)
        ax.set_ylabel(f"mean test {scoring}")
        ax.legend(loc="best", fontsize="small")
        ax.grid(True, alpha=0.3)
