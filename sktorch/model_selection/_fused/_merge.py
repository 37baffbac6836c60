"""Joining structure groups whose modules differ only in dropout rates or layer widths.

A search over ``module__dropout`` or ``hidden_units`` makes one structure group per
value: each group trains as its own stack, one step after the other, and on a CPU
the per-step overhead of each group costs more than its arithmetic. Groups join
into one stack when their modules run the same graph of batched layers:

- **dropout rates**: ``nn.Dropout`` steps take one rate per member (see
  ``_forward.member_dropout``); a member without a dropout layer at that place
  (``MLPModule(dropout=0)`` builds none) has rate 0, which multiplies by exactly 1.
- **widths**: a narrower member's ``Linear`` weights sit in the leading corner of
  the widest member's block, the rest zeros (``FlatStack``). This is exact when every
  step maps zeros to zeros (``Linear`` with zero rows, ReLU, tanh, ..., dropout,
  sums and products of such values): a padded unit is then 0 in the forward pass,
  the next layer's zero columns ignore it, and the gradients of all padding
  entries are exactly 0, so every optimizer leaves them at 0 (weight decay of 0
  is 0). Layers with statistics (``Standardize``) have one shape for all members,
  so they never see a padded dimension. A step that maps 0 elsewhere (sigmoid,
  ``x + 1``, division, softmax) keeps the widths apart when it sees a padded
  dimension (a sigmoid on an output of one width for all is fine); so does a
  padded output (the loss would see it). A joined stack whose
  check fails (e.g. a padded output that the loss sees) trains as one stack per
  exact shape instead (:func:`by_shape`). Padding costs arithmetic: widths
  join only while the padded stack is at most :data:`PAD_COST` times the
  members' own parameters.

``check_forward`` then compares each member's own module with its row of the
stacked forward, as for any group.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from sktorch.model_selection._fused._forward import _layers_program, _Tracer, is_dropout
from sktorch.model_selection._fused._prepare import structure_key
from sktorch.toy import Standardize

__all__ = ["Layout", "by_shape", "fusion_layout", "merge_groups", "PAD_COST"]

PAD_COST = 1.5  # widths join while padded parameters <= PAD_COST x the members' own

_ZERO_MODULES = (nn.Linear, nn.ReLU, nn.Tanh, nn.LeakyReLU, nn.ELU, nn.GELU, nn.SiLU,
                 nn.Identity, nn.Hardtanh, nn.ReLU6, nn.Mish, nn.SELU, nn.CELU,
                 nn.Tanhshrink, nn.Softsign, nn.Hardswish,
                 Standardize)  # Standardize: over unpadded dims (see above)
# (softmax and log_softmax map padded zeros to non-zeros across the padded dim)
_ZERO_FUNCTIONS = {torch.relu, torch.tanh, F.relu, F.gelu, F.silu, F.elu, F.leaky_relu,
                   operator.mul, torch.mul}
_ZERO_SUMS = {operator.add, operator.sub, torch.add}  # zero-preserving between tensors
_ZERO_METHODS = {"relu", "tanh", "abs", "squeeze"}
_PLAIN = (int, float, str, bool, type(None), tuple)


@dataclass
class Layout:
    """A module's batched-layers graph with its dropout layers and widths left out.

    ``steps`` is equal for modules that compute the same function of their
    parameters once dropout rates are 0 and widths are padded; ``rates`` and
    ``dropout_nodes`` (``dropout_targets``) map a place in ``steps`` (the step a
    dropout follows) to the rate and to the dropout node's name (its submodule's);
    ``params`` and ``buffers`` name the module's tensors in graph order (they pair
    up across modules);
    ``zero_preserving``: whether padding widths is exact (see the module doc).
    """

    steps: tuple
    params: list[str]
    buffers: list[str]
    zero_preserving: bool
    rates: dict[int, float] = field(default_factory=dict)
    dropout_nodes: dict[int, str] = field(default_factory=dict)
    dropout_targets: dict[int, str] = field(default_factory=dict)  # the dropout submodules


def _canonical(value: Any, ids: dict) -> Any:
    if isinstance(value, torch.fx.Node):
        return ("node", ids[value.name])
    if isinstance(value, (tuple, list)):
        return tuple(_canonical(v, ids) for v in value)
    if isinstance(value, dict):
        return tuple(sorted((k, _canonical(v, ids)) for k, v in value.items()))
    return value if isinstance(value, _PLAIN) else repr(value)


def _settings(module: nn.Module) -> tuple:
    if type(module) is nn.Linear:  # widths left out: padding joins them
        return (nn.Linear, module.bias is not None)
    return (type(module), tuple(sorted(
        (k, v if isinstance(v, _PLAIN) else repr(v)) for k, v in vars(module).items()
        if not k.startswith("_") and k != "training")))


def _zero_preserving(node: Any, sub: nn.Module | None) -> bool:
    if node.op in ("placeholder", "output"):
        return True
    if sub is not None:
        return type(sub) in _ZERO_MODULES
    if node.op == "call_method":
        return node.target in _ZERO_METHODS
    if node.target in _ZERO_SUMS:  # 0 + 0 only: a constant term moves zeros
        return all(isinstance(a, torch.fx.Node) for a in node.args)
    return node.target in _ZERO_FUNCTIONS


def fusion_layout(module: nn.Module) -> Layout | None:
    """The module's :class:`Layout`, or None when it has no batched-layers form."""
    if _layers_program(module) is None:
        return None
    ids: dict[str, int] = {}
    steps, params, buffers, zero = [], [], [], True
    rates, nodes, targets = {}, {}, {}
    for node in _Tracer().trace(module).nodes:
        sub = module.get_submodule(node.target) if node.op == "call_module" else None
        if sub is not None and is_dropout(sub):
            place = ids[node.args[0].name]
            if place in rates:
                return None  # two dropouts in a row: keep such modules apart
            ids[node.name], rates[place], nodes[place] = place, float(sub.p), node.name
            targets[place] = node.target
            continue
        ids[node.name] = len(steps)
        zero = zero and _zero_preserving(node, sub)
        if sub is not None:
            target = _settings(sub)
            params += [f"{node.target}.{n}" for n, _ in sub.named_parameters(recurse=False)]
            buffers += [f"{node.target}.{n}" for n, _ in sub.named_buffers(recurse=False)]
        else:
            target = repr(node.target) if node.op == "call_function" else node.target
        steps.append((node.op, target, _canonical(node.args, ids),
                      _canonical(node.kwargs, ids)))
    if len(params) != len(list(module.parameters())) or len(set(params)) != len(params) or (
            len(buffers) != len(list(module.buffers()))):
        return None  # tensors outside the graph's layers (or shared): no pairing
    return Layout(tuple(steps), params, buffers, zero, rates, nodes, targets)


