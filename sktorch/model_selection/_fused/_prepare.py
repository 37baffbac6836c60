"""Preparing members: what a sequential fit would set up, and whether a member can fuse.

:func:`prepare` runs the net's own steps in the order ``fit`` runs them
(``initialize``, ``check_X_y``, ``get_dataset``, the sample weights,
``initialize_module`` with ``_data_shape``, ``_seed``, ``get_split_datasets``), so
a fused member starts from the weights, validation split and shuffling generator
of its sequential fit. Nothing here re-implements seeding or conversion.

The split is made on a dataset whose features are the row numbers: ``ValidSplit``
only looks at the number of rows and at y, so the split datasets' features are
the member's training and validation row numbers, used to gather batches from one
copy of the data.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp
import torch
from torch.utils.data import DataLoader

from sktorch import (
    NeuralNet,
    NeuralNetBinaryClassifier,
    NeuralNetClassifier,
    NeuralNetRegressor,
    _builtin,
    _components,
    _params,
    _weights,
)
from sktorch._data import TensorBatches
from sktorch._validation import check_X_y
from sktorch.callbacks import EarlyStopping, EpochScoring, EpochTimer, PassthroughScoring, PrintLog
from sktorch.dataset import Dataset, ValidSplit
from sktorch.model_selection._fused._optim import optimizer_reason

__all__ = ["Prepared", "static_reason", "prepare", "prepared_reason", "structure_key"]

_NET_CLASSES = (NeuralNet, NeuralNetClassifier, NeuralNetBinaryClassifier, NeuralNetRegressor)
_CALLBACKS = (EpochTimer, PassthroughScoring, EpochScoring, PrintLog, EarlyStopping,
              _builtin.PlateauStop)
_CRITERIA = (torch.nn.NLLLoss, torch.nn.CrossEntropyLoss, torch.nn.BCELoss,
             torch.nn.BCEWithLogitsLoss, torch.nn.MSELoss, torch.nn.L1Loss,
             torch.nn.SmoothL1Loss, torch.nn.HuberLoss)
_PLAIN = (int, float, str, bool, type(None), tuple)


@dataclass
class Prepared:
    """A member set up as its sequential fit would be, up to the first epoch."""

    index: int
    net: Any
    X: Any  # as check_X_y returned it (what on_train_begin receives)
    y: Any
    dataset: Dataset  # the full training data as tensors (shared between members)
    weights: torch.Tensor | None
    train_rows: torch.Tensor  # row numbers into dataset
    valid_rows: torch.Tensor | None
    index_train: Dataset  # the split of the row-number dataset (y, weights per split)
    index_valid: Dataset | None
    generator: torch.Generator | None
    seed: int | None
    train_batch: int = 0  # rows per training batch, as the net's own iterator batches
    valid_batch: int = 0
    n_epochs: int = 0  # the most epochs its fit runs (_builtin.setup_training's answer)
    resume: Any = None  # the member's Resume: a continued fit (epochs on top of its history)


def static_reason(net: Any, X: Any, y: Any, fit_params: dict) -> str:
    """Why a member cannot fuse, from its parameters and data alone ('' if it may)."""
    if type(net) not in _NET_CLASSES:
        return (f"{type(net).__name__} is a subclass that may override the training steps; "
                "only NeuralNet, NeuralNetClassifier, NeuralNetBinaryClassifier and "
                "NeuralNetRegressor fuse")
    if net.warm_start and getattr(net, "initialized_", False):
        return "warm_start=True on a fitted net continues its own training"
    if fit_params:
        return f"fit parameters {sorted(fit_params)} go to the module's forward"
    if getattr(net, "_history_given", None) is not None:
        return "a history object of the user's (e.g. DistributedHistory)"
    if isinstance(X, torch.utils.data.Dataset) or type(X).__name__ == "SliceDataset":
        return "X is a torch Dataset (only in-memory arrays, tensors and DataFrames fuse)"
    if isinstance(X, dict) or sp.issparse(X):
        return f"X of type {type(X).__name__} (dicts and sparse matrices do not fuse)"
    if y is None:
        return "no y"
    if net.iterator_train is not DataLoader or net.iterator_valid is not DataLoader or any(
            _params.params_for(p, net._kwargs) for p in ("iterator_train", "iterator_valid")):
        return "a user iterator (DataLoader class or iterator_* options)"
    if net.dataset is not Dataset or _params.params_for("dataset", net._kwargs):
        return "a user dataset class or dataset options"
    split = net.train_split
    if split is not None and split is not False and type(split) is not ValidSplit:
        return f"train_split {split!r} (only None, False and ValidSplit fuse)"
    if net.precision not in ("32", "64"):
        return f"precision={net.precision!r} (autocast) does not fuse"
    return ""


def _callbacks_reason(net: Any) -> str:
    for name, callback in net.callbacks_:
        if type(callback) not in _CALLBACKS:
            return (f"callback {name!r} ({type(callback).__name__}) cannot be emulated in "
                    "fused training")
    return ""


def _criterion_reason(criterion: Any) -> str:
    if type(criterion) not in _CRITERIA:
        return f"criterion {type(criterion).__name__} is not supported by fused training"
    if getattr(criterion, "reduction", None) != "mean":
        return f"criterion reduction={criterion.reduction!r} (only 'mean' fuses)"
    if getattr(criterion, "weight", None) is not None:
        return "a class-weighted criterion (its mean divides by the weights)"
    return ""


def _module_reason(module: torch.nn.Module) -> str:
    for name, sub in module.named_modules():
        if isinstance(sub, torch.nn.modules.batchnorm._NormBase) and sub.track_running_stats:
            return (f"{type(sub).__name__} ({name}) updates running statistics in training "
                    "mode")
    dtypes = {p.dtype for p in module.parameters()}
    if len(dtypes) != 1:
        return "the module's parameters have mixed dtypes" if dtypes else "no parameters"
    if any(not p.requires_grad for p in module.parameters()):
        return "some parameters are frozen (requires_grad=False)"
    return ""


def prepared_reason(p: Prepared) -> str:
    """Why a prepared member cannot fuse ('' if it can)."""
    net = p.net
    extra = [name for names in _components.registered(net).values() for name in names[1:]]
    if extra:
        return f"extra components {extra} (only one module, criterion and optimizer fuse)"
    if not p.train_batch or (p.valid_rows is not None and not p.valid_batch):
        return "the net's iterator does not batch in-memory slices"
    return (_callbacks_reason(net) or _criterion_reason(net.criterion_)
            or optimizer_reason(net.optimizer_) or _module_reason(net.module_))


def _dataset(net: Any, X: Any, y: Any, cache: dict, key: tuple) -> Dataset:
    """``net.get_dataset(X, y)``, converted once per (X, y, net type and data settings)."""
    dataset = cache.get(key)
    if dataset is None:
        dataset = cache[key] = net.get_dataset(X, y)
    return dataset


def _row_dataset(dataset: Dataset, weights: torch.Tensor | None) -> Dataset:
    """A dataset of the same y (and weights) whose features are the row numbers."""
    rows = Dataset(torch.arange(len(dataset)))
    rows.y, rows.y_original, rows.sample_weight = dataset.y, dataset.y_original, weights
    return rows


def _rows_of(dataset: Dataset, weights: torch.Tensor | None, rows: torch.Tensor) -> Dataset:
    """The member's own training split of the data (with its weights), as ``fit_loop``'s."""
    source = Dataset(dataset.X)
    source.y, source.y_original, source.sample_weight = dataset.y, dataset.y_original, weights
    return source.subset(rows.cpu())


def _split(net: Any, rows: Dataset, y: Any, seed: int | None, data_key: tuple,
           cache: dict) -> tuple[Dataset, Dataset | None]:
    """``net.get_split_datasets`` of the row-number dataset, made once per distinct split.

    Members of one fold with the same split settings and seed (all candidates of a
    search with one ``random_state``) get the same split; the first member's split
    datasets hold the row numbers, which the others take as they are (a subset of
    their own rows, weights included), as ``ValidSplit`` does.
    """
    split = net.train_split
    if split is None or split is False:  # no validation data
        return net.get_split_datasets(rows, y, seed=seed)
    if split.random_state is None and seed is not None:
        # A continued member validates on the rows its first fit held out, as the
        # net's own partial_fit does (get_split_datasets keeps ``_split_seed``).
        kept = vars(net).get("_split_seed")
        seed = net._split_seed = seed if kept is None else kept
    state = split.random_state if split.random_state is not None else seed
    if not (state is None or isinstance(state, (int, np.integer))):
        return net.get_split_datasets(rows, y, seed=seed)
    key = ("split", *data_key, len(rows), repr(split.cv), split.stratified, state)
    found = cache.get(key)
    if found is None:
        train, valid = net.get_split_datasets(rows, y, seed=seed)
        cache[key] = (train.X.cpu(), valid.X.cpu())
        return train, valid
    return rows.subset(found[0]), rows.subset(found[1]).to(net.device)


def prepare(index: int, member: Any, cache: dict) -> Prepared:
    """Set ``member.net`` up as ``fit`` does, up to the first epoch (see the module doc)."""
    net = member.net
    resume = getattr(member, "resume", None)
    continued = resume is not None and resume.start is not None
    if continued:  # as partial_fit: the fitted net goes on, nothing is initialized
        if net.module_ is None:
            raise ValueError("a continued member needs a fitted net")
    else:
        if isinstance(net.random_state, np.random.RandomState):  # to refit it identically
            net._fused_rng_state = net.random_state.get_state()
        net.initialize()
    X, y = check_X_y(net, member.X, member.y, fitting=True)
    classes = tuple(np.asarray(getattr(net, "classes_", ())).tolist())
    key = (id(member.X), id(member.y), type(net), net.precision, str(net.device), classes,
           net.module is None)
    dataset = _dataset(net, X, y, cache, key)
    weights = _weights.fit_weights(net, member.sample_weight, y, len(dataset))
    net._weighted = weights is not None
    built = net.module_ is None
    if built:
        net._initialize_module_and_optimizer(net._data_shape(dataset))
    seed = net._seed() if net._random_state is not None else None
    generator = None if seed is None else torch.Generator().manual_seed(seed)
    if continued:  # shuffle on from where the last round left the generator
        generator = resume.start_generator()
    index_train, index_valid = _split(net, _row_dataset(dataset, weights), y, seed,
                                      (id(member.y), type(net)), cache)
    # The rest of the set-up is the net's own (statistics of the built-in model, the
    # epoch budget), on this member's training rows, as fit_loop does it.
    n_epochs = _builtin.setup_training(net, _rows_of(dataset, weights, index_train.X),
                                       built, resume.epochs if continued else None)
    if continued:  # the loop stops a member when its history has n_epochs epochs
        n_epochs += len(net.history)
    return Prepared(
        index=index, net=net, X=X, y=y, dataset=dataset, weights=weights,
        train_rows=index_train.X, valid_rows=None if index_valid is None else index_valid.X,
        index_train=index_train, index_valid=index_valid, generator=generator, seed=seed,
        train_batch=_batch_size(net, index_train, True),
        valid_batch=0 if index_valid is None else _batch_size(net, index_valid, False),
        n_epochs=n_epochs, resume=resume,
    )


def _batch_size(net: Any, rows: Dataset, training: bool) -> int:
    """Rows per batch of the net's own iterator over ``rows`` (0: not in-memory slices)."""
    batches = net.get_iterator(rows, training=training)
    return batches.batch_size if isinstance(batches, TensorBatches) else 0


