"""HistoryDisplay: a net's losses and scores per epoch."""

from __future__ import annotations

from collections.abc import Sequence
from numbers import Real
from typing import Any, Optional

import numpy as np

from sktorch.plotting._mpl import epoch_axis, panel_axes

__all__ = ["HistoryDisplay", "numeric_keys"]

_NOT_CURVES = ("epoch", "dur", "batches", "stop_reason")


def _is_number(value: Any) -> bool:
    return isinstance(value, Real) and not isinstance(value, bool)


def numeric_keys(history: Sequence[dict]) -> list[str]:
    """History keys with a number in some epoch, in the order they first appear.

    Leaves out ``epoch``, ``dur``, the ``*_best`` flags and the ``*_batch_count`` counts.
    """
    keys: dict[str, None] = {}
    for row in history:
        for key, value in row.items():
            if (key in _NOT_CURVES or key.endswith(("_best", "_batch_count"))
                    or not _is_number(value)):
                continue
            keys.setdefault(key, None)
    return list(keys)


def _curve(history: Sequence[dict], key: str) -> tuple[np.ndarray, np.ndarray]:
    """Epochs (1-based, as recorded) and values of ``key`` where it was recorded."""
    pairs = [(row.get("epoch", i + 1), float(row[key]))
             for i, row in enumerate(history) if _is_number(row.get(key))]
    return (np.array([p[0] for p in pairs], dtype=float),
            np.array([p[1] for p in pairs], dtype=float))


def _best_epochs(history: Sequence[dict], key: str) -> tuple[np.ndarray, np.ndarray]:
    """Epochs flagged ``<key>_best`` (a new best so far) and the values there."""
    rows = [(row.get("epoch", i + 1), float(row[key])) for i, row in enumerate(history)
            if row.get(f"{key}_best") and _is_number(row.get(key))]
    return (np.array([r[0] for r in rows], dtype=float),
            np.array([r[1] for r in rows], dtype=float))


