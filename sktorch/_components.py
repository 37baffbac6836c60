"""Components of a net: modules, criteria and optimizers, including a subclass's own.

A subclass may build more components in its ``initialize_module``,
``initialize_criterion`` or ``initialize_optimizer`` override, e.g.
``self.module2_ = MyModule(**self.get_params_for('module2'))``. Any attribute ending
in ``_`` that such a method sets to a torch module (or optimizer) is registered under
its name without the ``_``: its prefix (``module2__``) becomes a valid parameter
prefix, ``set_params`` re-initializes it, its parameters are learned, and the extra
optimizers are stepped with the default one.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Iterator
from typing import Any

import torch

from sktorch._builtin.flat_adam import flat_adam_step
from sktorch._defaults import plain, plain_param_groups

__all__ = ["ComponentsMixin", "KINDS", "run_initializer", "registered", "optimizer_arguments",
           "learnable_params", "kind_of_prefix"]

KINDS = ("module", "criterion", "optimizer")
_TYPES = {"module": torch.nn.Module, "criterion": torch.nn.Module,
          "optimizer": torch.optim.Optimizer}


def registered(net: Any) -> dict[str, list[str]]:
    """``{kind: [names]}``; the defaults ``module``, ``criterion``, ``optimizer`` first."""
    components = vars(net).get("_components")
    if components is None:
        components = {kind: [kind] for kind in KINDS}
        net._components = components
    return components


def reset(net: Any) -> None:
    """Forget the registered extras (at ``initialize``: they register again)."""
    net._components = {kind: [kind] for kind in KINDS}


def _adopt_own_module(net: Any, before: dict) -> None:
    """Finish a ``module_`` that an override set without ``super().initialize_module()``.

    The base method puts the module on the net's device and precision and makes it the
    one ``forward`` calls; an override that builds ``module_`` itself (skorch allows it)
    gets the same, instead of an ``AttributeError`` at the first batch.
    """
    module = vars(net).get("module_")
    forward = vars(net).get("_forward_module")
    if module is None or module is before.get("module_"):
        return
    if forward is not before.get("_forward_module"):  # super() ran: device, precision done
        return
    net._set_module(module)


def run_initializer(net: Any, kind: str, *args: Any) -> None:
    """Call ``net.initialize_<kind>(*args)`` and register the components it set."""
    from sktorch._random import seeded

    before = dict(vars(net))
    # A subclass's own modules (module2_ built after super().initialize_module()) draw
    # their initial weights from torch's global generator: seeded from random_state too.
    seed = net._extras_seed() if kind == "module" and hasattr(net, "_extras_seed") else None
    method = getattr(net, f"initialize_{kind}")
    if args and all(a is None for a in args) and not _takes_positional(method, len(args)):
        args = ()  # skorch's documented override: def initialize_module(self)
    with seeded(seed):
        method(*args)
    if kind == "module":
        _adopt_own_module(net, before)
    names = registered(net)[kind]
    taken = {n for k in KINDS for n in registered(net)[k]}
    for key, value in list(vars(net).items()):
        if (not key.endswith("_") or key.startswith("_") or before.get(key) is value
                or not isinstance(value, _TYPES[kind])):
            continue
        name = key[:-1]
        if name in taken:
            continue
        names.append(name)
        if kind != "optimizer" and net.device is not None:
            setattr(net, key, value.to(net.device))
    if kind == "optimizer" and hasattr(net, "_optimizer_ready"):
        net._optimizer_ready()


def _takes_positional(method: Any, n: int) -> bool:
    """Whether ``method`` accepts ``n`` positional arguments."""
    import inspect

    try:
        signature = inspect.signature(method)
    except (TypeError, ValueError):
        return True
    params = list(signature.parameters.values())
    if any(p.kind is inspect.Parameter.VAR_POSITIONAL for p in params):
        return True
    positional = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    return sum(p.kind in positional for p in params) >= n


def kind_of_prefix(net: Any, prefix: str) -> str | None:
    """The kind of the component a parameter prefix belongs to, if it names one."""
    if prefix == "loss_function":
        return "criterion"
    for kind, names in registered(net).items():
        if prefix in names:
            return kind
    return None


def extra_optimizers(net: Any) -> list[torch.optim.Optimizer]:
    """Registered optimizers besides ``optimizer_``."""
    out = []
    for name in registered(net)["optimizer"][1:]:
        optimizer = getattr(net, name + "_", None)
        if optimizer is not None:
            out.append(optimizer)
    return out


def extra_modules(net: Any) -> list[torch.nn.Module]:
    """Registered modules and criteria besides ``module_`` (``criterion_`` included)."""
    components = vars(net).get("_components")
    names = ["criterion"] if components is None else (
        components["module"][1:] + components["criterion"])
    out = []
    for name in names:
        component = getattr(net, name + "_", None)
        if isinstance(component, torch.nn.Module):
            out.append(component)
    return out


def mode_modules(net: Any) -> tuple | None:
    """``(module_, every submodule)`` for a fit's fast train/eval switches, or None.

    Switching the mode twice per epoch (training and validation passes) by
    ``Module.train``'s recursion costs as much as a small model's validation
    pass; within one fit the modules do not change, so their flags are set
    directly. Only when no module overrides ``train`` and no top-level one ``eval``
    (either may do more, e.g. keep batch-norm statistics frozen).
    """
    roots = [net.module_, *extra_modules(net)]
    modules = [m for root in roots for m in root.modules()]
    if any(type(m).train is not torch.nn.Module.train for m in modules) or any(
            type(root).eval is not torch.nn.Module.eval for root in roots):
        return None
    return net.module_, modules


def learnable_params(net: Any) -> Iterator[tuple[str, torch.nn.Parameter]]:
    """``(name, parameter)`` of every registered module and criterion, each once."""
    seen: set[int] = set()
    components = registered(net)
    for name in components["module"] + components["criterion"]:
        component = getattr(net, name + "_", None)
        if not isinstance(component, torch.nn.Module):
            continue
        for param_name, param in component.named_parameters():
            if id(param) in seen:
                continue
            seen.add(id(param))
            yield param_name, param


def optimizer_arguments(
    net: Any, prefix: str, named_parameters: Iterable[tuple[str, torch.nn.Parameter]]
) -> tuple[tuple, dict[str, Any]]:
    """``(args, kwargs)`` for an optimizer from ``<prefix>__*`` parameters.

    ``<prefix>__param_groups=[(pattern, options), ...]`` puts the parameters whose
    names match the ``fnmatch`` pattern (the first pattern that matches) in a group
    with those options; the rest form the last group. ``lr`` defaults to the net's.
    """
    from sktorch._params import component_params

    kwargs = component_params(net, prefix)
    patterns = kwargs.pop("param_groups", None) or []
    remaining = list(named_parameters)
    groups = []
    for entry in patterns:
        if not (isinstance(entry, (tuple, list)) and len(entry) == 2
                and isinstance(entry[0], str) and isinstance(entry[1], dict)):
            raise ValueError(
                f"{prefix}__param_groups expects a list of (pattern, options) pairs, e.g. "
                f"[('embedding.*', {{'lr': 0.0}})]; got the entry {entry!r}."
            )
        pattern, options = entry
        matched = [p for n, p in remaining if fnmatch.fnmatchcase(n, pattern)]
        if matched:
            remaining = [(n, p) for n, p in remaining if not fnmatch.fnmatchcase(n, pattern)]
            groups.append({"params": matched, **options})
    if remaining:
        groups.append({"params": [p for _, p in remaining]})
    for key in [k for k in kwargs if k.startswith("param_groups__")]:
        index, option = _group_option(prefix, key)
        if index >= len(groups):
            raise ValueError(
                f"{prefix}__{key} names parameter group {index}, but the optimizer has "
                f"{len(groups)} group(s); count groups from 0 in the order of "
                f"{prefix}__param_groups, the unmatched parameters last."
            )
        groups[index][option] = kwargs.pop(key)
    kwargs.setdefault("lr", plain(net.lr))  # a float, also for the untouched default
    return (groups,), kwargs


def _group_option(prefix: str, key: str) -> tuple[int, str]:
    """``param_groups__<index>__<option>`` split into ``(index, option)``."""
    parts = key.split("__")
    if len(parts) != 3 or not parts[1].isdigit():
        raise ValueError(
            f"{prefix}__{key} is not understood; write {prefix}__param_groups__<index>__"
            f"<option>, e.g. {prefix}__param_groups__0__lr=0.01."
        )
    return int(parts[1]), parts[2]


def set_in_place(net: Any, keys: list[str]) -> bool:
    """Apply changed optimizer hyperparameters to the live optimizers, as skorch does.

    ``<prefix>__<option>`` (an option the optimizer has, e.g. ``momentum``) is set on
    every group, ``<prefix>__param_groups__<i>__<option>`` on group ``i``; the
    optimizer's state (e.g. momentum buffers) is kept. Returns ``False``, changing
    nothing, when a key needs a new optimizer (another class, other groups).
    """
    from sktorch._params import params_for

    updates = []
    for key in keys:
        prefix, _, option = key.partition("__")
        optimizer = getattr(net, f"{prefix}_", None)
        if not option or not isinstance(optimizer, torch.optim.Optimizer):
            return False
        if option.startswith("param_groups__"):
            index, name = _group_option(prefix, option)
            if index >= len(optimizer.param_groups) or name not in optimizer.defaults:
                return False
            updates.append(([optimizer.param_groups[index]], name, key))
        elif option in optimizer.defaults and option != "params":
            updates.append((optimizer.param_groups, option, key))
        else:
            return False
    for groups, name, key in updates:
        value = params_for(key.partition("__")[0], net._kwargs)[key.partition("__")[2]]
        for group in groups:
            group[name] = value
    return True


class ComponentsMixin:
    """skorch's component API of a net: ``get_params_for`` and friends (see module doc)."""

    @classmethod
    def _may_register_components(cls) -> bool:
        """Whether a subclass's initialize_* may add components (and so prefixes)."""
        from sktorch.net import NeuralNet

        return any(getattr(cls, f"initialize_{kind}") is not getattr(NeuralNet,
                                                                    f"initialize_{kind}")
                   for kind in KINDS)

    def _optimizer_ready(self) -> None:
        """Derived step settings; also run after a subclass's ``initialize_optimizer``."""
        self._needs_closure = isinstance(self.optimizer_, torch.optim.LBFGS)
        use_scaler = self.precision == "16-mixed" and torch.device(
            self.device or "cpu").type == "cuda"
        self._grad_scaler = torch.amp.GradScaler("cuda") if use_scaler else None
        self._extra_optimizers = extra_optimizers(self)
        for optimizer in (self.optimizer_, *self._extra_optimizers):
            if isinstance(optimizer, torch.optim.Optimizer):
                plain_param_groups(optimizer)  # no marker in a saved optimizer state
        self._flat_adam = flat_adam_step(self)  # the built-in model's Adam, in a few operations

    def _set_module(self, module: torch.nn.Module) -> None:
        """Make ``module`` the net's ``module_``: in its precision, on its device, and the
        one ``forward`` calls (through the ``torch_compile`` hook)."""
        if self.precision == "64":
            module = module.to(torch.float64)
        self.module_ = module.to(self.device) if self.device is not None else module
        self._forward_module = self.torch_compile(self.module_, name="module")

    def _set_training(self, training: bool = True) -> None:
        """Put ``module_`` and a subclass's other modules and criteria in train/eval mode.

        As a hand-written loop does: ``train()`` for training, ``eval()`` otherwise,
        so that a module's own ``train`` or ``eval`` runs.
        """
        fast = vars(self).get("_mode_modules")
        if fast is not None and fast[0] is self.module_:
            # What Module.train does, without its recursion and nn.Module.__setattr__
            # (a plain attribute: mode_modules checked that no module overrides train).
            for module in fast[1]:
                vars(module)["training"] = training
            return
        for component in (self.module_, *extra_modules(self)):
            if training:
                component.train()
            else:
                component.eval()

    def get_params_for(self, prefix: str) -> dict[str, Any]:
        """The parameters set for the component ``prefix``, without the prefix.

        Examples
        --------
        >>> import torch
        >>> from sktorch import NeuralNetRegressor
        >>> net = NeuralNetRegressor(torch.nn.Linear, module__in_features=3,
        ...                          optimizer__momentum=0.9)
        >>> net.get_params_for('optimizer')
        {'momentum': 0.9}
        """
        from sktorch._params import component_params

        return component_params(self, prefix)

    def get_params_for_optimizer(
        self, prefix: str, named_parameters: Iterable[tuple[str, torch.nn.Parameter]]
    ) -> tuple[tuple, dict[str, Any]]:
        """``(args, kwargs)`` to build the optimizer ``prefix`` over ``named_parameters``.

        ``args`` holds the parameter groups: ``<prefix>__param_groups=[(pattern,
        options), ...]`` gives the parameters whose names match an ``fnmatch`` pattern
        their own options; ``kwargs`` holds the other ``<prefix>__*`` values, with
        ``lr`` defaulting to the net's ``lr``. Use as
        ``self.optimizer2_ = SGD(*args, **kwargs)`` in ``initialize_optimizer``.

        Examples
        --------
        >>> import torch
        >>> from sktorch import NeuralNetRegressor
        >>> net = NeuralNetRegressor(lr=0.1, optimizer__param_groups=[('0.*', {'lr': 0.0})])
        >>> module = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.Linear(2, 1))
        >>> (groups,), kwargs = net.get_params_for_optimizer('optimizer',
        ...                                                  module.named_parameters())
        >>> [len(g['params']) for g in groups], groups[0]['lr'], kwargs
        ([2, 2], 0.0, {'lr': 0.1})
        """
        return optimizer_arguments(self, prefix, named_parameters)

    def get_all_learnable_params(self) -> Iterator[tuple[str, torch.nn.Parameter]]:
        """Yield ``(name, parameter)`` of all modules and criteria, each parameter once."""
        return learnable_params(self)
