"""Stacking members' parameters into one tensor, and giving each member its own back.

All parameters of member ``i`` are row ``i`` of one ``(n_members, n_params)``
tensor, so the optimizer updates every member with a few large operations.
While training, each member's own ``module_`` parameters are views of its row:
whatever reads the member's module (EarlyStopping's copy of the best weights, a
scoring callback's prediction) sees the current weights, and what it writes
(``load_best``) lands in the stack. :meth:`FlatStack.release` ends that sharing.
"""

from __future__ import annotations

import torch

__all__ = ["FlatStack"]


class FlatStack:
    """The parameters of several modules of one structure, as rows of one tensor.

    Parameters
    ----------
    modules : list of nn.Module
        Modules with the same parameter names, shapes and dtype; their weights
        become rows of :attr:`flat`, and their parameters views of those rows.
    """

    def __init__(self, modules: list[torch.nn.Module]):
        named = list(modules[0].named_parameters())
        self.names = [name for name, _ in named]
        self.shapes = [p.shape for _, p in named]
        sizes = [p.numel() for _, p in named]
        self.offsets = [sum(sizes[:i]) for i in range(len(sizes) + 1)]
        rows = [torch.cat([p.detach().reshape(-1) for p in m.parameters()]) for m in modules]
        self.flat = torch.stack(rows).requires_grad_(True)
        self.modules = list(modules)
        self._bind()

    @property
    def n_members(self) -> int:
        return self.flat.shape[0]

    def layout(self, module: torch.nn.Module) -> list[tuple]:
        """``(parameter, start, end, shape)`` of each parameter of ``module`` in its row."""
        params = list(module.parameters())
        return [(p, self.offsets[k], self.offsets[k + 1], self.shapes[k])
                for k, p in enumerate(params)]

    def _bind(self) -> None:
        data = self.flat.detach()
        for row, module in enumerate(self.modules):
            for param, start, end, shape in self.layout(module):
                param.data = data[row, start:end].view(shape)

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
        for param in self.modules[row].parameters():
            param.data = param.data.clone()
            param.grad = None

    def keep(self, rows: torch.Tensor) -> None:
        """Keep the members at ``rows`` (after releasing the others)."""
        index = rows.tolist()
        self.modules = [self.modules[i] for i in index]
        self.flat = self.flat.detach()[rows].requires_grad_(True)
        self._bind()
