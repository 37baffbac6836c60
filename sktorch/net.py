"""``NeuralNet``: a torch module as a scikit-learn estimator.

The estimator owns parameters, their routing and validation, and the order of
fit and predict. The loop itself is the engine's; batches come from the data layer.
"""

from __future__ import annotations

import contextlib
import copy
from typing import Any

import numpy as np
import torch
from sklearn.base import BaseEstimator
from sklearn.utils import check_random_state
from torch.utils.data import DataLoader

from sktorch import _builtin, _params, _weights
from sktorch._estimator_params import ParamsMixin
from sktorch._net_data import DataMixin
from sktorch._predict import PredictMixin
from sktorch._validation import check_net_params, check_X_y
from sktorch.callbacks import EpochTimer, PassthroughScoring, PrintLog
from sktorch.callbacks.base import CallbackList, name_callbacks
from sktorch.dataset import Dataset, ValidSplit
from sktorch.engine import Engine, StopFlag
from sktorch.exceptions import NotInitializedError
from sktorch.history import History
from sktorch.persistence import PersistenceMixin

__all__ = ["NeuralNet"]

_AUTOCAST = {"bf16": torch.bfloat16, "16-mixed": torch.float16}
_NO_AUTOCAST = contextlib.nullcontext()  # reusable: no new object per step


