"""The training loop: epochs of a training pass and a validation pass.

The engine owns the order of events (hooks, steps, history writes, the stop flag)
and nothing else: the net supplies the step functions and the batch sources. It
imports nothing from scikit-learn.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterable
from typing import Any

import torch

from sktorch._divergence import DivergenceGuard
from sktorch._warnings import warn_user
from sktorch.callbacks.base import CallbackList

__all__ = ["Engine", "StopFlag", "run_pass"]


class StopFlag:
    """Why training should stop; ``None`` while it should go on."""

    def __init__(self) -> None:
        self.reason: str | None = None
        self.interrupted = False
        # Raised by Engine.run once on_train_end has run for every callback.
        self.raise_after: BaseException | None = None

    def request(self, reason: str, raise_after: BaseException | None = None) -> None:
        if self.reason is None:
            self.reason = reason
        if raise_after is not None and self.raise_after is None:
            self.raise_after = raise_after


@contextlib.contextmanager
def _catch_sigint(flag: StopFlag):
    """Turn Ctrl-C into a stop request honoured after the current batch.

    Only possible in the main thread; elsewhere ``KeyboardInterrupt`` is caught by
    the loop instead.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame):
        if flag.interrupted:  # a second Ctrl-C aborts at once
            raise KeyboardInterrupt
        flag.interrupted = True
        flag.request("interrupted by the user (KeyboardInterrupt)")

    try:
        previous = signal.signal(signal.SIGINT, handler)
    except ValueError:  # not allowed in this interpreter state
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _n_samples(batch: Any) -> int:
    X = batch[0] if isinstance(batch, (tuple, list)) else batch
    if isinstance(X, torch.Tensor):  # the common case, without Tensor.__len__'s dispatch
        return X.shape[0]
    if isinstance(X, dict):
        X = next(iter(X.values()))
    return len(X)


class Engine:
    """Run the epoch and batch loop for one net.

    Parameters
    ----------
    net : NeuralNet
        Supplies ``train_step``, ``validation_step``, ``module_`` and ``history``.
    callbacks : CallbackList
        Hooks to notify; hooks no callback implements are skipped.
    """

    def __init__(self, net: Any, callbacks: CallbackList):
        self.net = net
        self.callbacks = callbacks
        self.stop = StopFlag()
        self.guard = DivergenceGuard(net)

    def run(
        self,
        train_batches: Iterable,
        valid_batches: Iterable | None,
        n_epochs: int,
        dataset_train: Any = None,
        dataset_valid: Any = None,
        X: Any = None,
        y: Any = None,
        **fit_params: Any,
    ) -> None:
        """Train for up to ``n_epochs``; ``on_train_end`` runs whatever happens."""
        net, notify = self.net, self.callbacks.notify
        datasets = {"dataset_train": dataset_train, "dataset_valid": dataset_valid}
        notify("on_train_begin", net, X=X, y=y)
        try:
            with _catch_sigint(self.stop):
                for _ in range(n_epochs):
                    self._epoch(train_batches, valid_batches, datasets, fit_params)
                    if self.stop.reason is not None:
                        if net.history:  # empty when the first epoch diverged
                            net.history.record("stop_reason", self.stop.reason)
                        break
            self.guard.check_end()
        except KeyboardInterrupt:
            self.stop.interrupted = True
            if net.history:
                net.history.record("stop_reason", "interrupted by the user (KeyboardInterrupt)")
        finally:
            if self.stop.interrupted:
                warn_user(
                    "Training was interrupted (KeyboardInterrupt); the net keeps the weights "
                    "of the last completed batch and can be used or trained further.",
                    UserWarning,
                )
            notify("on_train_end", net, X=X, y=y)
        if self.stop.raise_after is not None:  # e.g. optuna.TrialPruned: files are complete
            raise self.stop.raise_after

    def _epoch(self, train_batches, valid_batches, datasets, fit_params) -> None:
        net, notify, history = self.net, self.callbacks.notify, self.net.history
        history.new_epoch()
        history.record("epoch", len(history))
        notify("on_epoch_begin", net, **datasets)
        self.guard.epoch_begin()
        net._set_training(True)
        # run_single_epoch is the net's (overridable, as in skorch); by default it is
        # run_pass below. An override returns None: its rows may hold tensors.
        with torch.enable_grad():
            tensors = net.run_single_epoch(train_batches, training=True, prefix="train",
                                           step_fn=net.train_step, **fit_params) is not False
        if valid_batches is not None and self.stop.reason is None:
            net._set_training(False)
            with torch.no_grad():
                tensors |= net.run_single_epoch(
                    valid_batches, training=False, prefix="valid",
                    step_fn=net.validation_step, **fit_params) is not False
        if tensors:
            _materialize(history[-1]["batches"])
        sync = getattr(history, "sync", None)
        if sync is not None:  # e.g. DistributedHistory: share the batch rows across processes
            sync()
        diverged = self.guard.check_epoch()  # raises, or restores the weights: on_nan
        if diverged is not None:
            self.stop.request(diverged)
            return
        if self.stop.reason is not None:
            # Stopped mid-epoch (Ctrl-C or a batch hook): the epoch did not end, and its
            # scores would cover part of the data, so on_epoch_end is not called. The
            # row keeps its completed batches and gets the stop reason.
            return
        notify("on_epoch_end", net, **datasets)


