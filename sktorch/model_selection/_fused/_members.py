"""The entry point of fused training: members in, fitted nets and group reports out."""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = ["ALONE", "Member", "GroupReport", "Resume", "fit_members"]

ALONE = "alone in its structure group (nothing to fuse with)"


@dataclass
class Member:
    """One fit to run: a net and the data its ``fit`` would receive.

    Parameters
    ----------
    net : NeuralNet
        An unfitted net with the candidate's parameters set (e.g. a fresh clone).
    X, y : array-like
        The member's full training data, as ``net.fit(X, y)`` would receive it.
        Members may share the same X object (all candidates of one fold): it is
        converted and stored once.
    sample_weight : array-like, optional
    fit_params : dict
        Passed to ``fit`` (a member with fit parameters trains on its own).
    resume : Resume, optional
        Continue a fitted net instead of fitting ``net`` from scratch, and report
        the shuffling generator the member ends with (continued halving).
    """

    net: Any
    X: Any
    y: Any = None
    sample_weight: Any = None
    fit_params: dict = field(default_factory=dict)
    resume: Any = None


@dataclass
class Resume:
    """How a member continues (``_resume``); ``start`` None: a fit from scratch.

    Attributes
    ----------
    start : NeuralNet or None
        The fitted net to continue; the member's ``net`` is a copy of it (a failed
        fused continuation starts again from ``start``).
    epochs : int or None
        The epochs to train on top of ``start``'s.
    state : ByteTensor or None
        The shuffling generator's state where ``start``'s training left it.
    generator : torch.Generator or None
        Set by training: the generator the member shuffled from, where it ended.
    """

    start: Any = None
    epochs: int | None = None
    state: Any = None
    generator: Any = None

    def start_generator(self) -> Any:
        """A new generator in ``state`` (None for a fit from scratch)."""
        if self.state is None:
            return None
        import torch

        generator = torch.Generator()
        generator.set_state(self.state)
        return generator


@dataclass
class GroupReport:
    """What happened to a set of members.

    Attributes
    ----------
    members : list of int
        Indices into the list given to :func:`fit_members`.
    fused : bool
        Whether they trained as one stacked model.
    reason : str
        Why they were not fused ('' when fused).
    n_members : int
    chunks : list of list of int
        The members of each stacked model, when the group was split to stay
        under the memory budget (one chunk when it was not).
    errors : dict
        Member index -> the exception its fit raised. Such a member's net is left
        unfitted (a later ``net.fit`` raises the same way).
    forward : str
        How a fused group ran its forward pass: ``'layers'`` (batched layers) or
        ``'vmap'``; '' when not fused.
    """

    members: list[int]
    fused: bool
    reason: str = ""
    chunks: list[list[int]] = field(default_factory=list)
    errors: dict[int, BaseException] = field(default_factory=dict)
    forward: str = ""

    @property
    def n_members(self) -> int:
        return len(self.members)


def fit_sequential(member: Member) -> BaseException | None:
    """Fit one member the normal way; return the exception its fit raised, if any.

    A member with ``resume`` continues a copy of ``resume.start`` for
    ``resume.epochs`` more epochs with ``partial_fit``, shuffling on from the
    stored generator (or fits from scratch without ``start``); either way
    ``resume.generator`` is the generator it ends with.
    """
    resume = member.resume
    if resume is None:
        try:
            member.net.fit(member.X, member.y, sample_weight=member.sample_weight,
                           **member.fit_params)
        except Exception as exc:  # reported per member, as a search's error_score expects
            return exc
        return None
    from sktorch._continuation import continuing

    try:
        with continuing(resume.start_generator()) as slot:
            if resume.start is None:
                member.net.fit(member.X, member.y, sample_weight=member.sample_weight,
                               **member.fit_params)
            else:
                target = member.net.max_epochs  # this round's; start has the last round's
                net = member.net = copy.deepcopy(resume.start)  # not a half-fused copy
                net.set_params(max_epochs=resume.epochs)
                try:
                    net.partial_fit(member.X, member.y, sample_weight=member.sample_weight,
                                    **member.fit_params)
                finally:
                    net.set_params(max_epochs=target)
    except Exception as exc:
        return exc
    resume.generator = slot.generator
    return None


def fit_members(members: Sequence[Member], memory_budget: int | None = None,
                on_done: Callable[[list[int]], Any] | None = None) -> list[GroupReport]:
    """Fit every member's net; members that share a structure train as one stacked model.

    Each net ends fitted as if ``net.fit(X, y, sample_weight=...)`` had been called:
    the same initial weights, validation split and batch order, the same optimizer
    arithmetic (up to float round-off), its own history, callbacks and optimizer
    state. Members that cannot fuse are fitted with ``net.fit``; the reports say why.

    Parameters
    ----------
    members : sequence of Member
    memory_budget : int, optional
        Bytes one stacked model may use (parameters, gradients, optimizer state and
        activations, estimated); larger groups train in chunks. Default: half the
        free memory of the device (free CUDA memory on CUDA, available RAM otherwise).
    on_done : callable, optional
        Called with a list of member indices each time members finish training: a
        stacked chunk's members together, a member fitted alone on its own. A search
        uses it to draw its progress bar.

    Returns
    -------
    list of GroupReport
        Every member index appears in exactly one report.

    Notes
    -----
    What fuses: NeuralNet, NeuralNetClassifier, NeuralNetBinaryClassifier and
    NeuralNetRegressor with in-memory X, the default iterators and dataset,
    ``train_split`` None or a ``ValidSplit``, precision '32' or '64', the optimizers
    SGD, Adam, AdamW, RMSprop and Adagrad (any hyperparameters per member), the
    criteria NLLLoss, CrossEntropyLoss, BCELoss, BCEWithLogitsLoss, MSELoss, L1Loss,
    SmoothL1Loss and HuberLoss (reduction 'mean', no class weights in the criterion;
    ``class_weight`` and ``sample_weight`` are fine) and the callbacks EpochTimer,
    PassthroughScoring, EpochScoring, PrintLog and EarlyStopping. Members group by
    net class, device, precision, optimizer class, criterion, module structure
    (parameter shapes and the modules' settings), batch size and callback names;
    learning rates, optimizer settings, ``max_epochs``, fold sizes, weights and
    callback settings may differ within a group. Groups whose modules differ only
    in dropout rates or (zero-preserving) layer widths join one stack (see
    ``_merge``).

    Differences from a sequential fit, all documented: dropout masks are other
    draws (each member's own, from a generator of its seed, whichever members
    share its stack: see ``_masks``), so a member with dropout is statistically
    equivalent to its sequential fit, not equal;
    ``'dur'`` is the duration of the fused epoch; parameters have no ``.grad``
    after the fit. A member whose loss or weights become NaN or infinite is fitted
    again on its own, so that ``on_nan`` acts exactly as in a sequential fit.

    Examples
    --------
    >>> import numpy as np
    >>> from sktorch import NeuralNetRegressor
    >>> X = np.random.RandomState(0).randn(50, 3).astype('float32'); y = X[:, 0]
    >>> nets = [NeuralNetRegressor(lr=lr, max_epochs=2, verbose=0, random_state=0)
    ...         for lr in (0.02, 0.1)]
    >>> reports = fit_members([Member(net, X, y) for net in nets])
    >>> [(r.members, r.fused) for r in reports]
    [([0, 1], True)]
    >>> len(nets[1].history_)
    2
    """
    from sktorch.model_selection._fused import _group

    return _group.fit_all(list(members), memory_budget, on_done)
