"""scikit-learn's search classes, with the fits of each batch of candidates fused.

Each class here is a subclass of scikit-learn's class of the same name, with the
same parameters (read from the installed scikit-learn, so they follow its version)
plus ``fuse`` and ``fuse_memory_budget``. scikit-learn still makes the splits,
scores, builds ``cv_results_`` and refits; only the training of the members
(candidate × fold) changes, see :mod:`sktorch.model_selection._run`.
"""

from __future__ import annotations

import contextlib
import inspect
from numbers import Integral
from typing import Any

import sklearn
import torch
from sklearn import model_selection as sk
from sklearn.experimental import enable_halving_search_cv  # noqa: F401 - defines Halving*
from sklearn.utils._param_validation import Interval, StrOptions

from sktorch._warnings import warn_user
from sktorch.model_selection._progress import SearchProgress
from sktorch.model_selection._resume import RESUME_DOC, with_resume_param
from sktorch.model_selection._run import SearchRun

__all__ = ["GridSearchCV", "HalvingGridSearchCV", "HalvingRandomSearchCV",
           "RandomizedSearchCV"]

_FUSE_CONSTRAINTS = {
    "fuse": [StrOptions({"auto"}), "boolean"],
    "fuse_memory_budget": [Interval(Integral, 1, None, closed="left"), None],
}

_FUSE_PARAMS_DOC = """
    fuse : 'auto', True or False, default='auto'
        ``'auto'`` trains members (candidate × fold) that share a structure as one
        stacked model and the others the normal way, with one ``UserWarning`` that
        sums up why; ``True`` raises a ``ValueError`` when any member cannot fuse
        (a member whose own fit raises, or that diverged in fused training, gets
        ``error_score`` as with ``False``); ``False`` is scikit-learn's behaviour exactly.
    fuse_memory_budget : int or None, default=None
        Bytes one stacked model may use; larger groups train in chunks. None: half
        the free memory of the device.

    Attributes
    ----------
    fuse_report_ : FuseReport
        One :class:`FuseGroup` per group of members: ``members`` as
        ``(candidate, fold)`` pairs (candidate indexes ``cv_results_['params']``),
        ``fused``, ``reason``; ``fuse_report_.summary()`` says it in one line.
    cv_histories_ : list of list of History
        ``cv_histories_[candidate][fold]``: the ``History`` of that member's fit
        (None for a fit that ran in another process or could not be identified).

    The other parameters and attributes are scikit-learn's: see its documentation.
"""


def _with_fuse_params(parent_init: Any) -> Any:
    """``__init__`` with the parent's parameters plus ``fuse`` and ``fuse_memory_budget``."""

    def __init__(self, *args: Any, fuse: Any = "auto", fuse_memory_budget: Any = None,
                 **kwargs: Any) -> None:
        parent_init(self, *args, **kwargs)
        self.fuse = fuse
        self.fuse_memory_budget = fuse_memory_budget

    signature = inspect.signature(parent_init)
    extra = [inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default)
             for name, default in (("fuse", "auto"), ("fuse_memory_budget", None))]
    # scikit-learn reads parameter names from the signature: list them, no *args.
    __init__.__signature__ = signature.replace(
        parameters=[*signature.parameters.values(), *extra])
    return __init__


def _fusing_run_search(parent_run_search: Any) -> Any:
    """``_run_search`` that hands scikit-learn's a fusing ``evaluate_candidates``."""

    def _run_search(self, evaluate_candidates: Any, *args: Any, **kwargs: Any) -> None:
        run = self._fuse_run
        parent_run_search(self, run.wrap(evaluate_candidates), *args, **kwargs)
        if run.progress is not None:  # done before the refit
            run.progress.close()
        self.fuse_report_ = run.report
        store = getattr(run, "resume_store", None)  # scale-out hook: continued halving
        if store is not None:
            self.epochs_trained_ = store.epochs_trained
        self.cv_histories_ = run.histories
        if run.fuse == "auto" and run.report.fallback_reasons():
            # Given inside scikit-learn's fit: the user's line is past its frames too.
            warn_user(
                f"{type(self).__name__}: {run.report.summary()}. Those members trained "
                "the normal way; fuse_report_ lists each group and why.",
                UserWarning, skip_also=(sklearn,))

    # scikit-learn passes optional arguments (callback_ctx) only when the signature names them.
    _run_search.__signature__ = inspect.signature(parent_run_search)
    return _run_search


def _threads(fuse: Any) -> Any:
    """Run scikit-learn's per-fit calls in threads: they read this process's fit cache."""
    if not isinstance(fuse, str) and not fuse:
        return contextlib.nullcontext()
    try:
        from joblib import parallel_config
    except ImportError:  # joblib < 1.3
        from joblib import parallel_backend as parallel_config
    return parallel_config(backend="threading")


def _data_once(fuse: Any, X: Any, y: Any) -> Any:
    """``fuse=False`` on a Dask cluster: X and y reach each worker once (see ``_remote``)."""
    if isinstance(fuse, str) or fuse:  # fused parts send their data themselves
        return contextlib.nullcontext()
    from sktorch.model_selection._remote import scattered_for_fits

    return scattered_for_fits(X, y)


