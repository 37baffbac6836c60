"""One search's fit: fuse each batch of candidates, then let scikit-learn evaluate it.

scikit-learn's ``BaseSearchCV.fit`` calls ``_run_search(evaluate_candidates)``, and
``evaluate_candidates`` splits, fits, scores and builds ``cv_results_``. A
:class:`SearchRun` wraps ``evaluate_candidates``: it makes the splits once, trains
the batch's members with :func:`fit_members` (unless ``fuse=False``), opens a fit
cache that hands the trained members to scikit-learn's own ``net.fit`` calls, and
passes scikit-learn the very same splits. What it learns on the way (which members
fused, each member's history, the fused training time) it keeps for the search.
"""

from __future__ import annotations

import contextlib
from time import perf_counter
from typing import Any

from sklearn.base import clone, is_classifier
from sklearn.model_selection import check_cv
from sklearn.utils import indexable
from sklearn.utils.validation import _check_method_params

from sktorch.model_selection._cache import FitCache, bypass
from sktorch.model_selection._fused._loop import DIVERGED
from sktorch.model_selection._fused._members import ALONE
from sktorch.model_selection._members import Prepared, prepare_members
from sktorch.model_selection._progress import best_score
from sktorch.model_selection._report import FuseGroup, FuseReport

__all__ = ["FixedSplits", "SearchRun"]


class FixedSplits:
    """A splitter that yields splits made beforehand (so fused and scored folds agree)."""

    def __init__(self, splits: list):
        self.splits = splits

    def split(self, X: Any = None, y: Any = None, groups: Any = None, **params: Any):
        yield from self.splits

    def get_n_splits(self, X: Any = None, y: Any = None, groups: Any = None, **params: Any):
        return len(self.splits)


def _left_behind() -> None:
    """What a :class:`SearchRun` becomes in another process: nothing."""
    return None


