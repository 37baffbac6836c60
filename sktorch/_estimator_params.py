"""Parameters of a net as scikit-learn sees them: names, get/set, repr, signature.

``ParamsMixin`` gives :class:`~sktorch.NeuralNet` scikit-learn's parameter protocol
over its explicit constructor arguments and the routed ``**kwargs`` (``module__*``,
bare module arguments, ``callbacks__<name>__*``); the routing rules are in ``_params``.
"""

from __future__ import annotations

import inspect
from typing import Any

from sklearn.base import BaseEstimator

from sktorch import _builtin, _params

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
                    found.update(BaseEstimator._get_param_names.__func__(klass))
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
        for key, value in params.items():
            if key in own:
                setattr(self, key, value)
            elif not self._set_callback_param(key, value):
                self._set_kwarg(key, value)
        if getattr(self, "initialized_", False):
            self._reinitialize_for(set(params))
        return self

    def _set_callback_param(self, key: str, value: Any) -> bool:
        """Set ``callbacks__<name>__<param>`` on a user callback instance, if one matches."""
        parts = key.split("__")
        if parts[0] != "callbacks" or len(parts) != 3:
            return False
        for name, callback in _params._user_callbacks(self):
            if name == parts[1]:
                callback.set_params(**{parts[2]: value})
                return True
        return False

    def _reinitialize_for(self, keys: set[str]) -> None:
        """Rebuild what the changed parameters affect; ``lr`` is applied in place."""
        module_args = set(_params.init_defaults(_params.module_class(self.module)))
        if any(k in ("module", "compile") or k.startswith("module__") or k in module_args
               for k in keys):
            if self.module is None:  # sized from the data: rebuilt with the data's sizes
                _builtin.rebuild_module(self)
            else:
                self.initialize_module()
                self.initialize_optimizer()
        if any(k in ("criterion", "loss_function") or k.startswith(("criterion__",
               "loss_function__")) for k in keys):
            self.initialize_criterion()
        opt_keys = {k for k in keys if k == "optimizer" or k.startswith("optimizer__")}
        if opt_keys:
            self.initialize_optimizer()
        elif "lr" in keys and self.optimizer_ is not None:
            optimizer, lr = _builtin.optimizer_and_lr(self)
            if self.module is None and type(self.optimizer_) is not optimizer:
                self.initialize_optimizer()  # e.g. lr=0.01 again: back to the recipe's Adam
            else:
                for group in self.optimizer_.param_groups:
                    group["lr"] = lr
        if any(k == "callbacks" or k.startswith("callbacks__") for k in keys) or (
                "max_epochs" in keys and _builtin.plateau_stop_changed(self)):
            self.initialize_callbacks()

    def __repr__(self) -> str:
        defaults: dict[str, Any] = {}
        for klass in reversed(type(self).__mro__):
            if issubclass(klass, ParamsMixin) and "__init__" in vars(klass):
                defaults.update(_params.init_defaults(klass))
        shown = [
            f"{k}={v!r}"
            for k, v in self.get_params(deep=False).items()
            if k not in defaults or defaults[k] is not v and not _same(defaults[k], v)
        ]
        return f"{type(self).__name__}({', '.join(shown)})"


def public_signature(cls: type) -> inspect.Signature:
    """The constructor's signature without ``self`` and ``**kwargs``.

    scikit-learn's introspection (e.g. its estimator checks) takes every name in a
    class's signature as a parameter; the routed ``**kwargs`` are not one.
    """
    signature = inspect.signature(cls.__init__)
    params = [p for p in list(signature.parameters.values())[1:]
              if p.kind is not inspect.Parameter.VAR_KEYWORD]
    seen = {p.name for p in params}
    for klass in cls.__mro__[1:]:  # parameters passed on through **kwargs: keyword-only
        if issubclass(klass, ParamsMixin) and "__init__" in vars(klass):
            for p in list(inspect.signature(klass.__init__).parameters.values())[1:]:
                if p.name not in seen and p.kind is not inspect.Parameter.VAR_KEYWORD:
                    params.append(p.replace(kind=inspect.Parameter.KEYWORD_ONLY))
                    seen.add(p.name)
    return signature.replace(parameters=params)


def _same(a: Any, b: Any) -> bool:
    try:
        return bool(a == b)
    except Exception:  # arrays and such compare element-wise
        return False