class HistoryDisplay:
    """Learning curves of one fit: losses on one panel, other scores on another.

    Build it with :meth:`from_estimator` (or :meth:`from_history`); the
    constructor only stores what to draw.

    Parameters
    ----------
    history : History or list of dict
        One dict per epoch, as ``net.history``.
    keys : list of str or None, default=None
        History keys to draw. None: every key with numbers per epoch except
        ``epoch``, ``dur``, the ``*_best`` flags and ``*_batch_count``.
    estimator_name : str or None, default=None
        Shown in the title.

    Attributes
    ----------
    figure_ : matplotlib Figure
    ax_ : ndarray of matplotlib Axes
        One per panel: keys ending in ``loss`` on the first, the other keys on the
        second (a panel with no key is left out).
    lines_ : dict of str to Line2D
        The curve of each key: x the epochs, y the recorded values.
    best_markers_ : dict of str to Line2D
        For each key with ``<key>_best`` flags, markers at the epochs flagged as a
        new best (as the printed log's ``*``).
    stop_text_ : matplotlib Text or None
        The note saying why training stopped early (``history[-1]['stop_reason']``).

    Examples
    --------
    >>> import numpy as np
    >>> from sktorch import NeuralNetRegressor
    >>> from sktorch.plotting import HistoryDisplay
    >>> X = np.random.RandomState(0).randn(40, 3).astype('float32'); y = X[:, 0]
    >>> net = NeuralNetRegressor(max_epochs=3, verbose=0, random_state=0).fit(X, y)
    >>> display = HistoryDisplay.from_estimator(net)
    >>> sorted(display.lines_)
    ['train_loss', 'valid_loss']
    >>> display.lines_['train_loss'].get_xdata().tolist()
    [1.0, 2.0, 3.0]
    >>> import matplotlib.pyplot as plt; plt.close(display.figure_)
    """

    def __init__(self, history: Sequence[dict], *, keys: Optional[Sequence[str]] = None,
                 estimator_name: Optional[str] = None) -> None:
        self.history = history
        self.keys = keys
        self.estimator_name = estimator_name

    @classmethod
    def from_estimator(cls, estimator: Any, *, keys: Optional[Sequence[str]] = None,
                       ax: Any = None) -> HistoryDisplay:
        """Draw the history of a fitted net (or a Pipeline ending in one).

        Parameters
        ----------
        estimator : NeuralNet or Pipeline
            Fitted.
        keys : list of str or None, default=None
            As in the constructor.
        ax : matplotlib Axes, list of Axes or None, default=None
            One Axes per panel, or None for a new figure.

        Returns
        -------
        HistoryDisplay
        """
        net = estimator
        if not hasattr(net, "history") and hasattr(net, "steps"):
            net = net.steps[-1][1]  # a Pipeline: its final step holds the history
        history = getattr(net, "history", None)
        if not history:
            raise ValueError(
                f"HistoryDisplay.from_estimator needs a fitted sktorch net with a history; "
                f"got {type(estimator).__name__} with "
                f"{'no history' if history is None else 'an empty history'}. "
                "Call fit first."
            )
        return cls(history, keys=keys, estimator_name=type(net).__name__).plot(ax=ax)

    @classmethod
    def from_history(cls, history: Sequence[dict], *, keys: Optional[Sequence[str]] = None,
                     ax: Any = None) -> HistoryDisplay:
        """Draw a ``History`` (e.g. one of a search's ``cv_histories_``)."""
        return cls(history, keys=keys).plot(ax=ax)

    def _panels(self) -> list[list[str]]:
        keys = list(self.keys) if self.keys is not None else numeric_keys(self.history)
        known = set(numeric_keys(self.history))
        unknown = [k for k in keys if k not in known]
        if unknown:
            raise ValueError(
                f"HistoryDisplay got keys {unknown} that hold no numbers in the history; "
                f"the keys with numbers per epoch are {sorted(known)}."
            )
        if not keys:
            raise ValueError("HistoryDisplay found no numeric keys to draw in the history.")
        losses = [k for k in keys if k.endswith("loss")]
        scores = [k for k in keys if not k.endswith("loss")]
        return [p for p in (losses, scores) if p]

    def plot(self, ax: Any = None) -> HistoryDisplay:
        """Draw the curves; returns ``self`` with the artists set.

        Parameters
        ----------
        ax : matplotlib Axes, list of Axes or None, default=None
            One Axes per panel (losses, scores), or None for a new figure.
        """
        panels = self._panels()
        fig, axes = panel_axes(ax, len(panels), type(self).__name__)
        self.lines_, self.best_markers_ = {}, {}
        for panel_ax, keys in zip(axes, panels):
            for key in keys:
                x, y = _curve(self.history, key)
                (line,) = panel_ax.plot(x, y, label=key)
                self.lines_[key] = line
                bx, by = _best_epochs(self.history, key)
                if bx.size:
                    (marker,) = panel_ax.plot(bx, by, linestyle="none", marker="*",
                                              markersize=9, color=line.get_color(),
                                              label="_nolegend_")
                    self.best_markers_[key] = marker
            epoch_axis(panel_ax)
            panel_ax.set_ylabel("loss" if keys[0].endswith("loss") else "score")
            panel_ax.legend(loc="best")
            panel_ax.grid(True, alpha=0.3)
        reason = self.history[-1].get("stop_reason") if self.history else None
        self.stop_text_ = None
        if reason:
            self.stop_text_ = axes[0].annotate(
                f"stopped after epoch {self.history[-1].get('epoch', len(self.history))}: "
                f"{reason}", xy=(0.0, -0.16), xycoords="axes fraction", va="top", fontsize="small")
        if self.estimator_name:
            fig.suptitle(f"{self.estimator_name}: training history (* new best)")
        self.figure_, self.ax_ = fig, axes
        return self