class SearchRun:
    """State of one ``search.fit``: the data, the report, histories and fused times."""

    def __init__(self, search: Any, X: Any, y: Any, params: dict):
        self.search = search
        self._fit_args = (X, y, params)
        self._data = None
        self.report = FuseReport()
        self.histories: list[list[Any]] = []  # [candidate][fold]
        self.extra_fit_time: list[float] = []  # per scikit-learn fit, in its order
        self.iteration = 0
        # members that did not fuse for no fault of fusion: their own fit raises (a
        # user error in the candidate: error_score applies) or they diverged while
        # training fused and were refit alone for on_nan; fuse=True accepts them
        self.not_fusion_failures: set = set()
        self.progress = None  # a SearchProgress when the search's verbose >= 1
        fuse = search.fuse
        self.fuse = fuse if isinstance(fuse, str) else bool(fuse)  # 'auto', True or False
        # scale-out hook: the joblib backend the user chose, before fit enters threads
        from sktorch.model_selection._parallel import outer_backend

        self.backend = outer_backend()

    def __reduce__(self) -> tuple:
        # scikit-learn hands the search itself to every fit task (``caller=self``), and
        # the search holds this run while it fits: pickled whole, every task would
        # carry X, y, the histories and the resume store. Nothing here is needed
        # in another process.
        return _left_behind, ()

    def data(self) -> tuple[Any, Any, Any]:
        """X, y and the routed fit parameters, as scikit-learn's ``fit`` computes them."""
        if self._data is None:
            X, y, params = self._fit_args
            X, y = indexable(X, y)
            params = _check_method_params(X, params=params)
            self._data = X, y, self.search._get_routed_params_for_fit(params)
        return self._data

    def _default_cv(self, y: Any) -> Any:
        """The splitter scikit-learn uses when ``evaluate_candidates`` gets none."""
        checked = getattr(self.search, "_checked_cv_orig", None)  # scikit-learn >= 1.7
        if checked is not None:
            return checked
        return check_cv(self.search.cv, y, classifier=is_classifier(self.search.estimator))

    def wrap(self, evaluate_candidates: Any) -> Any:
        """``evaluate_candidates`` that fuses each batch before scikit-learn fits it."""

        def fused_evaluate(candidate_params, cv=None, more_results=None, **kwargs):
            candidates = list(candidate_params)
            X, y, routed = self.data()
            cv = cv or self._default_cv(y)
            splits = list(cv.split(X, y, **routed.splitter.split))
            first = len(self.histories)
            self.histories += [[None] * len(splits) for _ in candidates]
            prepared = prepare_members(clone(self.search.estimator), candidates, splits, X, y,
                                       routed.estimator.fit, first_candidate=first)
            batch_ids = [(first + c, s) for c in range(len(candidates))
                         for s in range(len(splits))]
            cache = FitCache()
            if self.progress is not None:
                self.progress.add_total(len(batch_ids))
                cache.on_fit = lambda member_id: self.progress.done([member_id], False)
            seconds = self._train(prepared, cache)
            self.extra_fit_time += [seconds.get(member_id, 0.0) for member_id in batch_ids]
            self.iteration += 1
            # scikit-learn's per-fit calls (fuse: cache hits and scoring) share the cores
            with cache.open(), self._fits_budget():
                results = evaluate_candidates(candidates, FixedSplits(splits), more_results,
                                              **kwargs)
            for (candidate, fold), history in cache.histories.items():
                self.histories[candidate][fold] = history
            if self.progress is not None:  # fits the cache did not see (not sktorch nets)
                self.progress.done(batch_ids)
                self.progress.set_best(best_score(self.search, results))
            return results

        return fused_evaluate

    def _fits_budget(self) -> Any:
        """``thread_budget`` for scikit-learn's fits when they run in threads of this process.

        With a process or cluster backend (``fuse=False`` under loky or dask) this
        process only waits while the workers fit, then refits: it keeps its threads.
        """
        from joblib.parallel import get_active_backend

        from sktorch.model_selection._parallel import _in_this_process, thread_budget

        if not _in_this_process(get_active_backend()[0]):
            return contextlib.nullcontext()
        return thread_budget(self.search.n_jobs)

    def _train(self, prepared: Prepared, cache: FitCache) -> dict:
        """Train the members ahead (unless ``fuse=False``); seconds per member trained."""
        if getattr(self.search, "resume", False):  # scale-out hook: continued halving
            from sktorch.model_selection._resume import check_resume, train_resumed

            check_resume(self.search)
            return train_resumed(self, prepared, cache)
        for reason, ids in prepared.skipped.items():
            self._add_group(ids, reason)
        self.not_fusion_failures.update(prepared.failing)
        fuse = self.fuse
        if fuse is False or len(prepared.members) < 2:
            for member_id, key in zip(prepared.ids, prepared.keys):
                cache.expect(key, member_id)  # trained by scikit-learn's call; history kept
            if prepared.ids:  # one member has nothing to fuse with: no fused set-up for it
                self._add_group(prepared.ids, "fuse=False" if fuse is False else ALONE)
            self._check_strict()
            return {}
        # scale-out hook: the members are split over n_jobs threads (see _parallel).
        from sktorch.model_selection._parallel import fit_members_parallel

        on_done = self.on_done(prepared)
        start = perf_counter()
        try:
            with bypass():
                groups = fit_members_parallel(prepared.members, self.search.fuse_memory_budget,
                                              self.search.n_jobs, self.backend, on_done,
                                              prepared.sources)
        except Exception as exc:
            from sktorch.model_selection._remote import ClusterTrainingError

            if fuse is True or isinstance(exc, ClusterTrainingError):  # never retrain here
                raise
            groups = None
            reason = f"fused training raised {type(exc).__name__}: {exc}"
        share = (perf_counter() - start) / len(prepared.members)
        if groups is None:
            for member_id, key in zip(prepared.ids, prepared.keys):
                cache.expect(key, member_id)
            self._add_group(prepared.ids, reason)
            self._check_strict()
            return {}
        return self.record_groups(prepared, cache, groups, share)

    def on_done(self, prepared: Prepared) -> Any:
        """``fit_members``'s ``on_done`` that moves the progress bar (None without one)."""
        if self.progress is None:
            return None

        def on_done(indices, ids=prepared.ids, progress=self.progress):
            progress.done([ids[i] for i in indices])

        return on_done

    def record_groups(self, prepared: Prepared, cache: FitCache, groups: list,
                      share: float) -> dict:
        """Hand the trained members to the cache and the groups to the report.

        ``share`` is each member's part of the training time; returns it per
        member id (0 for a member whose fit raised: scikit-learn's call raises again).
        """
        seconds = {}
        for group in groups:
            for i in group.members:
                failed = i in group.errors
                cache.expect(prepared.keys[i], prepared.ids[i],
                             None if failed else prepared.members[i].net)
                seconds[prepared.ids[i]] = 0.0 if failed else share
            self._add_group([prepared.ids[i] for i in group.members],
                            "" if group.fused else group.reason, group.fused,
                            max(1, len(group.chunks)))
            self.not_fusion_failures.update(
                prepared.ids[i] for i in group.members
                if i in group.errors or group.reason == DIVERGED)
        self._check_strict()
        return seconds

    def _add_group(self, ids: list, reason: str, fused: bool = False, n_chunks: int = 1) -> None:
        self.report.append(FuseGroup(tuple(ids), fused, reason, self.iteration, n_chunks))

    def _check_strict(self) -> None:
        """``fuse=True``: every member must have fused (see ``not_fusion_failures``)."""
        if self.fuse is not True or all(
                group.fused or set(group.members) <= self.not_fusion_failures
                for group in self.report):
            return
        raise ValueError(
            f"fuse=True requires every member to train fused, but {self.report.summary()}. "
            "Pass fuse='auto' to train those members one by one (the search then warns), "
            "or change what the reasons name."
        )
