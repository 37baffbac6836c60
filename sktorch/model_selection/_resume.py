"""Budget-aware successive halving: survivors continue from where the last round left them.

scikit-learn's ``HalvingGridSearchCV(resource='max_epochs')`` trains every
candidate of round *i* from scratch with ``r_i`` epochs, so a survivor of
three rounds is trained ``r_0 + r_1 + r_2`` epochs in all. With
``resume=True`` a member (candidate × fold) of round *i* starts from a copy of
its own net at the end of round *i - 1* (weights, optimizer state, history and
the shuffling generator) and trains the ``r_i - r_{i-1}`` missing epochs. For
a model without random layers and without a learning-rate schedule this gives
the very model a ``r_i``-epoch fit gives, up to float round-off; scores and
``cv_results_`` are then those scikit-learn's retraining would report, at a
fraction of the epochs. (Dropout and other draws from torch's global
generator are seeded per fit, so with them a continued model is an equally
valid but not identical draw; callbacks that reset at ``on_train_begin``, such
as ``EarlyStopping``, restart their count each round.)

Continued members that share a structure train fused, as the first round's
do (each from its own weights, optimizer state and generator: see
``Resume`` in ``_fused``); with ``fuse=False`` they continue one by one. The
rounds train in this process (also under a Dask backend); the refit is
scikit-learn's.
"""

from __future__ import annotations

import copy
from time import perf_counter
from typing import Any

from sklearn.base import clone

from sktorch.model_selection._cache import FitCache, bypass, net_key
from sktorch.model_selection._fused._members import ALONE, Resume

__all__ = ["ResumeStore", "check_resume", "train_resumed"]

UNFUSED = "resume=True with fuse=False (members continue unfused)"


class ResumeStore:
    """Each member's net at the end of the last round it trained, with its generator state."""

    def __init__(self) -> None:
        self.nets: dict[Any, tuple[Any, Any, int]] = {}  # key -> (net, generator state, epochs)
        self.epochs_trained = 0  # epochs actually run by this search's members

    @staticmethod
    def key(net: Any, data_key: Any) -> Any:
        """The member's identity across rounds: its parameters but ``max_epochs``, and data."""
        return net_key(clone(net).set_params(max_epochs=1)), data_key

    def resume(self, member: Any, data_key: Any) -> None:
        """Give ``member`` its :class:`Resume`: continue its stored net, or start afresh."""
        target = member.net.max_epochs
        stored = self.nets.get(self.key(member.net, data_key))
        if stored is not None and stored[2] < target:
            net, state, done = stored
            member.net = copy.deepcopy(net).set_params(max_epochs=target)
            member.resume = Resume(start=net, epochs=target - done, state=state)
        else:
            member.resume = Resume()

    def keep(self, member: Any, data_key: Any) -> None:
        """After training: store ``member``'s net and generator for the next round."""
        resume, net = member.resume, member.net
        self.epochs_trained += resume.epochs if resume.start is not None else net.max_epochs
        if resume.generator is not None:
            self.nets[self.key(net, data_key)] = (copy.deepcopy(net),
                                                   resume.generator.get_state(), net.max_epochs)

    def train(self, net: Any, member: Any, data_key: Any) -> tuple[Any, BaseException | None]:
        """``net`` fitted to ``max_epochs`` on ``member``'s data, one by one (not fused)."""
        from sktorch.model_selection._fused import Member
        from sktorch.model_selection._fused._members import fit_sequential

        one = Member(net, member.X, member.y, member.sample_weight, dict(member.fit_params))
        self.resume(one, data_key)
        error = fit_sequential(one)
        if error is not None:
            return None, error
        self.keep(one, data_key)
        return one.net, None


def check_resume(search: Any) -> None:
    """``resume=True`` needs epochs as the resource; say what to write otherwise."""
    if getattr(search, "resume", False) and search.resource != "max_epochs":
        raise ValueError(
            f"resume=True continues members over more epochs, so it needs "
            f"resource='max_epochs'; got resource={search.resource!r}. Pass "
            "resource='max_epochs' or resume=False (scikit-learn's retraining).")


def train_resumed(run: Any, prepared: Any, cache: FitCache) -> dict:
    """Train this round's members, each continued from its previous round; seconds per member.

    Fused (``fuse`` 'auto' or True) as a round of fresh members would be; one by
    one with ``fuse=False``.
    """
    from sktorch.model_selection._fused import fit_members
    from sktorch.model_selection._fused._group import fit_one_by_one

    store = getattr(run, "resume_store", None)
    if store is None:
        store = run.resume_store = ResumeStore()
    for reason, ids in prepared.skipped.items():
        run._add_group(ids, reason)
    run.not_fusion_failures.update(prepared.failing)
    members = prepared.members
    if not members:
        return {}
    for member, key in zip(members, prepared.keys):
        store.resume(member, key[1])
    on_done = run.on_done(prepared)
    start = perf_counter()
    with bypass():
        if run.fuse is False or len(members) < 2:
            reason = UNFUSED if run.fuse is False else ALONE
            groups = [fit_one_by_one(members, list(range(len(members))), reason, on_done)]
        else:
            groups = fit_members(members, run.search.fuse_memory_budget, on_done)
    share = (perf_counter() - start) / len(members)
    for group in groups:
        for i in group.members:
            if i not in group.errors:
                store.keep(members[i], prepared.keys[i][1])
    return run.record_groups(prepared, cache, groups, share)


RESUME_DOC = """
    resume : bool, default=False
        Only with ``resource='max_epochs'``. ``False`` is scikit-learn's
        semantics: each round trains its candidates from scratch with that
        round's epochs. ``True`` continues each surviving member (candidate ×
        fold) from its state at the end of the previous round (weights,
        optimizer, history, shuffling generator), training only the missing
        epochs; without random layers or schedules the models and scores are
        those of retraining, up to float round-off. Continued members train
        fused like fresh ones (one by one with ``fuse=False``);
        ``epochs_trained_`` counts the epochs the members ran.
"""


def with_resume_param(init: Any) -> Any:
    """``__init__`` that also takes ``resume=False`` (listed in the signature for get_params)."""
    import inspect

    def __init__(self, *args: Any, resume: bool = False, **kwargs: Any) -> None:
        init(self, *args, **kwargs)
        self.resume = resume

    signature = inspect.signature(init)
    __init__.__signature__ = signature.replace(parameters=[
        *signature.parameters.values(),
        inspect.Parameter("resume", inspect.Parameter.KEYWORD_ONLY, default=False)])
    return __init__