class NeuralNet(ParamsMixin, DataMixin, PredictMixin, PersistenceMixin, BaseEstimator):
    """Wrap a ``torch.nn.Module`` as a scikit-learn estimator.

    Parameters
    ----------
    module : nn.Module class, instance, or None
        The model. A class (or factory) is built at ``initialize`` with the
        ``module__*`` parameters; an instance is copied at each fit unless
        ``warm_start=True``; ``None`` builds a one-hidden-layer MLP sized from the data.
    criterion : loss class or instance
        The loss; ``criterion__*`` parameters go to its constructor.
    optimizer : torch.optim.Optimizer class, default=SGD
        Built with the module's parameters, ``lr`` and ``optimizer__*``.
    lr : float, default=0.01
        Learning rate; changing it with ``set_params`` updates the optimizer in place.
    max_epochs : int, default=10
    batch_size : int, default=128
        ``-1`` trains on all rows at once.
    iterator_train, iterator_valid : class, default=DataLoader
        Batch iterators. With the default and in-memory data, batches are slices of
        tensors (no per-row reads); ``iterator_*__*`` parameters (e.g. ``num_workers``)
        or another class make a real iterator. Training batches are shuffled unless
        ``iterator_train__shuffle=False``.
    dataset : class, default=sktorch.dataset.Dataset
        Wraps ``(X, y)``; ``dataset__*`` parameters go to it.
    train_split : callable or None, default=ValidSplit(5)
        Splits off validation data; ``None`` trains on everything.
    callbacks : list, 'disable' or None
        Callbacks or ``(name, callback)`` pairs, added to the defaults.
    predict_nonlinearity : 'auto', callable or None, default='auto'
        Applied to outputs in ``predict_proba``: softmax after ``CrossEntropyLoss``,
        sigmoid after ``BCEWithLogitsLoss``, nothing otherwise.
    warm_start : bool, default=False
        Continue from the current weights on ``fit``.
    verbose : int, default=1
        Print a per-epoch table when > 0.
    device : str or torch.device, default='cpu'
        Where the module and data live; ``None`` leaves them where they are.
    compile : bool, default=False
        ``torch.compile`` the module once per initialization.
    precision : {'32', '64', 'bf16', '16-mixed'}, default='32'
        Autocast dtype for forward passes; '16-mixed' scales gradients on CUDA.
        '64' trains and predicts in float64 (module, features and float targets),
        e.g. when results must match to float64 round-off.
    random_state : int, RandomState or None
        Seeds weight initialization, shuffling, the validation split and dropout
        without touching torch's global random state.
    loss_function : loss class or instance, optional
        Alias of ``criterion``, as many tutorials write it.
    on_nan : {'raise', 'stop'}, default='raise'
        What to do when the loss (or a weight) becomes NaN or infinite. Losses are
        checked once per epoch, when the epoch's losses are read (no extra device
        sync per batch); weights when training ends (with ``'stop'``, every epoch).
        ``'raise'`` raises :class:`~sktorch.exceptions.TrainingDivergedError`
        naming the epoch and the first bad batch; ``'stop'`` ends training with a
        warning and restores the weights and optimizer state from the start of that
        epoch (the last finite ones). ``'stop'`` keeps one copy of the weights and of
        the optimizer state per epoch on the device.
    **kwargs
        Routed parameters (``module__hidden_units=20``, ``optimizer__momentum=0.9``,
        ``callbacks__print_log__sink=...``) and bare arguments of the module's
        ``__init__`` (``hidden_units=20``).

    Examples
    --------
    >>> import numpy as np, torch
    >>> from sktorch import NeuralNet
    >>> X = np.random.RandomState(0).randn(64, 3).astype('float32')
    >>> y = X.sum(axis=1, keepdims=True)
    >>> net = NeuralNet(torch.nn.Linear, criterion=torch.nn.MSELoss, module__in_features=3,
    ...                 module__out_features=1, max_epochs=2, verbose=0, random_state=0)
    >>> net.fit(X, y).predict(X).shape
    (64, 1)
    """

    prefixes_ = _params.PREFIXES
    _weighted = False  # set per fit: whether sample weights come with the batches
    _default_criterion: Any = None

    def __init__(
        self,
        module: Any = None,
        criterion: Any = None,
        optimizer: Any = torch.optim.SGD,
        lr: float = 0.01,
        max_epochs: int = 10,
        batch_size: int = 128,
        iterator_train: Any = DataLoader,
        iterator_valid: Any = DataLoader,
        dataset: Any = Dataset,
        train_split: Any = ValidSplit(5),  # noqa: B008 - stateless, safe to share
        callbacks: Any = None,
        predict_nonlinearity: Any = "auto",
        warm_start: bool = False,
        verbose: int = 1,
        device: Any = "cpu",
        compile: bool = False,
        precision: str = "32",
        random_state: Any = None,
        loss_function: Any = None,
        on_nan: str = "raise",
        **kwargs: Any,
    ):
        self.module = module
        self.criterion = criterion
        self.optimizer = optimizer
        self.lr = lr
        self.max_epochs = max_epochs
        self.batch_size = batch_size
        self.iterator_train = iterator_train
        self.iterator_valid = iterator_valid
        self.dataset = dataset
        self.train_split = train_split
        self.callbacks = callbacks
        self.predict_nonlinearity = predict_nonlinearity
        self.warm_start = warm_start
        self.verbose = verbose
        self.device = device
        self.compile = compile
        self.precision = precision
        self.random_state = random_state
        self.loss_function = loss_function
        self.on_nan = on_nan
        self._kwargs = {}
        _params.check_param_names(self, list(kwargs))
        for key, value in kwargs.items():
            self._set_kwarg(key, value)

    # ------------------------------------------------------------ initialize
    def _criterion_class(self) -> Any:
        return self.loss_function if self.loss_function is not None else (
            self.criterion if self.criterion is not None else self._default_criterion
        )

    def _seed(self) -> int:
        return int(self._random_state.randint(np.iinfo(np.int32).max))

    def initialize(self) -> NeuralNet:
        """Build callbacks, criterion, module and optimizer; reset the history."""
        check_net_params(self)
        for attr in ("n_features_in_", "feature_names_in_"):  # learned again from the data
            vars(self).pop(attr, None)
        self._random_state = check_random_state(self.random_state) if (
            self.random_state is not None) else None
        self.initialize_callbacks()
        self.initialize_criterion()
        self.module_ = None
        self.optimizer_ = None
        if self.module is not None:
            self.initialize_module()
            self.initialize_optimizer()
        self.history_ = History()
        self.initialized_ = True
        return self

    def initialize_callbacks(self) -> NeuralNet:
        """Resolve and initialize the callbacks (defaults plus user callbacks)."""
        defaults = [] if self.callbacks == "disable" else self.get_default_callbacks()
        user = [] if self.callbacks == "disable" else self.callbacks
        named = name_callbacks(defaults, user)
        callback_params = _params.params_for("callbacks", self._kwargs)
        for name, callback in named:
            own = _params.params_for(name, callback_params)
            if own:
                callback.set_params(**own)
            callback.initialize()
        self.callbacks_ = named
        self._callback_list = CallbackList(named)
        return self

    def get_default_callbacks(self) -> list[tuple[str, Any]]:
        """The callbacks every fit gets unless ``callbacks='disable'``."""
        callbacks = [
            ("epoch_timer", EpochTimer()),
            ("train_loss", PassthroughScoring("train_loss", on_train=True)),
            ("valid_loss", PassthroughScoring("valid_loss")),
        ]
        if _builtin.stops_on_plateau(self):
            callbacks.append((_builtin.PLATEAU_NAME, _builtin.PlateauStop()))
        if self.verbose:
            callbacks.append(("print_log", PrintLog()))
        return callbacks

    def initialize_criterion(self) -> NeuralNet:
        """Build ``criterion_`` from ``criterion``/``loss_function`` and ``criterion__*``."""
        criterion = self._criterion_class()
        if criterion is None:
            raise ValueError(
                f"{type(self).__name__} needs a loss: pass criterion=torch.nn.MSELoss (or "
                "another loss class), or use NeuralNetClassifier / NeuralNetRegressor, "
                "which have defaults."
            )
        kwargs = {**_params.params_for("criterion", self._kwargs),
                  **_params.params_for("loss_function", self._kwargs)}
        self.criterion_ = criterion(**kwargs) if isinstance(criterion, type) else criterion
        if isinstance(self.criterion_, torch.nn.Module) and self.device is not None:
            self.criterion_ = self.criterion_.to(self.device)
        return self

    def _module_kwargs(self, data_shape: dict | None = None) -> dict[str, Any]:
        kwargs = _params.component_params(self, "module")
        if self.module is None:
            kwargs = {**(data_shape or {}), **kwargs}
            kwargs.setdefault("output_nonlin", self._default_output_nonlin())
        return kwargs

    def _default_output_nonlin(self) -> Any:
        return None

    def initialize_module(self, data_shape: dict | None = None) -> NeuralNet:
        """Build ``module_``: a new module from a class, or a copy of an instance."""
        factory = _params.module_class(self.module)
        kwargs = self._module_kwargs(data_shape)
        with _seeded(self._seed() if self._random_state is not None else None):
            if factory is None:
                if kwargs:
                    raise ValueError(
                        "module is an instance, so module arguments "
                        f"{sorted(kwargs)} cannot be applied; pass the class instead, "
                        "e.g. module=MyModule, module__hidden_units=20."
                    )
                module = self.module if self.warm_start else copy.deepcopy(self.module)
            else:
                module = factory(**kwargs)
        if self.precision == "64":
            module = module.to(torch.float64)
        self.module_ = module.to(self.device) if self.device is not None else module
        self._forward_module = torch.compile(self.module_) if self.compile else self.module_
        return self

    def initialize_optimizer(self) -> NeuralNet:
        """Build ``optimizer_`` over the module's parameters."""
        kwargs = _params.params_for("optimizer", self._kwargs)
        optimizer, lr = _builtin.optimizer_and_lr(self)  # the built-in model's recipe
        kwargs.setdefault("lr", lr)
        self.optimizer_ = optimizer(self.module_.parameters(), **kwargs)
        self._needs_closure = isinstance(self.optimizer_, torch.optim.LBFGS)
        use_scaler = self.precision == "16-mixed" and torch.device(
            self.device or "cpu").type == "cuda"
        self._grad_scaler = torch.amp.GradScaler("cuda") if use_scaler else None
        return self

    def __sklearn_is_fitted__(self) -> bool:
        return bool(getattr(self, "initialized_", False)) and (
            getattr(self, "module_", None) is not None)

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True  # CSR batches are densified one batch at a time
        tags.target_tags.multi_output = True
        # Seeded CPU training is bit-reproducible; CUDA kernels may not be.
        tags.non_deterministic = not _on_cpu(self.device)
        return tags

    def check_is_fitted(self) -> None:
        """Raise :class:`~sktorch.exceptions.NotInitializedError` before ``fit``."""
        if not getattr(self, "initialized_", False) or getattr(self, "module_", None) is None:
            raise NotInitializedError(
                f"This {type(self).__name__} is not initialized yet; call fit (or "
                "initialize) before using it."
            )

    @property
    def history(self) -> History:
        """The training history (``history_``); empty before the first fit."""
        history = vars(self).get("history_")
        return history if history is not None else History()

    @history.setter
    def history(self, value: History) -> None:
        self.history_ = value

    # ------------------------------------------------------------------- fit
    def fit(self, X: Any, y: Any = None, sample_weight: Any = None,
            **fit_params: Any) -> NeuralNet:
        """Train from scratch (or continue with ``warm_start=True``) for ``max_epochs``.

        Parameters
        ----------
        X : array-like, tensor, DataFrame, sparse matrix, dict of arrays or Dataset
            Arrays are validated (finite, numeric, 2-D, same length as y); a torch
            ``Dataset`` (or ``SliceDataset``) is used as it is, without validation.
        y : array-like or tensor, optional
        sample_weight : array-like of shape (n_samples,), optional
            Weights of the rows in the training and validation losses, split and
            batched with the rows; never passed to the module. In-memory X only.
        **fit_params
            Passed to the module's ``forward``.

        Returns
        -------
        self

        Examples
        --------
        >>> import numpy as np
        >>> from sktorch import NeuralNetRegressor
        >>> X = np.random.RandomState(0).randn(40, 3).astype('float32'); y = X[:, 0]
        >>> weights = np.r_[np.ones(20), np.zeros(20)]  # ignore the second half
        >>> net = NeuralNetRegressor(max_epochs=2, verbose=0, random_state=0)
        >>> net.fit(X, y, sample_weight=weights).n_features_in_
        3
        """
        if not self.warm_start or not getattr(self, "initialized_", False):
            self.initialize()
        return self.partial_fit(X, y, sample_weight=sample_weight, **fit_params)

    def partial_fit(self, X: Any, y: Any = None, classes: Any = None,
                    sample_weight: Any = None, **fit_params: Any) -> NeuralNet:
        """Train the current model for ``max_epochs`` more epochs.

        ``classes`` (classifiers) names every label up front, for data that arrives
        in chunks which may not each contain all labels. ``sample_weight`` and the
        other arguments are as in :meth:`fit`.
        """
        if not getattr(self, "initialized_", False):
            self.initialize()
        if classes is not None and not hasattr(self, "classes_"):
            self.classes_ = np.asarray(classes)
        self.fit_loop(X, y, sample_weight=sample_weight, **fit_params)
        return self

    def fit_loop(self, X: Any, y: Any = None, epochs: int | None = None,
                 sample_weight: Any = None, **fit_params: Any) -> NeuralNet:
        """Run the training loop for ``epochs`` (default ``max_epochs``)."""
        X, y = check_X_y(self, X, y, fitting=True)
        dataset = self.get_dataset(X, y)
        weights = _weights.fit_weights(self, sample_weight, y, len(dataset))
        if weights is not None:
            if not isinstance(dataset, Dataset):
                raise ValueError(
                    "sample_weight and class_weight need in-memory X (arrays, tensors, "
                    "DataFrames); with a torch Dataset, return the weights from it and "
                    "weight the loss in an overridden get_loss."
                )
            dataset.sample_weight = weights
        self._weighted = weights is not None
        built = self.module_ is None
        if built:
            self.initialize_module(self._data_shape(dataset))
            self.initialize_optimizer()
        seed = self._seed() if self._random_state is not None else None
        generator = None if seed is None else torch.Generator().manual_seed(seed)
        dataset_train, dataset_valid = self.get_split_datasets(dataset, y, seed=seed)
        if built and self.module is None:  # the built-in model learns the data's statistics
            _builtin.fit_statistics(self, dataset_train)
        train_batches = self.get_iterator(dataset_train, training=True, generator=generator)
        valid_batches = None if dataset_valid is None else self.get_iterator(
            dataset_valid, training=False)
        engine = Engine(self, self._callback_list)
        self._stop_flag = engine.stop
        n_epochs = _builtin.max_epochs(self) if epochs is None else epochs
        with _seeded(seed, self.device):
            engine.run(train_batches, valid_batches, n_epochs, dataset_train, dataset_valid,
                       X=X, y=y, **fit_params)
        return self

    def request_stop(self, reason: str) -> None:
        """Ask training to stop after the current batch; ``reason`` goes into the history."""
        flag = getattr(self, "_stop_flag", None)
        if flag is None:
            self._stop_flag = flag = StopFlag()
        flag.request(reason)

    # ----------------------------------------------------------------- steps
    def _autocast(self):
        dtype = _AUTOCAST.get(self.precision)
        if dtype is None:
            return _NO_AUTOCAST
        return torch.autocast(torch.device(self.device or "cpu").type, dtype=dtype)

    def train_step_single(self, batch: Any, **fit_params: Any) -> dict[str, Any]:
        """Forward, loss and backward for one batch (no optimizer step)."""
        Xi, yi = batch[0], batch[1]
        with self._autocast():
            y_pred = self.infer(Xi, **fit_params)
            loss = self._batch_loss(y_pred, batch, training=True)
        scaler = self._grad_scaler
        (loss if scaler is None else scaler.scale(loss)).backward()
        if self._callback_list.by_hook["on_grad_computed"]:
            self._callback_list.notify(
                "on_grad_computed", self, named_parameters=list(self.module_.named_parameters()),
                X=Xi, y=yi, training=True)
        return {"loss": loss, "y_pred": y_pred}

    def train_step(self, batch: Any, **fit_params: Any) -> dict[str, Any]:
        """One optimization step; a closure is built only for optimizers that need one."""
        optimizer = self.optimizer_
        if self._needs_closure:
            result = {}

            def closure():
                optimizer.zero_grad()
                result.update(self.train_step_single(batch, **fit_params))
                return result["loss"]

            optimizer.step(closure)
            return result
        optimizer.zero_grad(set_to_none=True)
        result = self.train_step_single(batch, **fit_params)
        if self._grad_scaler is not None:
            self._grad_scaler.step(optimizer)
            self._grad_scaler.update()
        else:
            optimizer.step()
        return result

    def validation_step(self, batch: Any, **fit_params: Any) -> dict[str, Any]:
        """Forward and loss for one validation batch, without gradients."""
        Xi = batch[0]
        with torch.no_grad(), self._autocast():
            y_pred = self.infer(Xi, **fit_params)
            loss = self._batch_loss(y_pred, batch, training=False)
        return {"loss": loss, "y_pred": y_pred}

    def _batch_loss(self, y_pred: Any, batch: Any, training: bool) -> torch.Tensor:
        """``get_loss`` of a batch; weighted when the fit has sample weights (``batch[2]``)."""
        if self._weighted and len(batch) > 2:
            return _weights.weighted_loss(self, y_pred, batch[1], batch[0], batch[2], training)
        return self.get_loss(y_pred, batch[1], X=batch[0], training=training)

    def evaluation_step(self, batch: Any, training: bool = False) -> Any:
        """The module's output for one batch (gradients only when ``training``)."""
        Xi = batch[0] if isinstance(batch, (tuple, list)) else batch
        if self.module_.training != training:  # forward_iter set every submodule once
            self.module_.train(training)
        if torch.is_grad_enabled() == training and self.precision not in _AUTOCAST:
            return self.infer(Xi)  # e.g. under predict_proba's no_grad: no context to enter
        with torch.set_grad_enabled(training), self._autocast():
            return self.infer(Xi)

    def infer(self, x: Any, **fit_params: Any) -> Any:
        """Call the module; a dict ``x`` is passed as keyword arguments."""
        if isinstance(x, dict):
            return self._forward_module(**x, **fit_params)
        return self._forward_module(x, **fit_params)

    def get_loss(self, y_pred: Any, y_true: Any, X: Any = None, training: bool = False):
        """The criterion applied to predictions and targets."""
        return self.criterion_(y_pred, y_true)


@contextlib.contextmanager
def _seeded(seed: int | None, device: Any = None):
    """Run with torch's global generators seeded, restoring their state afterwards."""
    if seed is None:
        yield
        return
    dev = torch.device(device or "cpu")
    devices = [dev.index or 0] if dev.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        yield


def _on_cpu(device: Any) -> bool:
    try:
        return torch.device(device or "cpu").type == "cpu"
    except (RuntimeError, TypeError, ValueError):
        return False
