"""Grouping members by structure, sizing chunks to the memory budget, and falling back.

A member that cannot fuse (see the reasons in ``_prepare`` and ``check_forward``)
is fitted with ``net.fit`` and reported with its reason; so is a member alone in
its group (one member gains nothing from stacking).
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import numpy as np
import torch
from sklearn.base import clone

from sktorch.model_selection._fused._forward import check_forward, make_forward
from sktorch.model_selection._fused._loop import FusedRun
from sktorch.model_selection._fused._masks import member_masks
from sktorch.model_selection._fused._members import ALONE, GroupReport, Member, fit_sequential
from sktorch.model_selection._fused._merge import by_shape, merge_groups
from sktorch.model_selection._fused._optim import make_optimizer
from sktorch.model_selection._fused._prepare import (
    Prepared,
    prepare,
    prepared_reason,
    restore_random_state,
    static_reason,
    structure_key,
)
from sktorch.model_selection._fused._stack import FlatStack

__all__ = ["fit_all", "fit_one_by_one", "default_budget", "member_bytes"]



def default_budget(device: Any) -> int:
    """Half the free memory of ``device``: CUDA's free memory, else available RAM."""
    dev = torch.device(device or "cpu")
    if dev.type == "cuda" and torch.cuda.is_available():
        free, _ = torch.cuda.mem_get_info(dev)
        return free // 2
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024 // 2
    except OSError:
        pass
    return 2 * 2**30


def member_bytes(p: Prepared) -> int:
    """Estimated bytes one member adds to a stacked model.

    Parameters, gradient, optimizer state and temporaries of the update (~8 copies
    of the parameters), plus the activations autograd saves for one training batch,
    measured on the member's own module.
    """
    module = p.net.module_
    n_params = sum(t.numel() * t.element_size() for t in module.parameters())
    saved = [0]

    def pack(tensor):
        saved[0] += tensor.numel() * tensor.element_size()
        return tensor

    rows = p.train_rows[: max(1, p.train_batch)]
    x = p.dataset.X[rows.to(p.dataset.X.device)]
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = module(x)
    out_bytes = out.numel() * out.element_size() if isinstance(out, torch.Tensor) else 0
    return 8 * n_params + 2 * saved[0] + 4 * out_bytes + 2 * x.numel() * x.element_size()


def canary_reason(member: Member, p: Prepared) -> str:
    """Whether ``prepare`` reproduced the initial module of the net's own ``fit_loop``.

    A twin of the member (a clone, seeded alike) runs ``fit_loop`` for zero epochs;
    its module (parameters and buffers) must equal the prepared one. This guards
    the equivalence against changes to ``fit_loop``'s set-up (e.g. statistics a
    built-in module learns from the data) that ``prepare`` does not mirror yet.
    Members seeded with ``None`` or a RandomState instance are not compared.
    """
    state = p.net.random_state
    if p.seed is None or not isinstance(state, (int, np.integer)):
        return ""
    try:
        twin = clone(p.net).set_params(verbose=0)
        twin.initialize()
        twin.fit_loop(member.X, member.y, epochs=0, sample_weight=member.sample_weight)
    except Exception as exc:  # its own fit will say what is wrong
        return f"setting up the net's own fit raised {type(exc).__name__}"
    ours, theirs = p.net.module_.state_dict(), twin.module_.state_dict()
    if ours.keys() != theirs.keys() or any(
            not torch.equal(ours[k], theirs[k].to(ours[k].device)) for k in ours):
        return ("the fused set-up does not reproduce this net's initial module (its fit "
                "set-up changed); fitted one by one")
    return ""


def fit_one_by_one(members: list[Member], indices: list[int], reason: str,
                   on_done: Any = None) -> GroupReport:
    """Fit ``members[i]`` for each of ``indices`` the normal way; one report, ``reason``."""
    report = GroupReport(list(indices), fused=False, reason=reason,
                         chunks=[[i] for i in indices])
    for i in indices:
        restore_random_state(members[i].net)
        error = fit_sequential(members[i])
        if error is not None:
            report.errors[i] = error
        if on_done is not None:
            on_done([i])
    return report


def _prepare_all(members: list[Member]) -> tuple[list[Prepared], dict[str, list[int]]]:
    prepared, fallback = [], defaultdict(list)
    cache: dict = {}
    for i, m in enumerate(members):
        reason = static_reason(m.net, m.X, m.y, m.fit_params)
        if not reason:
            try:
                p = prepare(i, m, cache)
            except Exception as exc:  # the sequential fit raises it again, per member
                reason = f"preparing the fit raised {type(exc).__name__}"
            else:
                reason = prepared_reason(p)
                if not reason:
                    prepared.append(p)
        if reason:
            fallback[reason].append(i)
    return prepared, fallback


