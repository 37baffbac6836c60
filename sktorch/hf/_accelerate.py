"""``AccelerateMixin``: train a net through Hugging Face Accelerate.

Mixed precision, gradient accumulation and multi-process data-parallel training
(several GPUs or machines, launched with ``accelerate launch`` or ``torchrun``) are
the accelerator's: the mixin hands it the net's module, criterion, optimizer and
batch iterators to ``prepare``, backpropagates with ``accelerator.backward``,
steps inside ``accelerator.accumulate`` and gathers predictions from every process.
Needs the ``accelerate`` package (``pip install sktorch[hf]``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import torch
from torch.utils.data import DataLoader, IterableDataset

from sktorch import _params
from sktorch._estimator_params import ParamsMixin
from sktorch._extras import require

__all__ = ["AccelerateMixin"]


class AccelerateMixin(ParamsMixin):
    """Train a net with an ``accelerate.Accelerator``.

    Put it before the net class::

        class AcceleratedNet(AccelerateMixin, NeuralNetClassifier):
            pass

        net = AcceleratedNet(MyModule, accelerator=Accelerator(mixed_precision='bf16'))

    Leave device placement to the accelerator: pass ``device=None``. Run the same
    script in every process (``accelerate launch --num_processes 2 train.py``):
    each process trains on its share of every batch, gradients are averaged
    across processes, and ``predict``/``predict_proba`` return the predictions of
    all rows, in order, in every process.

    Parameters
    ----------
    accelerator : accelerate.Accelerator
        Its ``mixed_precision`` and ``gradient_accumulation_steps`` apply to the
        fit (with accumulation over ``k`` steps, each optimizer step sees the mean
        gradient of ``k`` batches).
    unwrap_after_train : bool, default=True
        After training, replace the prepared module and criterion by the plain
        ones, so that the net can be pickled or used without the accelerator.
        Set it to False to continue training (``partial_fit``) with the
        prepared ones.
    *args, **kwargs
        The net's parameters. ``callbacks__print_log__sink`` defaults to
        ``'auto'``: the per-epoch table is printed with ``accelerator.print``,
        once, by the main process.

    Notes
    -----
    Batches come from a ``DataLoader`` (which the accelerator shards across
    processes) also for in-memory data. ``save_params`` (and so ``Checkpoint``)
    writes files from the main process only, after every process has arrived,
    and always saves the plain module's weights. ``load_params`` loads them into
    the plain module in every process.

    Examples
    --------
    >>> import numpy as np, torch
    >>> from accelerate import Accelerator
    >>> from sktorch import NeuralNetRegressor
    >>> class AcceleratedRegressor(AccelerateMixin, NeuralNetRegressor):
    ...     pass
    >>> X = np.random.RandomState(0).randn(64, 3).astype('float32'); y = X.sum(1)
    >>> net = AcceleratedRegressor(accelerator=Accelerator(cpu=True), device=None,
    ...                            max_epochs=2, verbose=0, random_state=0)
    >>> net.fit(X, y).predict(X).shape
    (64,)
    """

    def __init__(self, *args: Any, accelerator: Any, unwrap_after_train: bool = True,
                 **kwargs: Any):
        kwargs.setdefault("callbacks__print_log__sink", "auto")
        super().__init__(*args, **kwargs)
        self.accelerator = accelerator
        self.unwrap_after_train = unwrap_after_train

    # ------------------------------------------------------------ initialize
    def initialize(self) -> Any:
        require(type(self).__name__, "hf", "accelerate")
        if self.accelerator is None:
            raise ValueError(
                f"{type(self).__name__} needs an accelerator to train, got accelerator=None "
                "(an unpickled net has none); pass accelerator=Accelerator(), or set "
                "net.accelerator = Accelerator() on an unpickled net.")
        return super().initialize()

    def initialize_callbacks(self) -> Any:
        super().initialize_callbacks()
        for _, callback in self.callbacks_:
            if isinstance(getattr(callback, "sink", None), str) and callback.sink == "auto":
                callback.sink = self.accelerator.print
        return self

    def initialize_module(self, data_shape: dict | None = None) -> Any:
        super().initialize_module(data_shape)
        self.module_ = self.accelerator.prepare(self.module_)
        self._forward_module = self.torch_compile(self.module_, name="module")
        return self

    def initialize_criterion(self) -> Any:
        super().initialize_criterion()
        criterion = self.criterion_
        # Only a criterion with weights to learn is wrapped (DDP refuses one without).
        if isinstance(criterion, torch.nn.Module) and any(
                p.requires_grad for p in criterion.parameters()):
            self.criterion_ = self.accelerator.prepare(criterion)
        return self

    def initialize_optimizer(self) -> Any:
        super().initialize_optimizer()
        inner = self.optimizer_
        if isinstance(inner, torch.optim.LBFGS):
            raise ValueError(
                f"{type(self).__name__} cannot step {type(inner).__name__}: the optimizer "
                "needs a closure, which accelerate's optimizer wrapper does not take; use "
                "another optimizer, e.g. optimizer=torch.optim.Adam.")
        self.optimizer_ = self.accelerator.prepare(inner)
        return self

    # ------------------------------------------------------------------ data
    def get_iterator(self, dataset: Any, training: bool = False,
                     generator: torch.Generator | None = None) -> Any:
        """A ``DataLoader`` over ``dataset``, prepared (sharded) by the accelerator."""
        if self.accelerator is None:  # unpickled: batches as a plain net has them
            return super().get_iterator(dataset, training=training, generator=generator)
        prefix = "iterator_train" if training else "iterator_valid"
        iterator = self.iterator_train if training else self.iterator_valid
        kwargs = _params.params_for(prefix, self._kwargs)
        batch_size = kwargs.pop("batch_size", self.batch_size)
        if batch_size == -1:
            batch_size = len(dataset)
        shuffle = kwargs.pop("shuffle", training and not isinstance(dataset, IterableDataset))
        if generator is None and training:
            generator = getattr(self, "_fit_generator", None)
        if iterator is DataLoader and shuffle and generator is not None:
            kwargs.setdefault("generator", generator)
        if hasattr(dataset, "to"):  # an sktorch Dataset: rows are read on the CPU
            dataset = dataset.to("cpu")
        loader = iterator(dataset, batch_size=batch_size, shuffle=shuffle, **kwargs)
        return self.accelerator.prepare(loader)

    # ----------------------------------------------------------------- steps
    def train_step_single(self, batch: Any, **fit_params: Any) -> dict[str, Any]:
        """Forward and loss; ``accelerator.backward`` scales the loss as it needs."""
        Xi, yi = batch[0], batch[1]
        with self._autocast():  # the net's own precision=, if set; accelerate's is in forward
            y_pred = self.infer(Xi, **fit_params)
            loss = self._batch_loss(y_pred, batch, training=True)
        self.accelerator.backward(loss)
        self.notify("on_grad_computed", named_parameters=list(self.module_.named_parameters()),
                    X=Xi, y=yi, training=True)
        return {"loss": loss, "y_pred": y_pred}

    def train_step(self, batch: Any, **fit_params: Any) -> dict[str, Any]:
        """One batch inside ``accelerator.accumulate``.

        The prepared optimizers step and zero their gradients only on the batches
        where the accelerator synchronizes them (every ``gradient_accumulation_steps``
        batches, and the last batch of an epoch); the gradients are zeroed after a
        step, not before the backward pass, so that accumulated ones survive.
        """
        with self.accelerator.accumulate(self.module_):
            result = self.train_step_single(batch, **fit_params)
            for optimizer in (self.optimizer_, *self._extra_optimizers):
                optimizer.step()
                optimizer.zero_grad(set_to_none=True)
        return result

    def validation_step(self, batch: Any, **fit_params: Any) -> dict[str, Any]:
        """This process's loss; the output of every process (for scores of all rows)."""
        result = super().validation_step(batch, **fit_params)
        result["y_pred"] = self.accelerator.gather_for_metrics(result["y_pred"])
        return result

    def evaluation_step(self, batch: Any, training: bool = False) -> Any:
        """This process's output for its share of a batch, gathered from every process."""
        y_pred = super().evaluation_step(batch, training=training)
        if self.accelerator is None:
            return y_pred
        return self.accelerator.gather_for_metrics(y_pred)

    # -------------------------------------------------------------- training
    def on_train_end(self, net: Any, X: Any = None, y: Any = None, **kwargs: Any) -> None:
        self.accelerator.wait_for_everyone()
        super().on_train_end(net, X=X, y=y, **kwargs)
        if self.unwrap_after_train:
            self.unwrap()

    def unwrap(self) -> Any:
        """Replace the prepared module and criterion by the plain ones (returns self)."""
        self.module_ = _plain(self.accelerator, self.module_)
        self.criterion_ = _plain(self.accelerator, self.criterion_)
        self._forward_module = self.torch_compile(self.module_, name="module")
        return self

    @contextlib.contextmanager
    def _unwrapped(self) -> Iterator[None]:
        """The plain module, criterion and optimizer in place for the duration."""
        names = [name for name in ("module_", "criterion_", "optimizer_")
                 if getattr(self, name, None) is not None]
        prepared = {name: getattr(self, name) for name in names}
        try:
            for name, component in prepared.items():
                setattr(self, name, _plain(self.accelerator, component))
            yield
        finally:
            for name, component in prepared.items():
                setattr(self, name, component)

    # ----------------------------------------------------------- persistence
    def save_params(self, *args: Any, **kwargs: Any) -> None:
        """As the net's, from the main process only, once every process has arrived."""
        self.accelerator.wait_for_everyone()
        if self.accelerator.is_main_process:
            with self._unwrapped():
                super().save_params(*args, **kwargs)
        self.accelerator.wait_for_everyone()

    def load_params(self, *args: Any, **kwargs: Any) -> None:
        """As the net's, into the plain module (the prepared one shares its weights)."""
        with self._unwrapped():
            super().load_params(*args, **kwargs)

    def __getstate__(self) -> dict:
        # The accelerator holds this process's distributed state: it is not pickled.
        # Unpickled, the net predicts like a plain one; set an accelerator to train it.
        if self.accelerator is None:
            return super().__getstate__()
        with self._unwrapped():
            state = super().__getstate__()
        state["accelerator"] = None
        return state

    def __sklearn_clone__(self) -> Any:
        # A clone shares the accelerator (one per process) instead of a deep copy.
        accelerator, self.accelerator = self.accelerator, None
        try:
            cloned = super().__sklearn_clone__()
        finally:
            self.accelerator = accelerator
        cloned.accelerator = accelerator
        return cloned


def _plain(accelerator: Any, component: Any) -> Any:
    """A component without the accelerator's wrapper (DDP, mixed-precision forward)."""
    if accelerator is None or component is None:
        return component
    if isinstance(component, torch.nn.Module):
        return accelerator.unwrap_model(component)
    inner = getattr(component, "optimizer", None)  # accelerate's AcceleratedOptimizer
    return inner if isinstance(inner, torch.optim.Optimizer) else component
