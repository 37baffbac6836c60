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

Continued members train one by one (not fused); the refit is scikit-learn's.
"""

from __future__ import annotations

import copy
from typing import Any

import torch
from sklearn.base import clone

from sktorch._continuation import continuing
from sktorch.model_selection._cache import FitCache, bypass, net_key

__all__ = ["ResumeStore", "check_resume", "train_resumed"]


class ResumeStore:
    """Each member's net at the end of the last round it trained, with its generator state."""

    def __init__(self) -> None:
        self.nets: dict[Any, tuple[Any, Any, int]] = {}  # key -> (net, generator state, epochs)
        self.epochs_trained = 0  # epochs actually run by this search's members

    @staticmethod
    def key(net: Any, data_key: Any) -> Any:
        """The member's identity across rounds: its parameters but ``max_epochs``, and data."""
        return net_key(clone(net).set_params(max_epochs=1)), data_key

    def train(self, net: Any, member: Any, data_key: Any) -> tuple[Any, BaseException | None]:
        """``net`` fitted to ``max_epochs``, continued from the stored copy when there is one."""
        target = net.max_epochs
        key = self.key(net, data_key)
        stored = self.nets.get(key)
        if stored is not None and stored[2] < target:
            net = copy.deepcopy(stored[0])
            generator = torch.Generator()
            generator.set_state(stored[1])
            epochs, start = target - stored[2], generator
        else:
            epochs, start = target, None
        try:
            with continuing(start) as slot:
                if start is None:
                    net.fit(member.X, member.y, sample_weight=member.sample_weight,
                            **member.fit_params)
                else:
                    net.set_params(max_epochs=epochs)
                    try:
                        net.partial_fit(member.X, member.y, sample_weight=member.sample_weight,
                                        **member.fit_params)
                    finally:
                        net.set_params(max_epochs=target)
        except Exception as exc:  # scikit-learn's own call reports it (error_score)
            return None, exc
        self.epochs_trained += epochs
        if slot.generator is not None:
            self.nets[key] = (copy.deepcopy(net), slot.generator.get_state(), target)
        return net, None


def check_resume(search: Any) -> None:
    """``resume=True`` needs epochs as the resource; say what to write otherwise."""
    if getattr(search, "resume", False) and search.resource != "max_epochs":
        raise ValueError(
            f"resume=True continues members over more epochs, so it needs "
            f"resource='max_epochs'; got resource={search.resource!r}. Pass "
            "resource='max_epochs' or resume=False (scikit-learn's retraining).")


def train_resumed(run: Any, prepared: Any, cache: FitCache) -> dict:
    """Train this round's members, each continued from its previous round; seconds per member."""
    from time import perf_counter

    store = getattr(run, "resume_store", None)
    if store is None:
        store = run.resume_store = ResumeStore()
    for reason, ids in prepared.skipped.items():
        run._add_group(ids, reason)
    seconds = {}
    for member, member_id, key in zip(prepared.members, prepared.ids, prepared.keys):
        start = perf_counter()
        with bypass():
            net, error = store.train(member.net, member, key[1])
        cache.expect(key, member_id, net if error is None else None)
        seconds[member_id] = perf_counter() - start
    if prepared.ids:
        run._add_group(prepared.ids, "resume=True (members continue unfused)")
    return seconds


RESUME_DOC = """
    resume : bool, default=False
        Only with ``resource='max_epochs'``. ``False`` is scikit-learn's
        semantics: each round trains its candidates from scratch with that
        round's epochs. ``True`` continues each surviving member (candidate ×
        fold) from its state at the end of the previous round (weights,
        optimizer, history, shuffling generator), training only the missing
        epochs; without random layers or schedules the models and scores are
        those of retraining, up to float round-off. Continued members train
        unfused; ``epochs_trained_`` counts the epochs the members ran.
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