def _build(chunk: list[Prepared]) -> tuple[FusedRun | None, str]:
    # the member with the most dropout layers leads: its graph runs for all (_merge)
    chunk = sorted(chunk, key=lambda p: -len(p.layout.rates) if p.layout else 0)
    modules = [p.net.module_ for p in chunk]
    params = [id(t) for m in modules for t in m.parameters()]
    if len(set(params)) != len(params):
        return None, "members share parameters (one module instance in several nets)"
    layouts = [getattr(p, "layout", None) for p in chunk]
    if None in layouts:  # the vmap path: one structure, names equal
        layouts = None
    forward = make_forward(modules, layouts)
    stack = FlatStack(modules, None if layouts is None else [lay.params for lay in layouts])
    p0 = chunk[0]
    x = p0.dataset.X[p0.train_rows[:2].to(p0.dataset.X.device)]
    reason = check_forward(forward, stack.views(), modules, x)
    if reason:
        for i in range(len(chunk)):
            stack.release(i)
        return None, reason
    forward.masks = member_masks(chunk, modules, layouts, forward, x)  # each its own draws
    optimizer = make_optimizer([p.net.optimizer_ for p in chunk], stack.flat)
    for row, p in enumerate(chunk):
        if _continued(p):  # Adam's moments, momentum buffers, step counts go on
            optimizer.load_from(row, p.net.optimizer_, stack)
    return FusedRun(chunk, forward, stack, optimizer), ""


def _continued(p: Prepared) -> bool:
    return p.resume is not None and p.resume.start is not None


def _chunks(group: list[Prepared], budget: int) -> list[list[Prepared]]:
    def n_params(p):
        return sum(t.numel() for t in p.net.module_.parameters())

    widest = max(group, key=n_params)  # a joined group pads every member to the widest
    size = max(1, budget // max(1, member_bytes(widest)))
    return [group[i:i + size] for i in range(0, len(group), size)]


def fit_all(members: list[Member], memory_budget: int | None,
            on_done: Any = None) -> list[GroupReport]:
    """Implementation of :func:`~sktorch.model_selection._fused.fit_members`."""
    prepared, fallback = _prepare_all(members)
    groups: dict[tuple, list[Prepared]] = defaultdict(list)
    for p in prepared:
        groups[structure_key(p)].append(p)
    reports = []
    pending = merge_groups(list(groups.values()))
    while pending:
        group = pending.pop(0)
        if len(group) == 1:
            fallback[ALONE].append(group[0].index)
            continue
        fresh = [p for p in group if not _continued(p)]  # a continued module is no start
        reason = canary_reason(members[fresh[0].index], fresh[0]) if fresh else ""
        if reason:
            fallback[reason].extend(p.index for p in group)
            continue
        budget = memory_budget if memory_budget is not None else default_budget(
            group[0].net.device)
        report = GroupReport([p.index for p in group], fused=True)
        refit = []
        for chunk in _chunks(group, budget):
            run, reason = _build(chunk)
            if run is None:
                shapes = by_shape(chunk)
                if len(shapes) > 1:  # padding widths was not exact: unpadded stacks
                    pending += shapes
                else:
                    fallback[reason].extend(p.index for p in chunk)
                report.members = [i for i in report.members if i not in
                                  {p.index for p in chunk}]
                continue
            report.chunks.append([p.index for p in chunk])
            report.forward = run.forward.kind
            try:
                chunk_refit = run.run()
                refit += chunk_refit
                if on_done is not None:  # a chunk's members all finish together
                    again = {p.index for p, _ in chunk_refit}
                    on_done([p.index for p in chunk if p.index not in again])
            except Exception as exc:  # never leave a member half-trained: fit them alone
                failed = run.abandon()
                fallback[f"fused training raised {type(exc).__name__}: {exc}"].extend(
                    p.index for p in failed)
                report.members = [i for i in report.members if i not in
                                  {p.index for p in failed}]
        for p, reason in refit:
            fallback[reason].append(p.index)
        gone = {p.index for p, _ in refit}
        report.members = [i for i in report.members if i not in gone]
        if report.members:
            reports.append(report)
    for reason, indices in fallback.items():
        reports.append(fit_one_by_one(members, sorted(indices), reason, on_done))
    return reports
