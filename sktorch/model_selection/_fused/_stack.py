"""Stacking members' parameters into one tensor, and giving each member its own back.

All parameters of member ``i`` are row ``i`` of one ``(n_members, n_params)``
tensor, so the optimizer updates every member with a few large operations.
While training, each member's own ``module_`` parameters are views of its row:
whatever reads the member's module (EarlyStopping's copy of the best weights, a
scoring callback's prediction) sees the current weights, and what it writes
(``load_best``) lands in the stack. :meth:`FlatStack.release` ends that sharing.

Members may differ in layer widths (see ``_merge``): each parameter's block in a
row has the largest member's shape, and a narrower member's parameter is the
leading corner of its block, the rest zeros that stay zero (their gradients are
exactly zero, see ``_merge``).
"""

from __future__ import annotations

import torch

__all__ = ["FlatStack"]


class FlatStack:
    """The parameters of several modules of one structure, as rows of one tensor.

    Parameters
    ----------
    modules : list of nn.Module
        Modules with the same parameters up to their widths, and one dtype; their
        weights become rows of :attr:`flat`, and their parameters views of those rows.
    names : list of list of str, optional
        Each module's parameter names, in one order that pairs them across
        modules (default: each module's ``named_parameters`` order, equal names).
        The first module's names name the stacked parameters.
    """

    def __init__(self, modules: list[torch.nn.Module], names: list[list[str]] | None = None):
        if names is None:
            names = [[name for name, _ in m.named_parameters()] for m in modules]
        self.names = list(names[0])
        self._params = [[dict(m.named_parameters())[n] for n in own]
                        for m, own in zip(modules, names)]
        self.shapes = [torch.Size(max(ps[k].shape[d] for ps in self._params)
                                  for d in range(self._params[0][k].dim()))
                       for k in range(len(self.names))]
        sizes = [s.numel() for s in self.shapes]
        self.offsets = [sum(sizes[:i]) for i in range(len(sizes) + 1)]
        first = self._params[0][0] if self.names else next(modules[0].parameters())
        self.flat = torch.zeros(len(modules), self.offsets[-1], dtype=first.dtype,
                                device=first.device)
        for row in range(len(modules)):
            for entry in self.layout_of(row):
                self.piece(self.flat[row], entry).copy_(entry[0].detach())
        self.flat.requires_grad_(True)
        self._bind()

    @property
    def n_members(self) -> int:
        return self.flat.shape[0]

    def layout_of(self, row: int) -> list[tuple]:
        """``(parameter, start, end, block shape, own shape)`` of member ``row``'s parameters."""
        return [(p, self.offsets[k], self.offsets[k + 1], self.shapes[k], p.shape)
                for k, p in enumerate(self._params[row])]

    @staticmethod
    def piece(vector: torch.Tensor, entry: tuple) -> torch.Tensor:
        """The view of one member's parameter in ``vector`` (its row of the stack or state)."""
        _, start, end, block, own = entry
        view = vector[start:end].view(block)
        if own == block:
            return view
        return view[tuple(slice(0, n) for n in own)]

    def _bind(self) -> None:
        data = self.flat.detach()
        for row in range(self.n_members):
            for entry in self.layout_of(row):
                entry[0].data = self.piece(data[row], entry)

    def views(self) -> dict[str, torch.Tensor]:
        """Each parameter for all members, shape ``(n_members, *shape)``; differentiable.

        Made anew for every step: autograd records the slicing in each step's graph.
        """
        flat, n = self.flat, self.flat.shape[0]
        return {name: flat[:, self.offsets[k]:self.offsets[k + 1]].view(n, *self.shapes[k])
                for k, name in enumerate(self.names)}

    def leaves(self) -> dict[str, torch.Tensor]:
        """Like :meth:`views`, but each parameter is a leaf that collects its own gradient.

        Gradients then need no scatter into the whole stack per parameter (what the
        backward of a slice of :attr:`flat` does); :meth:`gradient` joins them.
        """
        data, n = self.flat.detach(), self.flat.shape[0]
        return {name: data[:, self.offsets[k]:self.offsets[k + 1]].view(n, *self.shapes[k])
                .requires_grad_(True) for k, name in enumerate(self.names)}

    def gradient(self, loss: torch.Tensor, leaves: dict[str, torch.Tensor]) -> torch.Tensor:
        """The gradient of ``loss`` with respect to the stack, shape ``(n_members, n_params)``."""
        grads = torch.autograd.grad(loss, list(leaves.values()), allow_unused=True,
                                    materialize_grads=True)
        return torch.cat([g.reshape(g.shape[0], -1) for g in grads], dim=1)

    def release(self, row: int) -> None:
        """Give member ``row``'s module parameters their own memory (a copy of the row)."""
        for param in self._params[row]:
            param.data = param.data.clone(memory_format=torch.contiguous_format)
            param.grad = None

    def keep(self, rows: torch.Tensor) -> None:
        """Keep the members at ``rows`` (after releasing the others)."""
        index = rows.tolist()
        self._params = [self._params[i] for i in index]
        self.flat = self.flat.detach()[rows].requires_grad_(True)
        self._bind()