def _record_weight(row: dict, key: str, batch: Any) -> int:
    """Write a weighted batch's total sample weight (its third tensor) to its row.

    Read as the loss is: at once on the CPU (return 1, a float was written), at the
    epoch's one sync on an accelerator (return 0: the row holds a tensor).
    """
    if not (isinstance(batch, (tuple, list)) and len(batch) > 2
            and isinstance(batch[2], torch.Tensor)):
        return 0
    total = batch[2].detach().sum()
    if total.is_cpu:
        row[key] = total.item()
        return 1
    row[key] = total
    return 0


def run_pass(net: Any, callbacks: CallbackList, stop: StopFlag, batches: Iterable,
             training: bool, step: Any, fit_params: dict) -> bool:
    """Run one pass; True when its batch rows may hold tensors (see _materialize).

    Each batch gets a row with its loss and size (``train_loss``,
    ``train_batch_size``); in a weighted fit also its total sample weight
    (``train_batch_weight``), because its loss is a weighted mean over the batch:
    the epoch's loss is then the mean of the rows' losses weighted by these totals
    (see :class:`~sktorch.callbacks.PassthroughScoring`).
    """
    history = net.history
    prefix = "train" if training else "valid"
    loss_key, size_key = f"{prefix}_loss", f"{prefix}_batch_size"
    # The same condition as the net's weighted loss (StepsMixin._batch_loss).
    weight_key = f"{prefix}_batch_weight" if getattr(net, "_weighted", False) else None
    begin = callbacks.has("on_batch_begin")
    end = callbacks.has("on_batch_end")
    notify = callbacks.notify
    rows = history[-1]["batches"]
    tensors = False
    n_before = len(rows)
    for batch in batches:
        row: dict = {}
        rows.append(row)  # before the hooks, so that they can write to the batch's row
        if begin:
            notify("on_batch_begin", net, batch=batch, training=training)
        out = step(batch, **fit_params)
        loss = out["loss"]
        # On an accelerator the loss stays there until the epoch's one sync (see
        # _materialize). On the CPU reading it costs no sync, and keeping thousands
        # of small loss tensors alive until the epoch ends fragments the C heap
        # between the larger activation buffers (peak RSS 1.6x a hand loop's on
        # 200k rows), so it is read at once.
        if loss.is_cpu:
            row[loss_key] = loss.item()
        else:
            row[loss_key] = loss.detach()
            tensors = True
        row[size_key] = _n_samples(batch)
        # Keys beyond these floats may hold tensors (a hook's, or a weight on a device).
        n_floats = 2 if weight_key is None else 2 + _record_weight(row, weight_key, batch)
        if end:
            notify(
                "on_batch_end", net, batch=batch, training=training,
                loss=loss.detach(), y_pred=out.get("y_pred"),
            )
        if len(row) > n_floats:  # a hook or an overridden step wrote to the row
            tensors = True
        if stop.reason is not None:  # Ctrl-C or a callback: end after this batch
            break
    history.record("train_batch_count" if training else "valid_batch_count",
                   len(rows) - n_before)
    return tensors


def _materialize(rows: list) -> None:
    """Replace the epoch's loss tensors by floats with one device sync."""
    places = [(row, key) for row in rows for key, value in row.items()
              if isinstance(value, torch.Tensor)]
    if not places:
        return
    tensors = [row[key] for row, key in places]
    if len({(t.dtype, t.shape, t.device) for t in tensors}) > 1:  # rare: mixed losses
        tensors = [t.float().reshape(()).to(tensors[0].device) for t in tensors]
    values = torch.stack(tensors).float().reshape(-1).tolist()
    for (row, key), value in zip(places, values):
        row[key] = value