def _batch_key(size: int, n_rows: int) -> Any:
    """Members fuse when their batches have one size, or when each has all its rows
    in one batch (``batch_size=-1``, whose size is each member's number of rows)."""
    return "one batch" if size == n_rows else size


def restore_random_state(net: Any) -> None:
    """Put a RandomState ``random_state`` back as it was before :func:`prepare`."""
    state = vars(net).pop("_fused_rng_state", None)
    if state is not None:
        net.random_state.set_state(state)


def _plain_attributes(module: torch.nn.Module) -> tuple:
    out = []
    for name, sub in module.named_modules():
        attrs = tuple(sorted(
            (k, v if isinstance(v, _PLAIN) else repr(v)) for k, v in vars(sub).items()
            if not k.startswith("_") and k != "training"))
        out.append((name, type(sub), attrs))
    return tuple(out)


def _criterion_key(criterion: Any) -> tuple:
    attrs = tuple(sorted((k, v) for k, v in vars(criterion).items()
                         if not k.startswith("_") and isinstance(v, _PLAIN)))
    buffers = tuple((k, tuple(v.reshape(-1).tolist())) for k, v in criterion.named_buffers())
    return type(criterion), attrs, buffers


def structure_key(p: Prepared, module_key: tuple | None = None) -> tuple:
    """Members with equal keys train as one stacked model.

    ``module_key`` replaces what the key says of the module (its parameter and
    buffer shapes and its settings); ``_merge`` passes a looser one.
    """
    net, module = p.net, p.net.module_
    if module_key is None:
        params = tuple((n, tuple(t.shape), t.dtype) for n, t in module.named_parameters())
        buffers = tuple((n, tuple(t.shape), t.dtype) for n, t in module.named_buffers())
        module_key = (params, buffers, _plain_attributes(module))
    y = p.dataset.y
    n_valid = 0 if p.valid_rows is None else len(p.valid_rows)
    return (
        type(net), str(net.device), net.precision, type(net.optimizer_),
        _criterion_key(net.criterion_), type(module), module_key,
        _batch_key(p.train_batch, len(p.train_rows)),
        _batch_key(p.valid_batch, n_valid),
        tuple(p.dataset.X.shape[1:]), p.dataset.X.dtype, tuple(y.shape[1:]), y.dtype,
        tuple((name, type(cb)) for name, cb in net.callbacks_),
        p.valid_rows is None, getattr(net, "_y_ndim", None),
    )


