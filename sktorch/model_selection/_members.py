"""Build the members (candidate × fold) of one batch of a search's fits.

For each fold this does what scikit-learn's ``_fit_and_score`` does before it calls
``fit`` (split X, y and the sample-aligned fit parameters), then runs the estimator's
``fit`` with sktorch nets only *recording* their arguments: a plain net records the
fold's rows, a ``Pipeline`` fits its transformers and the net records the transformed
X. Transformers are fitted once per fold for all candidates that share their
parameters; the candidates' nets share that X object.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from sklearn.base import clone
from sklearn.pipeline import Pipeline
from sklearn.utils.metaestimators import _safe_split
from sklearn.utils.validation import _check_method_params

from sktorch.model_selection._cache import data_key, net_key, recording
from sktorch.model_selection._fingerprint import token

__all__ = ["Prepared", "prepare_members"]

NOT_A_NET = "the estimator is not an sktorch net or a Pipeline ending in one"


@dataclass
class Prepared:
    """Members ready to train, and the fits that could not become members (with why)."""

    members: list = field(default_factory=list)  # fused-core Members
    ids: list[tuple[int, int]] = field(default_factory=list)  # (candidate, fold) per member
    keys: list = field(default_factory=list)  # cache key per member
    # per member: a FoldSource (its data are rows of the search's data) or None (a
    # Pipeline's transformed X); lets a cluster send the search's data once (_remote)
    sources: list = field(default_factory=list)
    skipped: dict[str, list[tuple[int, int]]] = field(default_factory=lambda: defaultdict(list))
    # skipped members whose own fit raises (set_params, a transformer): error_score's
    failing: set[tuple[int, int]] = field(default_factory=set)


def _net_of(estimator: Any) -> Any:
    """The sktorch net that ``estimator`` is or ends with, or None."""
    from sktorch.net import NeuralNet  # not at import: sktorch.net imports this package

    if isinstance(estimator, Pipeline) and estimator.steps:
        estimator = estimator.steps[-1][1]
    return estimator if isinstance(estimator, NeuralNet) else None


def _transform_params(estimator: Any, params: dict) -> dict:
    """The part of a candidate's parameters that can change what the net is fitted on."""
    if not isinstance(estimator, Pipeline):
        return {}
    prefix = estimator.steps[-1][0] + "__"
    return {k: v for k, v in params.items() if not k.startswith(prefix)}


def _record_fold(estimator: Any, X: Any, y: Any, train: Any, fit_params: dict) -> Any:
    """What the net inside ``estimator`` would be fitted on for this fold."""
    X_train, y_train = _safe_split(estimator, X, y, train)
    fold_params = _check_method_params(X, params=fit_params, indices=train)
    with recording() as fits:
        estimator.fit(X_train, y_train, **fold_params)
    if len(fits) != 1:
        raise ValueError(f"expected one net fit per fold, got {len(fits)}")
    return fits[0]


def prepare_members(base: Any, candidates: list[dict], splits: list, X: Any, y: Any,
                    fit_params: dict, first_candidate: int = 0) -> Prepared:
    """Members for every (candidate, fold); candidates are numbered from ``first_candidate``."""
    from sktorch.model_selection._fused import Member

    prepared = Prepared()
    all_ids = [(first_candidate + c, s) for c in range(len(candidates)) for s in range(len(splits))]
    if _net_of(base) is None:
        prepared.skipped[NOT_A_NET] = all_ids
        return prepared
    by_transform: dict[Any, list[int]] = defaultdict(list)
    for index, params in enumerate(candidates):
        by_transform[token(_transform_params(base, params))].append(index)
    for indices in by_transform.values():
        estimators = {}
        for index in indices:
            try:
                estimators[index] = clone(base).set_params(**clone(candidates[index], safe=False))
            except Exception as exc:  # scikit-learn's own call raises it again
                ids = [(first_candidate + index, s) for s in range(len(splits))]
                prepared.skipped[f"set_params raised {type(exc).__name__}"] += ids
                prepared.failing.update(ids)
        _add_group(prepared, estimators, splits, X, y, fit_params, first_candidate, Member)
    return prepared


def _add_group(prepared: Prepared, estimators: dict, splits: list, X: Any, y: Any,
               fit_params: dict, first_candidate: int, member_class: Any) -> None:
    """Members of candidates that share their transformers, one fold at a time."""
    nets = {}
    for index, estimator in estimators.items():
        net = _net_of(estimator)
        params = None if net is None else net_key(net)
        if params is None:
            reason = NOT_A_NET if net is None else "the net's parameters cannot be compared"
            prepared.skipped[reason] += [(first_candidate + index, s) for s in range(len(splits))]
        else:
            nets[index] = (net, params)
    if not nets:
        return
    from sktorch.model_selection._remote import FoldSource

    template = clone(estimators[next(iter(nets))])
    plain = _net_of(template) is template  # fits on X[train] itself, no transformers
    for fold, (train, _test) in enumerate(splits):
        ids = [(first_candidate + index, fold) for index in nets]
        try:
            fit = _record_fold(template, X, y, train, fit_params)
        except Exception as exc:  # scikit-learn's own call meets it again, for error_score
            prepared.skipped[f"preparing the fold raised {type(exc).__name__}: {exc}"] += ids
            prepared.failing.update(ids)
            continue
        data = data_key(fit.X, fit.y, fit.sample_weight, fit.fit_params)
        if data is None:
            prepared.skipped[f"the net's training data ({type(fit.X).__name__}) cannot be "
                             "fingerprinted"] += ids
            continue
        for (net, params), member_id in zip(nets.values(), ids):
            prepared.members.append(member_class(clone(net), fit.X, fit.y, fit.sample_weight,
                                                 dict(fit.fit_params)))
            prepared.ids.append(member_id)
            prepared.keys.append((params, data))
            prepared.sources.append(FoldSource((X, y, fit_params), train, fold) if plain else None)
