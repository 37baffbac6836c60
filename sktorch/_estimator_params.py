"""Parameters of a net as scikit-learn sees them: names, get/set, repr, signature.

``ParamsMixin`` gives :class:`~sktorch.NeuralNet` scikit-learn's parameter protocol
over its explicit constructor arguments and the routed ``**kwargs`` (``module__*``,
bare module arguments, ``callbacks__<name>__*``); the routing rules are in ``_params``.
"""

from __future__ import annotations

import inspect
from typing import Any

from sklearn.base import BaseEstimator

from sktorch import _builtin, _callback_params, _params
from sktorch._defaults import untouched

__all__ = ["ParamsMixin", "public_signature"]

_PARAM_NAMES: dict[type, tuple[str, ...]] = {}


class ParamsMixin:
    """The parameter protocol of nets; a class counts when it defines ``__init__``."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.__signature__ = public_signature(cls)

    @classmethod
    def _get_param_names(cls) -> list[str]:
        # Cached per class: signature inspection is slow, and every fit, clone and
        # get_params asks (it was ~1 ms of each small fit).
        names = _PARAM_NAMES.get(cls)
        if names is None:
            found: set[str] = set()
            for klass in cls.__mro__:
                if issubclass(klass, ParamsMixin) and "__init__" in vars(klass):
                    found.update(_init_param_names(klass))
            names = _PARAM_NAMES[cls] = tuple(sorted(found))
        return list(names)

    def _set_kwarg(self, key: str, value: Any) -> None:
        # A bare module argument and its module__ form name the same thing: the last wins.
        twin = key[len("module__") :] if key.startswith("module__") else f"module__{key}"
        if twin in self._kwargs:
            del self._kwargs[twin]
            vars(self).pop(twin, None)
        self._kwargs[key] = value
        setattr(self, key, value)

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        params = BaseEstimator.get_params(self, deep=False)
        params.update(self._kwargs)
        if deep:
            for key, value in _params.deep_params(self).items():
                params.setdefault(key, value)
        return params

    def set_params(self, **params: Any) -> ParamsMixin:
        _params.check_param_names(self, list(params))
        own = set(self._get_param_names())
        before = dict(vars(self)), dict(self._kwargs)
        for key, value in params.items():
            if key in own:
                setattr(self, key, value)
            else:
                self._set_kwarg(key, value)
        try:  # checked with the new values in place (a grid may set optimizer and its args)
            _params.check_component_arguments(self, list(params))
            if any(k == "callbacks" or k.startswith("callbacks__") for k in params):
                _callback_params.check_callback_names(self)
        except ValueError:  # leave the net as it was
            vars(self).clear()
            vars(self).update(before[0])
            self._kwargs = before[1]
            raise
        if getattr(self, "initialized_", False):
            keys = set(params)
            if params.get("precision", object()) == before[0].get("precision"):
                keys.discard("precision")  # unchanged: no cast (a float64 buffer stays)
            self._reinitialize_for(keys)
        return self

    def __sklearn_clone__(self) -> ParamsMixin:
        # scikit-learn clones each callback on its own; callbacks that refer to other
        # callbacks (LoadInitState -> Checkpoint) are linked to the clone's copies again.
        # A history passed as history= (e.g. DistributedHistory) is not a parameter, but
        # the clone records into one like it (cross_validate on a distributed net).
        cloned = super().__sklearn_clone__()
        _callback_params.rebind_cloned_callbacks(self, cloned)
        given = vars(self).get("_history_given")
        if given is not None:
            empty_copy = getattr(given, "_empty_copy", None)
            cloned._history_given = empty_copy() if empty_copy else type(given)()
        return cloned

    def _reinitialize_for(self, keys: set[str]) -> None:
        """Rebuild what the changed parameters affect; ``lr`` is applied in place."""
        from sktorch import _components

        module_args = set(_params.init_defaults(_params.module_class(self.module)))
        changed: dict[str, list[str]] = {kind: [] for kind in _components.KINDS}
        for key in sorted(keys):
            prefix = key.split("__", 1)[0]
            if key in ("module", "compile") or key in module_args:
                changed["module"].append(key)
            elif key == "optimizer":
                changed["optimizer"].append(key)
            elif key in ("criterion", "loss_function"):
                changed["criterion"].append(key)
            elif "__" in key and (kind := _components.kind_of_prefix(self, prefix)):
                changed[kind].append(key)
        if changed["module"] and (self.module is None or getattr(self, "module_", None)
                                  is not None):
            self._say_reinit("module", changed["module"])
            if self.module is None:  # sized from the data: keep its sizes and statistics
                _builtin.rebuild_module(self)
            else:
                _components.run_initializer(self, "module")
            changed["optimizer"] = changed["optimizer"] or ["(new module parameters)"]
        if changed["criterion"]:
            self._say_reinit("criterion", changed["criterion"])
            _components.run_initializer(self, "criterion")
            if any(True for _ in getattr(self.criterion_, "parameters", list)()):
                changed["optimizer"] = changed["optimizer"] or ["(criterion parameters)"]
        if "precision" in keys and getattr(self, "module_", None) is not None:
            from sktorch._precision import cast_fitted

            cast_fitted(self)  # the fitted weights follow: predict and fit see one dtype
        rebuilt = bool(changed["module"] or changed["criterion"])
        if changed["optimizer"] and not rebuilt and _components.set_in_place(
                self, changed["optimizer"]):
            changed["optimizer"] = []  # hyperparameters set on the live optimizer: state kept
        if changed["optimizer"] and getattr(self, "module_", None) is not None:
            self._say_reinit("optimizer", changed["optimizer"])
            _components.run_initializer(self, "optimizer")
        elif "lr" in keys and getattr(self, "optimizer_", None) is not None:
            optimizer, lr = _builtin.optimizer_and_lr(self)
            if self.module is None and type(self.optimizer_) is not optimizer:
                _components.run_initializer(self, "optimizer")  # the recipe's Adam, or not
            else:
                for group in self.optimizer_.param_groups:
                    group["lr"] = lr
        if any(k == "callbacks" or k.startswith("callbacks__") for k in keys) or (
                "max_epochs" in keys and _builtin.plateau_stop_changed(self)):
            self.initialize_callbacks()

    def _say_reinit(self, kind: str, keys: list[str]) -> None:
        if not self.verbose:
            return
        named = [k for k in keys if not k.startswith("(")]
        reason = (" because the following parameters were re-set: " + ", ".join(named)
                  if named else "")
        print(f"Re-initializing {kind}{reason}.")

    def __repr__(self) -> str:
        defaults: dict[str, Any] = {}
        for klass in reversed(type(self).__mro__):
            if issubclass(klass, ParamsMixin) and "__init__" in vars(klass):
                defaults.update(_params.init_defaults(klass))
        shown = [
            f"{k}={v!r}"
            for k, v in self.get_params(deep=False).items()
            if k not in defaults or _written(defaults[k], v)
        ]
        return f"{type(self).__name__}({', '.join(shown)})"


def _init_param_names(klass: type) -> list[str]:
    """Named parameters of ``klass.__init__``.

    Unlike scikit-learn, ``*args`` is allowed (and skipped): skorch's customization
    guide subclasses nets as ``__init__(self, *args, extra=1, **kwargs)``, passing
    everything on to ``super().__init__``; clone and set_params use keywords only.
    """
    params = list(inspect.signature(klass.__init__).parameters.values())[1:]
    return [p.name for p in params if p.kind not in _VARIADIC]


_VARIADIC = (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)


def public_signature(cls: type) -> inspect.Signature:
    """The constructor's signature without ``self`` and ``**kwargs``.

    scikit-learn's introspection (e.g. its estimator checks) takes every name in a
    class's signature as a parameter; the routed ``**kwargs`` are not one.
    """
    signature = inspect.signature(cls.__init__)
    params = [p for p in list(signature.parameters.values())[1:] if p.kind not in _VARIADIC]
    seen = {p.name for p in params}
    for klass in cls.__mro__[1:]:  # parameters passed on through **kwargs: keyword-only
        if issubclass(klass, ParamsMixin) and "__init__" in vars(klass):
            for p in list(inspect.signature(klass.__init__).parameters.values())[1:]:
                if p.name not in seen and p.kind not in _VARIADIC:
                    params.append(p.replace(kind=inspect.Parameter.KEYWORD_ONLY))
                    seen.add(p.name)
    return signature.replace(parameters=params)


def _written(default: Any, value: Any) -> bool:
    """Whether ``repr`` shows ``value``: not the default (a written 0.01 for an
    untouched ``lr`` marker is shown: it turns the built-in model's recipe off)."""
    if untouched(default):
        return not untouched(value)
    return default is not value and not _same(default, value)


def _same(a: Any, b: Any) -> bool:
    try:
        if bool(a == b):
            return True
        # e.g. train_split=ValidSplit(5) after clone: an equal copy of the default
        return (type(a) is type(b) and not isinstance(a, type) and hasattr(a, "__dict__")
                and bool(vars(a) == vars(b)))
    except Exception:  # arrays and such compare element-wise
        return False