class _FusedSearchMixin:
    """``fit`` and ``_format_results`` shared by the fusing search classes."""

    def fit(self, X: Any, y: Any = None, **params: Any) -> Any:
        """Run the search as scikit-learn does, training the members fused.

        Parameters and return value are those of scikit-learn's ``fit``.
        """
        if isinstance(y, torch.Tensor) and y.dtype == torch.bfloat16:
            y = y.float()  # scikit-learn's stratified cv reads y with numpy, which has no bf16
        self._fuse_run = SearchRun(self, X, y, params)
        if self.verbose and self.verbose >= 1:
            self._fuse_run.progress = SearchProgress(type(self).__name__)
        try:  # scale-out hook: scikit-learn's fits share the cores (SearchRun._fits_budget)
            with _threads(self.fuse), _data_once(self.fuse, X, y):
                return super().fit(X, y, **params)
        finally:
            if self._fuse_run.progress is not None:
                self._fuse_run.progress.close()
            self._fuse_run.backend.release()  # scale-out: workers drop the data sent to them
            del self._fuse_run

    def _format_results(self, candidate_params: Any, n_splits: int, out: list,
                        *args: Any, **kwargs: Any) -> dict:
        # Fused members were trained before scikit-learn timed their (cached) fit:
        # add each member's share of the fused training time to its fit_time.
        run = getattr(self, "_fuse_run", None)
        if run is not None and len(run.extra_fit_time) == len(out):
            out = [dict(o, fit_time=o["fit_time"] + extra) if extra and "fit_time" in o else o
                   for o, extra in zip(out, run.extra_fit_time)]
        return super()._format_results(candidate_params, n_splits, out, *args, **kwargs)


class GridSearchCV(_FusedSearchMixin, sk.GridSearchCV):
    __doc__ = """scikit-learn's ``GridSearchCV``, with candidates × folds trained fused.

    Parameters
    ----------
    estimator, param_grid, scoring, n_jobs, refit, cv, verbose, pre_dispatch,
    error_score, return_train_score
        As in :class:`sklearn.model_selection.GridSearchCV`.
    """ + _FUSE_PARAMS_DOC + """
    Examples
    --------
    >>> import numpy as np
    >>> from sktorch import NeuralNetRegressor
    >>> from sktorch.model_selection import GridSearchCV
    >>> X = np.random.RandomState(0).randn(60, 3).astype('float32'); y = X[:, 0]
    >>> net = NeuralNetRegressor(max_epochs=2, train_split=None, verbose=0, random_state=0)
    >>> search = GridSearchCV(net, {'lr': [0.01, 0.1]}, cv=3).fit(X, y)
    >>> sorted(search.best_params_)
    ['lr']
    >>> len(search.cv_histories_), len(search.cv_histories_[0])
    (2, 3)
    """

    _parameter_constraints = {**sk.GridSearchCV._parameter_constraints, **_FUSE_CONSTRAINTS}
    __init__ = _with_fuse_params(sk.GridSearchCV.__init__)
    _run_search = _fusing_run_search(sk.GridSearchCV._run_search)


class RandomizedSearchCV(_FusedSearchMixin, sk.RandomizedSearchCV):
    __doc__ = """scikit-learn's ``RandomizedSearchCV``, with candidates × folds trained fused.

    Parameters
    ----------
    estimator, param_distributions, n_iter, scoring, n_jobs, refit, cv, verbose,
    pre_dispatch, random_state, error_score, return_train_score
        As in :class:`sklearn.model_selection.RandomizedSearchCV`.
    """ + _FUSE_PARAMS_DOC

    _parameter_constraints = {**sk.RandomizedSearchCV._parameter_constraints,
                              **_FUSE_CONSTRAINTS}
    __init__ = _with_fuse_params(sk.RandomizedSearchCV.__init__)
    _run_search = _fusing_run_search(sk.RandomizedSearchCV._run_search)


class HalvingGridSearchCV(_FusedSearchMixin, sk.HalvingGridSearchCV):
    __doc__ = """scikit-learn's ``HalvingGridSearchCV``, each iteration's fits fused.

    Parameters
    ----------
    estimator, param_grid, factor, resource, max_resources, min_resources,
    aggressive_elimination, cv, scoring, refit, error_score, return_train_score,
    random_state, n_jobs, verbose
        As in :class:`sklearn.model_selection.HalvingGridSearchCV`; ``resource`` may
        be a net parameter such as ``'max_epochs'``.
    """ + RESUME_DOC + _FUSE_PARAMS_DOC

    _parameter_constraints = {**sk.HalvingGridSearchCV._parameter_constraints,
                              **_FUSE_CONSTRAINTS, "resume": ["boolean"]}
    # scale-out hook: resume=True continues survivors between rounds (see _resume)
    __init__ = with_resume_param(_with_fuse_params(sk.HalvingGridSearchCV.__init__))
    _run_search = _fusing_run_search(sk.HalvingGridSearchCV._run_search)


class HalvingRandomSearchCV(_FusedSearchMixin, sk.HalvingRandomSearchCV):
    __doc__ = """scikit-learn's ``HalvingRandomSearchCV``, each iteration's fits fused.

    Parameters
    ----------
    estimator, param_distributions, n_candidates, factor, resource, max_resources,
    min_resources, aggressive_elimination, cv, scoring, refit, error_score,
    return_train_score, random_state, n_jobs, verbose
        As in :class:`sklearn.model_selection.HalvingRandomSearchCV`.
    """ + RESUME_DOC + _FUSE_PARAMS_DOC

    _parameter_constraints = {**sk.HalvingRandomSearchCV._parameter_constraints,
                              **_FUSE_CONSTRAINTS, "resume": ["boolean"]}
    # scale-out hook: resume=True continues survivors between rounds (see _resume)
    __init__ = with_resume_param(_with_fuse_params(sk.HalvingRandomSearchCV.__init__))
    _run_search = _fusing_run_search(sk.HalvingRandomSearchCV._run_search)
