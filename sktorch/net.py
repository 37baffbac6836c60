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

from sktorch import _builtin, _callback_params, _components, _params
from sktorch._components import ComponentsMixin
from sktorch._defaults import (
    DEFAULT_BATCH_SIZE,
    DEFAULT_LR,
    DEFAULT_MAX_EPOCHS,
    DEFAULT_OPTIMIZER,
)
from sktorch._estimator_params import ParamsMixin
from sktorch._fit_data import check_fit_data
from sktorch._net_data import DataMixin
from sktorch._net_hooks import HooksMixin, with_own_hooks
from sktorch._net_steps import StepsMixin
from sktorch._predict import PredictMixin
from sktorch._random import loop_draws_globally
from sktorch._random import seeded as _seeded
from sktorch._validation import check_net_params, on_cpu
from sktorch.callbacks import EpochTimer, PassthroughScoring, PrintLog
from sktorch.callbacks.base import CallbackList
from sktorch.dataset import Dataset, ValidSplit
from sktorch.engine import Engine, StopFlag
from sktorch.exceptions import NotInitializedError
from sktorch.history import History
from sktorch.model_selection import _cache as _fit_cache
from sktorch.persistence import PersistenceMixin

__all__ = ["NeuralNet"]



class NeuralNet(ParamsMixin, ComponentsMixin, HooksMixin, DataMixin, StepsMixin,
                PredictMixin, PersistenceMixin, BaseEstimator):
    """Wrap a ``torch.nn.Module`` as a scikit-learn estimator.

    Parameters
    ----------
    module : nn.Module class, instance, or None
        The model. A class (or factory) is built at ``initialize`` with the
        ``module__*`` parameters; an instance is copied at each fit unless
        ``warm_start=True`` (with ``module__*`` parameters it is built again from its
        class); ``None`` builds a one-hidden-layer MLP sized from the data, whose
        training recipe (Adam, up to 200 epochs with a plateau stop, batches of up
        to 200 rows) replaces ``optimizer``, ``lr``, ``max_epochs`` and
        ``batch_size`` while they are left untouched; a value you write, even equal
        to the default, is used as written (see :mod:`sktorch._builtin`).
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
    train_split : callable, None or False, default=ValidSplit(5)
        Splits off validation data; ``None`` (or ``False``) trains on everything.
    callbacks : list, 'disable' or None
        Callbacks, callback classes or ``(name, callback)`` pairs, added to the
        defaults. ``callbacks__<name>__<param>`` configures a copy of one at
        ``initialize``; ``callbacks__<name>=None`` removes one.
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
    use_caching : bool or 'auto', default='auto'
        ``True`` or ``False`` sets ``use_caching`` on every callback that has it
        (the scoring callbacks: score the predictions made in the epoch, or predict
        again); ``'auto'`` leaves each callback's own setting.
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
    torch_load_kwargs : dict or None, default=None
        Arguments for ``torch.load`` in :meth:`load_params`, over sktorch's
        ``map_location`` (the net's device) and ``weights_only=True``; e.g.
        ``{'weights_only': False}`` loads a trusted file that holds other objects.
    **kwargs
        Routed parameters (``module__hidden_units=20``, ``optimizer__momentum=0.9``,
        ``callbacks__print_log__sink=...``, ``compile__mode=...``) and bare arguments
        of the module's ``__init__`` (``hidden_units=20``). ``history=`` gives the
        history object to record into (e.g. a
        :class:`~sktorch.history.DistributedHistory`); it is not a parameter.

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
    _extra_optimizers: tuple = ()  # registered optimizers besides optimizer_ (optimizer2_)
    _default_criterion: Any = None

    def __init__(
        self,
        module: Any = None,
        criterion: Any = None,
        optimizer: Any = DEFAULT_OPTIMIZER,
        lr: float = DEFAULT_LR,
        max_epochs: int = DEFAULT_MAX_EPOCHS,
        batch_size: int = DEFAULT_BATCH_SIZE,
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
        use_caching: Any = "auto",
        precision: str = "32",
        random_state: Any = None,
        loss_function: Any = None,
        on_nan: str = "raise",
        torch_load_kwargs: dict | None = None,
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
        self.use_caching = use_caching
        self.precision = precision
        self.random_state = random_state
        self.loss_function = loss_function
        self.on_nan = on_nan
        self.torch_load_kwargs = torch_load_kwargs
        self._kwargs = {}
        self._history_given = kwargs.pop("history", None)
        _params.check_param_names(self, list(kwargs))
        _params.check_component_arguments(self, list(kwargs))
        for key, value in kwargs.items():
            self._set_kwarg(key, value)

    # ------------------------------------------------------------ initialize
    def _criterion_class(self) -> Any:
        return self.loss_function if self.loss_function is not None else (
            self.criterion if self.criterion is not None else self._default_criterion
        )

    def _seed(self) -> int:
        return int(self._random_state.randint(np.iinfo(np.int32).max))

    def _extras_seed(self) -> int | None:
        """The seed of a subclass's own modules, from ``random_state`` without drawing from it.

        Derived from the next draw, which ``initialize_module`` then takes for ``module_``:
        ``module_``'s weights and every later seed stay what they were without extras.
        """
        state = getattr(self, "_random_state", None)
        if state is None:
            return None
        upcoming = copy.deepcopy(state).randint(np.iinfo(np.int32).max)
        return int(np.random.RandomState(upcoming).randint(np.iinfo(np.int32).max))

    def initialize(self) -> NeuralNet:
        """Build callbacks, criterion, module and optimizer; reset the history.

        With ``verbose``, re-initializing an initialized net says so
        ("Re-initializing module." ...), as skorch does on a second ``fit``.
        """
        check_net_params(self)
        if getattr(self, "initialized_", False) and self.verbose:
            for kind in _components.KINDS:
                print(f"Re-initializing {kind}.")
        for attr in ("n_features_in_", "feature_names_in_"):  # learned again from the data
            vars(self).pop(attr, None)
        self._random_state = check_random_state(self.random_state) if (
            self.random_state is not None) else None
        self._split_seed = None  # a new model may validate on other rows (get_split_datasets)
        _components.reset(self)
        self.initialize_callbacks()
        _components.run_initializer(self, "criterion")
        self.module_ = None
        self.optimizer_ = None
        if self.module is not None:
            self._initialize_module_and_optimizer()
        self.initialize_history()
        self.initialized_ = True
        return self

    def _initialize_module_and_optimizer(self, data_shape: dict | None = None) -> None:
        _components.run_initializer(self, "module", data_shape)
        _components.run_initializer(self, "optimizer")
        # All components are known now: prefixes that still name none are typos.
        _params.check_param_names(self, list(self._kwargs), final=True)

    def initialize_callbacks(self) -> NeuralNet:
        """Resolve, configure and initialize the callbacks (defaults plus user callbacks).

        ``callbacks__<name>__<param>`` values configure a copy of the named callback
        (the user's object stays as it is); ``callbacks__<name>=None`` removes one.
        ``PrintLog`` runs last, after every callback that records values.
        """
        named = _callback_params.configure_callbacks(self)
        for _, callback in named:
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
        callbacks += _builtin.recipe_callbacks(self)  # the built-in model's plateau stop
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
        """Build ``module_``: a new module from a class, or a copy of an instance.

        An instance given together with ``module__*`` arguments is built again from
        its class with those arguments (as skorch does).
        """
        factory = _params.module_class(self.module)
        kwargs = self._module_kwargs(data_shape)
        if factory is None and kwargs:
            factory = type(self.module)
        with _seeded(self._seed() if self._random_state is not None else None):
            if factory is None:
                module = self.module if self.warm_start else copy.deepcopy(self.module)
            else:
                module = factory(**kwargs)
        self._set_module(module)
        return self

    def initialize_optimizer(self) -> NeuralNet:
        """Build ``optimizer_`` over the learnable parameters of modules and criteria."""
        args, kwargs = self.get_params_for_optimizer("optimizer", self.get_all_learnable_params())
        optimizer, lr = _builtin.optimizer_and_lr(self)  # the built-in model's recipe
        if _builtin.uses_recipe_optimizer(self):
            kwargs.update(_builtin.recipe_optimizer_kwargs(self))
        self.optimizer_ = optimizer(*args, **kwargs)
        self._optimizer_ready()
        return self

    def __sklearn_is_fitted__(self) -> bool:
        return bool(getattr(self, "initialized_", False)) and (
            getattr(self, "module_", None) is not None)

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True  # CSR batches are densified one batch at a time
        tags.target_tags.multi_output = True
        # Seeded CPU training is bit-reproducible; CUDA kernels may not be.
        tags.non_deterministic = not on_cpu(self.device)
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
        if _fit_cache.active and _fit_cache.serve(self, X, y, sample_weight, fit_params):
            return self  # a search trained this fit ahead (fused), see model_selection
        fresh = not self.warm_start or not getattr(self, "initialized_", False)
        # Validated before initialize(): a rejected fit leaves a fitted net as it was.
        data = check_fit_data(self, X, y, sample_weight, fresh=fresh)
        # A fresh fit that fails before its first epoch ends (the module rejects the
        # data, a callback raises) gives the fitted net back too: its old module,
        # optimizer and history are other objects than the new ones.
        before = dict(vars(self)) if fresh and self.__sklearn_is_fitted__() else None
        try:
            if fresh:
                self.initialize()
            self._with_fit_data(data, self.partial_fit, data.X, data.y,
                                sample_weight=sample_weight, **fit_params)
        except BaseException:
            if before is not None and len(self.history) <= 1:
                vars(self).clear()
                vars(self).update(before)
            raise
        return self

    def partial_fit(self, X: Any, y: Any = None, classes: Any = None,
                    sample_weight: Any = None, **fit_params: Any) -> NeuralNet:
        """Train the current model for ``max_epochs`` more epochs.

        ``classes`` (classifiers) names every label up front, for data that arrives
        in chunks which may not each contain all labels; ``classes_`` is sorted, as
        in scikit-learn. ``sample_weight`` and the other arguments are as in :meth:`fit`.
        """
        self._check_not_trimmed("partial_fit")
        data = getattr(self, "_fit_data", None)
        if data is not None and data.matches(X, y) and classes is None:
            self.fit_loop(X, y, sample_weight=sample_weight, **fit_params)
            return self
        fresh = not getattr(self, "initialized_", False)
        data = check_fit_data(self, X, y, sample_weight, classes=classes, fresh=fresh)
        if fresh:
            self.initialize()
        self._with_fit_data(data, self.fit_loop, data.X, data.y,
                            sample_weight=sample_weight, **fit_params)
        return self

    def _with_fit_data(self, data: Any, method: Any, *args: Any, **kwargs: Any) -> Any:
        """Learn from validated data, then call ``method`` (which skips validating it again)."""
        data.learn(self)
        self._fit_data = data
        try:
            return method(*args, **kwargs)
        finally:
            self._fit_data = None

    def fit_loop(self, X: Any, y: Any = None, epochs: int | None = None,
                 sample_weight: Any = None, **fit_params: Any) -> NeuralNet:
        """Run the training loop for ``epochs`` (default ``max_epochs``)."""
        data = getattr(self, "_fit_data", None)
        if data is None or not data.matches(X, y):
            data = check_fit_data(self, X, y, sample_weight)
            data.learn(self)
        X, y = data.X, data.y
        dataset = self.get_dataset(X, y)
        weights = data.weights  # only with an sktorch Dataset (checked with the data)
        if weights is not None:
            dataset.sample_weight = weights
        self._weighted = weights is not None
        built = self.module_ is None
        if built:
            self._initialize_module_and_optimizer(self._data_shape(dataset))
        seed = self._seed() if self._random_state is not None else None
        dataset_train, dataset_valid = self.get_split_datasets(dataset, y, seed=seed)
        n_epochs = _builtin.setup_training(self, dataset_train, built, epochs)
        train_batches, valid_batches = self._fit_iterators(dataset_train, dataset_valid, seed)
        self._callback_list = with_own_hooks(self, self._callback_list)
        engine = Engine(self, self._callback_list)
        self._stop_flag = engine.stop
        # Dropout and the like draw from torch's global generator: seeded, and locked
        # against other threads, whenever the loop may draw from it (see _random).
        global_draws = seed is not None and loop_draws_globally(
            self, train_batches, valid_batches)
        self._mode_modules = _components.mode_modules(self)  # for this fit only
        try:
            with _seeded(seed, self.device) if global_draws else contextlib.nullcontext():
                engine.run(train_batches, valid_batches, n_epochs, dataset_train,
                           dataset_valid, X=X, y=y, **fit_params)
        finally:
            del self._mode_modules
        return self

    def _target_statistics(self) -> tuple[torch.Tensor, torch.Tensor] | None:
        """``(mean, scale)`` of the targets the loss standardizes, or None.

        The built-in regressor's loss compares standardized predictions with
        standardized targets (see :func:`sktorch._builtin.target_statistics`).
        """
        return _builtin.target_statistics(self)

    def request_stop(self, reason: str, raise_after: BaseException | None = None) -> None:
        """Ask training to stop after the current batch; ``reason`` goes into the history.

        ``fit`` raises ``raise_after`` (if given) after every ``on_train_end`` has run.
        """
        flag = getattr(self, "_stop_flag", None)
        if flag is None:
            self._stop_flag = flag = StopFlag()
        flag.request(reason, raise_after=raise_after)
