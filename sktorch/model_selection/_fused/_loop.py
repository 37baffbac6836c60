"""The fused epoch loop: every member's epoch in one pass of stacked steps.

Per epoch, each member draws its batch order exactly as its sequential fit would
(``TensorBatches`` over its training row numbers with its own generator, so the
same ``torch.randperm`` call), and step ``s`` gathers every member's batch ``s``
from one copy of the data. Members with fewer rows have padding that the loss
masks; a member without a batch at a step is frozen for that optimizer step. Each
member's loss is its own (weighted) mean, so its gradient is that of its
sequential fit.

Each member keeps its own net, history and callbacks: the loop writes the batch
rows its engine would write and calls the member's own callbacks
(``on_epoch_end`` computes ``train_loss``/``valid_loss``/``valid_acc``,
EarlyStopping decides, PrintLog prints). A member that stops (EarlyStopping,
``max_epochs``) is finished (``on_train_end``, optimizer state written back, own
weights) and removed from the stack; the others go on. A member whose losses or
weights become NaN/inf is handed back to be refit on its own, which reproduces
``on_nan`` exactly.
"""

from __future__ import annotations

import contextlib
import copy
import math
from typing import Any

import numpy as np
import torch

from sktorch._builtin import to_loss_units
from sktorch._data import TensorBatches
from sktorch._random import seed_global
from sktorch.callbacks import EpochScoring
from sktorch.engine import StopFlag
from sktorch.model_selection._fused._forward import StackedForward
from sktorch.model_selection._fused._optim import VectorizedOptimizer
from sktorch.model_selection._fused._stack import FlatStack

__all__ = ["FusedRun", "DIVERGED", "CALLBACK_RAISED"]

DIVERGED = ("its loss or weights became NaN/inf in fused training; refit alone, so that "
            "on_nan acts exactly as in a sequential fit")
CALLBACK_RAISED = "a callback raised in fused training; refit alone (its own fit raises it)"


def _pad(rows: list[torch.Tensor], width: int, device: Any) -> torch.Tensor:
    out = torch.zeros(len(rows), width, dtype=torch.long)
    for i, r in enumerate(rows):
        out[i, : len(r)] = r.cpu()
    return out.to(device)


def _loss_statistics(nets: list) -> tuple[torch.Tensor, torch.Tensor] | None:
    """The members' target statistics stacked as ``(M, 1, n_outputs)``, or None if none has any.

    See ``NeuralNet._target_statistics``; a member without any gets mean 0 and scale 1.
    """
    found = [net._target_statistics() for net in nets]
    known = [f for f in found if f is not None]
    if not known:
        return None
    zeros, ones = torch.zeros_like(known[0][0]), torch.ones_like(known[0][1])
    mean = torch.stack([zeros if f is None else f[0] for f in found])[:, None]
    scale = torch.stack([ones if f is None else f[1] for f in found])[:, None]
    return mean, scale


class _Member:
    """Loop-side state of one member: its prepared fit and what its hooks need."""

    def __init__(self, p: Any):
        self.p = p
        self.net = p.net
        self.n_train = len(p.train_rows)
        self.n_valid = 0 if p.valid_rows is None else len(p.valid_rows)
        scorers = [cb for _, cb in p.net.callbacks_ if type(cb) is EpochScoring]
        self.cache_valid = any(cb.use_caching and not cb.on_train for cb in scorers)
        self.cache_train = any(cb.use_caching and cb.on_train for cb in scorers)
        self.dataset_valid = self.dataset_train = None
        if scorers and p.valid_rows is not None:
            self.dataset_valid = p.dataset.subset(p.valid_rows.cpu())
        if any(cb.on_train for cb in scorers):
            self.dataset_train = p.dataset.subset(p.train_rows.cpu())
        self.batch_hooks = [cb for cb in scorers if cb.use_caching]
        self.accuracy = [cb for cb in scorers if _plain_accuracy(cb)]
        self.stop = StopFlag()
        self.net._stop_flag = self.stop

    def datasets(self) -> dict:
        return {"dataset_train": self.dataset_train, "dataset_valid": self.dataset_valid}

    def notify(self, hook: str, **kwargs: Any) -> None:
        self.net._callback_list.notify(hook, self.net, **kwargs)


