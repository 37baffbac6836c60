"""Each member's dropout masks, drawn from its own generator.

A stacked training step applies dropout to the activations of all its members at
once. Drawn as one tensor, a member's mask would depend on the members that share
its stack (its row, the padded width, the stack's batch rows), so one search would
train other models when its members are split into memory chunks, cluster tasks or
GPU parts. Instead each member that drops units draws them itself: at every training
step it takes part in, one uniform draw per dropout layer, of shape (its rows in the
batch, its own width), from a generator seeded with the member's seed (as its
sequential fit seeds torch's). A member's masks are then a function of the member
alone, and a fused search gives the same members whatever its chunks, parts or
``n_jobs``. (They are still other draws than a sequential fit's, which draws
Bernoulli masks from torch's global generator: see ``fit_members``.)

Modules on the ``vmap`` path and ``nn.AlphaDropout`` still draw from torch's
(seeded) global generator for the whole stack.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from sktorch.model_selection._fused._forward import _target

__all__ = ["MemberMasks", "member_generator", "member_masks"]


def member_generator(seed: int | None, device: Any) -> torch.Generator | None:
    """The generator of a member's dropout masks; None (torch's global one) when unseeded."""
    if seed is None:
        return None
    return torch.Generator(device=torch.device(device or "cpu")).manual_seed(seed)


class MemberMasks:
    """Uniform draws for the dropout steps of a stack, each member from its own generator.

    Parameters
    ----------
    generators : list of torch.Generator or None
        One per member (row of the stack).
    rates : dict of node name -> list of float
        Each member's dropout rate at that step; a member with rate 0 draws nothing.
    shapes : dict of node name -> list of tuple
        Each member's own shape of the step's input, without the batch dimension
        (a narrower member's units sit in the leading corner of the padded ones).
    """

    def __init__(self, generators: list, rates: dict[str, list[float]],
                 shapes: dict[str, list[tuple]]):
        self.generators, self.rates, self.shapes = generators, rates, shapes
        self._drawing()

    def _drawing(self) -> None:
        """Per step: the members that draw, with their generators and own units."""
        self.draws = {name: [(i, self.generators[i], tuple(slice(0, n) for n in shape), shape)
                             for i, (rate, shape) in enumerate(zip(rates, self.shapes[name]))
                             if rate != 0]
                      for name, rates in self.rates.items()}

    def keep(self, rows: list[int]) -> None:
        """Keep the members at ``rows`` (in that order)."""
        self.generators = [self.generators[i] for i in rows]
        self.rates = {name: [r[i] for i in rows] for name, r in self.rates.items()}
        self.shapes = {name: [s[i] for i in rows] for name, s in self.shapes.items()}
        self._drawing()

    def uniform(self, name: str, x: torch.Tensor, batch: list[int]) -> torch.Tensor:
        """Draws shaped like ``x``: each member's own units from its generator, 1 elsewhere.

        ``batch`` holds each member's rows in this step (0: it has none and draws
        nothing). A draw of 1 keeps a unit at scale 1, so padding rows and units,
        and members with rate 0, are left as they are. On the CPU the draws fill
        the member's units in place (the same numbers as a separate ``torch.rand``
        of its shape, whatever the padding); elsewhere they are drawn separately
        and copied, so that they never depend on the stack's layout.
        """
        u = torch.ones_like(x)
        in_place = x.device.type == "cpu"
        for i, generator, units, shape in self.draws[name]:
            rows = batch[i]
            if rows == 0:
                continue
            own = u[(i, slice(0, rows)) + units]
            if in_place:
                own.uniform_(generator=generator)
            else:
                own.copy_(torch.rand((rows, *shape), generator=generator, dtype=x.dtype,
                                     device=x.device))
        return u


def _dropout_input_shapes(module: nn.Module, targets: dict[str, str],
                          x: torch.Tensor) -> dict[str, tuple]:
    """The shape (without the batch dimension) of each dropout target's input in ``module``."""
    found: dict[str, tuple] = {}
    handles = []
    for name, target in targets.items():
        def hook(_, args, name=name):
            found[name] = tuple(args[0].shape[1:])
        handles.append(module.get_submodule(target).register_forward_pre_hook(hook))
    was_training = module.training
    try:
        module.eval()
        with torch.no_grad():
            module(x)
    finally:
        module.train(was_training)
        for handle in handles:
            handle.remove()
    return found


def member_masks(chunk: list, modules: list[nn.Module], layouts: list | None,
                 forward: Any, x: torch.Tensor) -> MemberMasks | None:
    """The :class:`MemberMasks` of a chunk's stacked forward (None: nothing to draw).

    ``chunk`` holds the members' ``Prepared`` (their seeds and device), ``x`` a
    few rows of input to find each member's own widths with.
    """
    steps = [name for kind, name, _, _ in (forward.program or ()) if kind == "dropout"]
    if not steps:
        return None
    rates = {name: forward.rates[("rate", name)][0].tolist() for name in steps}
    shapes: dict[str, list] = {name: [] for name in steps}
    places = {} if layouts is None else {node: place for place, node in
                                         layouts[0].dropout_nodes.items()}
    if layouts is None:  # one structure: every member has the lead's shapes
        found = _dropout_input_shapes(modules[0], {name: _target(modules[0], name)
                                                   for name in steps}, x)
        shapes = {name: [found[name]] * len(modules) for name in steps}
    for k, module in enumerate(modules if layouts is not None else ()):
        own = layouts[k]
        targets = {name: own.dropout_targets[places[name]] for name in steps
                   if places[name] in own.dropout_targets}
        found = _dropout_input_shapes(module, targets, x)
        for name in steps:
            shapes[name].append(found.get(name, ()))
    generators = [member_generator(p.seed, p.net.device) for p in chunk]
    return MemberMasks(generators, rates, shapes)

