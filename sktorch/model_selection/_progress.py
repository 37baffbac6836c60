"""The progress bar of a search with ``verbose >= 1``: members done, times, best score.

A member is one (candidate, fold) fit. :class:`SearchProgress` counts members as they
finish (fused members when their group or chunk finishes, the others when their own
fit returns; marking a member twice counts it once), grows its total as each batch of
candidates arrives (halving searches have several), and shows the best mean test score
of the candidates scored so far once scikit-learn has scored a batch.

With tqdm installed (``pip install sktorch[progress]``) it draws a ``tqdm.auto`` bar
(a widget in notebooks); without, a plain line on stderr, rewritten in place with a
carriage return on a terminal and printed once per update group otherwise.
"""

from __future__ import annotations

import sys
import threading
from time import perf_counter
from typing import Any

import numpy as np

__all__ = ["SearchProgress", "best_score"]


def _clock(seconds: float) -> str:
    minutes, seconds = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{seconds:02d}" if hours else f"{minutes}:{seconds:02d}"


def best_score(search: Any, results: Any) -> float | None:
    """The best mean test score in ``results`` (a partial ``cv_results_``), or None.

    Single metric: ``mean_test_score``; several: the metric named by ``refit`` (None
    when ``refit`` is not a name). Halving searches compare the latest iteration only,
    as they choose ``best_index_`` there.
    """
    if not isinstance(results, dict):
        return None
    key = "mean_test_score"
    if key not in results:
        refit = getattr(search, "refit", None)
        key = f"mean_test_{refit}" if isinstance(refit, str) else None
    if key is None or key not in results:
        return None
    scores = np.asarray(results[key], dtype=float)
    if "iter" in results and len(results["iter"]) == len(scores):
        iters = np.asarray(results["iter"])
        scores = scores[iters == iters.max()] if len(iters) else scores
    scores = scores[np.isfinite(scores)]
    return float(scores.max()) if scores.size else None


def _tqdm_class() -> Any:
    """``tqdm.auto.tqdm`` (a widget in notebooks), or None when tqdm is not installed."""
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return None
    return tqdm


class SearchProgress:
    """Members done / total, elapsed, time left and best score of one ``search.fit``.

    Parameters
    ----------
    desc : str
        Label in front of the bar (the search class name).
    file : file-like, optional
        Where to write; default ``sys.stderr`` (as tqdm does).

    Examples
    --------
    >>> import io
    >>> out = io.StringIO()
    >>> bar = SearchProgress('GridSearchCV', file=out, use_tqdm=False)
    >>> bar.add_total(4)
    >>> bar.done([(0, 0), (0, 1)]); bar.done([(0, 1)])
    >>> bar.set_best(0.75)
    >>> bar.close()
    >>> bar.n, bar.total, bar.best
    (2, 4, 0.75)
    >>> 'members 2/4' in out.getvalue() and 'best 0.75' in out.getvalue()
    True
    """

    def __init__(self, desc: str, file: Any = None, use_tqdm: bool = True):
        self.desc = desc
        self.file = file if file is not None else sys.stderr
        self.total = 0
        self.best: float | None = None
        self._done: set = set()
        self._lock = threading.Lock()  # scikit-learn's threads report fits concurrently
        self._start = perf_counter()
        self._closed = False
        tqdm = _tqdm_class() if use_tqdm else None
        self.bar = None if tqdm is None else tqdm(
            total=0, desc=desc, unit="member", file=self.file, dynamic_ncols=True)
        isatty = getattr(self.file, "isatty", None)
        self._tty = bool(isatty()) if callable(isatty) else False
        self._printed = -1  # members done at the last plain line (no terminal)
        self._last = None  # (n, total, best) of the last plain line

    @property
    def n(self) -> int:
        """Members done so far."""
        return len(self._done)

    def add_total(self, n_members: int) -> None:
        """A batch of ``n_members`` members is about to train."""
        with self._lock:
            self.total += n_members
            if self.bar is not None:
                self.bar.total = self.total
                self.bar.refresh()

    def done(self, member_ids: Any, group_end: bool = True) -> None:
        """Members ``member_ids`` (``(candidate, fold)`` pairs) have finished training.

        ``group_end=False`` marks a single fit inside scikit-learn's loop: without a
        terminal the plain line is then printed only at each tenth of the total.
        """
        with self._lock:
            before = len(self._done)
            self._done.update(member_ids)
            new = len(self._done) - before
            if new and self.bar is not None:
                self.bar.update(new)
            elif new:
                self._print(group_end)

    def set_best(self, score: float | None) -> None:
        """Show ``score`` as the best mean test score so far (None: keep the last)."""
        if score is None:
            return
        with self._lock:
            self.best = score
            if self.bar is not None:
                self.bar.set_postfix_str(f"best={score:.4g}")
            else:
                self._print(True)

    def close(self) -> None:
        """End the bar (idempotent); the plain line ends with a newline."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            if self.bar is not None:
                self.bar.close()
            else:
                self._print(True, final=True)

    def line(self) -> str:
        """The plain progress line, e.g. ``'GridSearchCV: members 8/40 | elapsed 0:03 ...'``."""
        elapsed = perf_counter() - self._start
        n, total = self.n, self.total
        left = _clock(elapsed * (total - n) / n) if n else "?"
        best = "?" if self.best is None else f"{self.best:.4g}"
        return (f"{self.desc}: members {n}/{total} | elapsed {_clock(elapsed)} | "
                f"left {left} | best {best}")

    def _print(self, group_end: bool, final: bool = False) -> None:
        if self._tty:
            self.file.write("\r" + self.line() + ("\n" if final else ""))
        else:
            step = max(1, self.total // 10)
            if not (group_end or self.n // step != self._printed // step):
                return
            state = (self.n, self.total, self.best)
            if state == self._last:
                return  # nothing new since the last line
            self.file.write(self.line() + "\n")
            self._printed, self._last = self.n, state
        self.file.flush()