class FusedRun:
    """Train prepared members (one structure, one chunk) as one stacked model.

    Parameters
    ----------
    prepared : list of Prepared
    forward : StackedForward
    stack : FlatStack
        The members' parameters, rows in the order of ``prepared``.
    optimizer : VectorizedOptimizer
    """

    def __init__(self, prepared: list, forward: StackedForward, stack: FlatStack,
                 optimizer: VectorizedOptimizer):
        self.members = [_Member(p) for p in prepared]
        self.forward, self.stack, self.optimizer = forward, stack, optimizer
        self.refit: list = []  # (prepared member, reason): to fit again on their own
        rep = prepared[0].net
        self.device = rep.device
        # The loss of every row: the net class's own get_loss (which only reads
        # criterion_) on a copy of the criterion with reduction='none'.
        criterion = copy.deepcopy(rep.criterion_)
        criterion.reduction = "none"
        self._get_loss = type(rep).get_loss
        # A shallow copy of the net, so that get_loss finds the class's own helpers.
        # (vars copied by hand: copy.copy would go through the net's pickling.)
        self._loss_owner = object.__new__(type(rep))
        vars(self._loss_owner).update(vars(rep))
        self._loss_owner.criterion_ = criterion
        # The built-in regressor's loss is in standardized target units: the loop
        # standardizes each member's rows with its own statistics (_refresh), so the
        # shared owner must not standardize them again with the first member's.
        self._loss_owner._target_statistics = lambda: None
        self._stack_data(prepared)

    # ------------------------------------------------------------------ data
    def _stack_data(self, prepared: list) -> None:
        """One copy of each distinct dataset; members index it with an offset."""
        unique: dict[int, tuple[Any, int]] = {}
        for p in prepared:
            if id(p.dataset) not in unique:
                start = sum(len(d) for d, _ in unique.values())
                unique[id(p.dataset)] = (p.dataset, start)
        datasets = [d for d, _ in unique.values()]
        self.X = datasets[0].X if len(datasets) == 1 else torch.cat([d.X for d in datasets])
        self.y = datasets[0].y if len(datasets) == 1 else torch.cat([d.y for d in datasets])
        device = self.X.device
        for m in self.members:
            m.offset = unique[id(m.p.dataset)][1]
        self.weighted = any(m.p.weights is not None for m in self.members)
        if self.weighted:
            width = max(len(m.p.dataset) for m in self.members)
            weights = torch.zeros(len(self.members), width, dtype=self.X.dtype, device=device)
            for i, m in enumerate(self.members):
                w = m.p.weights if m.p.weights is not None else torch.ones(len(m.p.dataset))
                weights[i, : len(w)] = w.to(device=device, dtype=weights.dtype)
            self.weights = weights
        self._refresh()

    def _refresh(self) -> None:
        """Per-member columns after the set of members changed."""
        device = self.X.device
        self.loss_statistics = _loss_statistics([m.net for m in self.members])
        self.offsets = torch.tensor([m.offset for m in self.members], device=device)[:, None]
        self.n_train = torch.tensor([m.n_train for m in self.members], device=device)
        valid = [m.p.valid_rows for m in self.members]
        self.has_valid = all(v is not None for v in valid)
        if self.has_valid:
            self.n_valid = torch.tensor([m.n_valid for m in self.members], device=device)
            width = max(m.n_valid for m in self.members)
            self.valid_order = _pad(valid, width, device)

    def _keep(self, rows: list[int]) -> None:
        index = torch.tensor(rows, device=self.stack.flat.device)
        self.members = [self.members[i] for i in rows]
        self.stack.keep(index)
        self.optimizer.keep(index)
        self.forward.keep(index)
        if self.weighted:
            self.weights = self.weights[index.to(self.weights.device)]
        self._refresh()

    # ------------------------------------------------------------------ steps
    @staticmethod
    def _step_size(sizes: list[int], counts: list[int]) -> int:
        """One batch size for all (grouping made them equal, or each member one batch)."""
        return sizes[0] if len(set(sizes)) == 1 else max(counts)

    def _pass_data(self, order: torch.Tensor, n_rows: torch.Tensor, size: int, steps: int):
        """Rows, targets, loss weights and batch weights of one pass, gathered once.

        ``order`` holds each member's row numbers in batch order, padded to
        ``steps * size``. The weight of a row is 1 (or its sample weight) divided by
        its batch's total, 0 for padding: each member's loss is then its own
        (weighted) mean over its batch, as ``criterion(reduction='mean')`` or
        sktorch's weighted loss computes it. The totals, ``(M, steps)``, are each
        batch's sample weight, which a weighted member's batch row records (as the
        engine's ``train_batch_weight``) so that its epoch loss is exact.
        """
        M, L = order.shape
        index = order + self.offsets
        dtype = self.stack.flat.dtype
        position = torch.arange(L, device=order.device)
        weights = (position[None, :] < n_rows[:, None]).to(dtype)
        if self.weighted:
            weights = weights * self.weights.gather(1, order).to(dtype)
        weights = weights.view(M, steps, size)
        totals = weights.sum(2, keepdim=True)
        weights = weights / totals.clamp_min(torch.finfo(dtype).tiny)
        return index, self.y[index], weights.view(M, L), totals.view(M, steps)

    def _member_losses(self, out: torch.Tensor, y: torch.Tensor, weights: torch.Tensor,
                       training: bool) -> torch.Tensor:
        """Each member's (weighted) mean loss over its rows in this batch."""
        M, S = weights.shape
        if self.loss_statistics is not None:  # (M, 1, n_outputs) each
            mean, scale = self.loss_statistics
            if out.ndim == 2:  # one squeezed output column
                mean, scale = mean[..., 0], scale[..., 0]
            out, y = to_loss_units(out, y, mean, scale)
        pred = out.reshape(M * S, *out.shape[2:])
        losses = self._get_loss(self._loss_owner, pred, y.reshape(M * S, *y.shape[2:]),
                                training=training)
        losses = losses.reshape(M, S) if losses.numel() == M * S else losses.reshape(
            M, S, -1).mean(dim=2)  # several values per row (e.g. outputs): their mean
        return (weights * losses).sum(1)

    def _train_pass(self) -> tuple[list, list, torch.Tensor]:
        """One epoch of training steps; per-step member losses, batch sizes and weights."""
        orders = [next(iter(TensorBatches((m.p.train_rows,), -1, True, m.p.generator)))[0]
                  for m in self.members]
        counts = [m.n_train for m in self.members]
        size = self._step_size([m.p.train_batch for m in self.members], counts)
        steps = max(math.ceil(c / size) for c in counts)
        order = _pad(orders, steps * size, self.X.device)
        index, y, weights, totals = self._pass_data(order, self.n_train, size, steps)
        losses, sizes, outputs = [], [], []
        keep_outputs = any(m.cache_train for m in self.members)
        flat = self.stack.flat
        for s in range(steps):
            cols = slice(s * size, (s + 1) * size)
            batch = [min(max(c - s * size, 0), size) for c in counts]
            params = self.stack.leaves()
            out = self.forward(params, self.X[index[:, cols]], True, batch)
            loss = self._member_losses(out, y[:, cols], weights[:, cols], True)
            grad = self.stack.gradient(loss.sum(), params)
            flat = self.stack.flat
            frozen = [i for i, b in enumerate(batch) if b == 0]
            self.optimizer.step(flat, grad, torch.tensor(frozen, device=flat.device)
                                if frozen else None)
            losses.append(loss.detach())
            sizes.append(batch)
            outputs.append((y[:, cols], out.detach()) if keep_outputs else None)
        self._train_outputs = outputs
        return losses, sizes, totals

    def _valid_pass(self) -> tuple[list, list, list, torch.Tensor]:
        counts = [m.n_valid for m in self.members]
        size = self._step_size([m.p.valid_batch for m in self.members], counts)
        steps = max(math.ceil(c / size) for c in counts)
        order = self.valid_order
        if order.shape[1] < steps * size:
            order = torch.nn.functional.pad(order, (0, steps * size - order.shape[1]))
        index, y, weights, totals = self._pass_data(order, self.n_valid, size, steps)
        losses, sizes, outputs = [], [], []
        params = self.stack.views()
        with torch.no_grad():
            for s in range(steps):
                cols = slice(s * size, (s + 1) * size)
                out = self.forward(params, self.X[index[:, cols]], False)
                losses.append(self._member_losses(out, y[:, cols], weights[:, cols], False))
                sizes.append([min(max(c - s * size, 0), size) for c in counts])
                outputs.append((y[:, cols], out))
        return losses, sizes, outputs, totals

    # ------------------------------------------------------------------ epochs
    def run(self) -> list:
        """Train until every member has finished; return ``(member, reason)`` to refit alone."""
        seed = self.members[0].p.seed
        with _forked_rng(seed, self.device):
            for m in list(self.members):
                try:
                    m.notify("on_train_begin", X=m.p.X, y=m.p.y)
                except Exception:  # e.g. EarlyStopping without validation data
                    self.refit.append((m.p, CALLBACK_RAISED))
                    m.failed = True
            self._drop([i for i, m in enumerate(self.members) if getattr(m, "failed", False)],
                       finish=False)
            self._drop([i for i, m in enumerate(self.members) if m.p.n_epochs <= 0],
                       finish=True)
            while self.members:
                self._epoch()
        return self.refit

    def abandon(self) -> list:
        """After an unexpected error: release the unfinished members; return them all."""
        for i in range(len(self.members)):
            self.stack.release(i)
        pending = [m.p for m in self.members] + [p for p, _ in self.refit]
        self.members, self.refit = [], []
        return pending

    def _epoch(self) -> None:
        for m in self.members:
            history = m.net.history
            history.new_epoch()
            history.record("epoch", len(history))
            m.notify("on_epoch_begin", **m.datasets())
        with torch.enable_grad():
            train_losses, train_sizes, train_totals = self._train_pass()
        valid = self._valid_pass() if self.has_valid else None
        values = torch.stack(train_losses).T.tolist()  # one read per epoch
        valid_values = torch.stack(valid[0]).T.tolist() if valid else None
        if self.weighted:  # each batch's total sample weight, for the weighted members
            train_totals = train_totals.tolist()
            valid_totals = valid[3].tolist() if valid else None
        finite = torch.isfinite(self.stack.flat.detach()).all(dim=1).tolist()
        diverged, finished = [], []
        for i, m in enumerate(self.members):
            rows = m.net.history[-1]["batches"]
            history = m.net.history
            weighted = self.weighted and m.p.weights is not None
            _append_rows(rows, "train", i, values[i], train_sizes,
                         train_totals[i] if weighted else None)
            history.record("train_batch_count", len(rows))  # as the engine's run_pass does
            if valid:
                _append_rows(rows, "valid", i, valid_values[i], valid[1],
                             valid_totals[i] if weighted else None)
                history.record("valid_batch_count",
                               len(rows) - history[-1]["train_batch_count"])
            bad = not finite[i] or not all(math.isfinite(r.get("train_loss", r.get(
                "valid_loss", 0.0))) for r in rows)
            if bad:
                diverged.append((i, DIVERGED))
                continue
            try:
                self._batch_hooks(i, m, train_sizes, valid)
                self._epoch_end(m)
            except Exception:  # its own fit raises it again, alone
                diverged.append((i, CALLBACK_RAISED))
                continue
            if m.stop.reason is not None or len(m.net.history) >= m.p.n_epochs:
                finished.append(i)
        for i, reason in diverged:
            self.refit.append((self.members[i].p, reason))
        diverged = [i for i, _ in diverged]
        self._drop(diverged, finish=False)
        finished = [i - sum(d < i for d in diverged) for i in finished]
        self._drop(finished, finish=True)

    def _epoch_end(self, m: _Member) -> None:
        """``on_epoch_end`` of the member's callbacks, in order; accuracy scored directly."""
        net, datasets = m.net, m.datasets()
        for callback in net._callback_list.by_hook["on_epoch_end"]:
            if callback in m.accuracy:
                _record_accuracy(net, callback, m.dataset_valid)
            else:
                callback.on_epoch_end(net, **datasets)

    def _batch_hooks(self, i: int, m: _Member, train_sizes: list, valid: Any) -> None:
        """Hand the member's batch outputs to the callbacks that cache them (EpochScoring)."""
        if not m.batch_hooks:
            return
        passes = []
        if m.cache_train:
            passes.append((True, self._train_outputs, train_sizes))
        if m.cache_valid and valid:
            passes.append((False, valid[2], valid[1]))
        for training, outputs, sizes in passes:
            for (y, out), size in zip(outputs, sizes):
                n = size[i]
                if not n:
                    continue
                batch = (None, y[i, :n])  # EpochScoring reads only the targets
                for cb in m.batch_hooks:
                    cb.on_batch_end(m.net, batch=batch, training=training,
                                    y_pred=out[i, :n], loss=None)

    def _drop(self, rows: list[int], finish: bool) -> None:
        """Remove members (finishing them first when ``finish``) from the stack."""
        if not rows:
            return
        for i in rows:
            m = self.members[i]
            if finish:
                self._finish(i, m)
            else:
                self.stack.release(i)
        keep = [i for i in range(len(self.members)) if i not in set(rows)]
        if keep:
            self._keep(keep)
        else:
            self.members = []

    def _finish(self, i: int, m: _Member) -> None:
        """What the engine does after the last epoch, then the member gets its own state."""
        if m.stop.reason is not None and m.net.history:
            m.net.history.record("stop_reason", m.stop.reason)
        self.optimizer.load_into(i, m.net.optimizer_, self.stack)
        if m.p.resume is not None:  # continued halving stores where the shuffling is
            m.p.resume.generator = m.p.generator
        m.net.module_.train(not self.has_valid)  # the mode its last pass left it in
        m.notify("on_train_end", X=m.p.X, y=m.p.y)  # load_best writes into the stack row
        self.stack.release(i)