def _own_shapes(p: Any) -> tuple:
    named = dict(p.net.module_.named_parameters())
    return tuple(tuple(named[n].shape) for n in p.layout.params)


def _loose_key(p: Any) -> tuple:
    """``structure_key`` with the module's settings replaced by its layout's steps."""
    module = p.net.module_
    ndims = tuple((named.dim(), named.dtype) for named in module.parameters())
    buffers = tuple((tuple(t.shape), t.dtype) for t in module.buffers())
    return structure_key(p, (p.layout.steps, ndims, buffers))


def _places_fit(groups: list[list[Any]]) -> bool:
    """Whether one group's dropout places hold every other group's."""
    places = [set(g[0].layout.rates) for g in groups]
    widest = max(places, key=len)
    return all(p <= widest for p in places)


def _join(groups: list[list[Any]]) -> list[Any]:
    """One group; the member with the most dropout layers first (its graph runs for all)."""
    members = sorted((p for g in groups for p in g), key=lambda p: p.index)
    lead = max(members, key=lambda p: len(p.layout.rates))
    return [lead] + [p for p in members if p is not lead]


def _padding_pays(groups: list[list[Any]]) -> bool:
    shapes = [_own_shapes(g[0]) for g in groups]
    padded = [tuple(max(s[k][d] for s in shapes) for d in range(len(shapes[0][k])))
              for k in range(len(shapes[0]))]

    def numel(shape_list):
        return sum(int(torch.Size(s).numel()) for s in shape_list)

    own = sum(numel(s) * len(g) for s, g in zip(shapes, groups))
    return numel(padded) * sum(len(g) for g in groups) <= PAD_COST * own


def merge_groups(groups: list[list[Any]]) -> list[list[Any]]:
    """Join structure groups (lists of ``Prepared``) as the module doc says.

    Sets ``p.layout`` on every member (None without a batched-layers form). A
    joined group lists its lead member first.
    """
    buckets: dict[Any, list] = {}
    for group in groups:
        layout = fusion_layout(group[0].net.module_)
        for p in group:
            p.layout = layout
        key = ("apart", id(group)) if layout is None else _loose_key(group[0])
        buckets.setdefault(key, []).append(group)
    merged = []
    for entries in buckets.values():
        if len(entries) == 1 or entries[0][0].layout is None:
            merged.extend(entries)
            continue
        by_width: dict[tuple, list] = {}
        for group in entries:
            by_width.setdefault(_own_shapes(group[0]), []).append(group)
        widths = [_join(gs) if _places_fit(gs) else None for gs in by_width.values()]
        if None not in widths and len(widths) > 1 and _padding_exact(widths) \
                and _places_fit(widths) and _padding_pays(widths):
            merged.append(_join(widths))
            continue
        for joined, gs in zip(widths, by_width.values()):
            merged.extend([joined] if joined is not None else gs)
    return merged


def by_shape(members: list[Any]) -> list[list[Any]]:
    """``members`` of a width-joined group as one group per exact shape (unpadded)."""
    if any(getattr(p, "layout", None) is None for p in members):
        return [members]
    shapes: dict[tuple, list] = {}
    for p in members:
        shapes.setdefault(_own_shapes(p), []).append(p)
    return [_join([g]) for g in shapes.values()]


def _padding_exact(groups: list[list[Any]]) -> bool:
    """Whether every step that sees a padded dimension maps zeros to zeros.

    A ``Linear`` whose ``out_features`` differ between the groups makes a padded
    output; one whose ``out_features`` agree makes an unpadded one (its padded
    input columns are zero). Other steps pass padding on from their inputs.
    """
    module = groups[0][0].net.module_
    named = [dict(g[0].net.module_.named_modules()) for g in groups]
    padded_layers = {
        name for name, sub in module.named_modules() if type(sub) is nn.Linear and len({
            getattr(n.get(name), "out_features", None) for n in named}) > 1}
    padded: dict[str, bool] = {}
    for node in _Tracer().trace(module).nodes:
        sub = module.get_submodule(node.target) if node.op == "call_module" else None
        seen = any(padded.get(a.name, False) for a in node.all_input_nodes)
        if node.op == "output" and seen:
            return False  # the loss would see the padding
        if type(sub) is nn.Linear:
            padded[node.name] = node.target in padded_layers
            continue
        if seen and not (is_dropout(sub) if sub is not None else False) \
                and not _zero_preserving(node, sub):
            return False
        padded[node.name] = seen
    return True