def _append_rows(rows: list, prefix: str, i: int, values: list, sizes: list,
                 totals: list | None) -> None:
    """Member ``i``'s batch rows of one pass, as the engine's ``run_pass`` writes them.

    ``values`` and ``totals`` are the member's per step, ``sizes`` every member's per
    step; a step where the member had no rows writes none. ``totals`` (the batch's
    sample weight, ``{prefix}_batch_weight``) only for a weighted member.
    """
    loss_key, size_key = f"{prefix}_loss", f"{prefix}_batch_size"
    for s, (value, size) in enumerate(zip(values, sizes)):
        if size[i]:
            row = {loss_key: value, size_key: size[i]}
            if totals is not None:
                row[f"{prefix}_batch_weight"] = totals[s]
            rows.append(row)


def _plain_accuracy(callback: EpochScoring) -> bool:
    """Whether an EpochScoring is the classifiers' default ``valid_acc`` kind."""
    return (callback.scoring == "accuracy" and callback.use_caching and not callback.on_train
            and callback.target_extractor is np.asarray)


def _record_accuracy(net: Any, callback: EpochScoring, dataset_valid: Any) -> None:
    """What ``EpochScoring('accuracy').on_epoch_end`` records, without the scorer's checks.

    The labels come from the net's own ``predict`` on the cached outputs, and the
    score is the fraction of equal labels, which is what ``accuracy_score``
    computes; its input validation (most of its cost, per member and epoch) is
    skipped because both arrays come from the net.
    """
    if dataset_valid is None:
        return
    X, y = net.scoring_data(dataset_valid)
    with net.cached_forward(callback.y_preds_):
        predicted = net.predict(X)
    callback.y_preds_, callback.y_trues_ = [], []
    callback._record(net, float(np.mean(np.asarray(y) == predicted)))


@contextlib.contextmanager
def _forked_rng(seed: int | None, device: Any):
    """Random layers outside ``_masks`` (vmap path, AlphaDropout) draw from torch's global
    generator: seed a fork of it, as fit does."""
    if seed is None:
        yield
        return
    dev = torch.device(device or "cpu")
    with torch.random.fork_rng(devices=[dev.index or 0] if dev.type == "cuda" else []):
        seed_global(seed, dev)
        yield
