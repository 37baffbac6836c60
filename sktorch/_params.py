"""Parameter routing: ``prefix__name`` parameters, bare module arguments, did-you-mean hints."""

from __future__ import annotations

import difflib
import inspect
from typing import Any

import torch

__all__ = [
    "PREFIXES",
    "init_defaults",
    "params_for",
    "check_param_names",
    "module_class",
]

# Parameters with these prefixes are routed to the component named by the prefix.
PREFIXES = (
    "module",
    "criterion",
    "loss_function",
    "optimizer",
    "iterator_train",
    "iterator_valid",
    "dataset",
    "callbacks",
    "compile",
)

# Arguments that the net supplies itself and that users do not set through a prefix.
_SUPPLIED = {"optimizer": {"params", "lr"}, "dataset": {"X", "y"}}


def init_defaults(factory: Any, skip: set | None = None) -> dict[str, Any]:
    """Keyword arguments of a class or factory (``functools.partial``) with their defaults.

    Returns an empty dict for anything that is not callable (e.g. a module instance).
    """
    skip = skip or set()
    out = {}
    for param in _signature_parameters(factory) or ():
        if param.name in ("self", *skip) or param.kind in (param.VAR_POSITIONAL,
                                                           param.VAR_KEYWORD):
            continue
        out[param.name] = None if param.default is inspect.Parameter.empty else param.default
    return out


def _signature_parameters(factory: Any) -> list[inspect.Parameter] | None:
    """The parameters of a class or factory; ``None`` for an instance or no signature."""
    if factory is None or not callable(factory) or isinstance(factory, torch.nn.Module):
        return None
    try:
        return list(inspect.signature(factory).parameters.values())
    except (TypeError, ValueError):
        return None


def module_class(module: Any) -> Any:
    """What a ``module`` parameter builds from: a class or factory, ``None`` for an instance."""
    if module is None:
        from sktorch.toy import DefaultMLP

        return DefaultMLP
    if isinstance(module, torch.nn.Module):
        return None
    return module


def params_for(prefix: str, params: dict[str, Any]) -> dict[str, Any]:
    """The parameters that start with ``prefix__``, with the prefix removed."""
    head = prefix + "__"
    return {key[len(head) :]: value for key, value in params.items() if key.startswith(head)}


def component_params(net: Any, prefix: str) -> dict[str, Any]:
    """``prefix__*`` parameters of ``net``, with bare module arguments for ``'module'``."""
    params = dict(net._kwargs)
    out = {}
    if prefix == "module":
        bare = _bare_module_names(net)
        out.update({k: v for k, v in params.items() if k in bare})
    out.update(params_for(prefix, params))
    return out


def _bare_module_names(net: Any) -> set[str]:
    cls = module_class(net.module)
    return set(init_defaults(cls)) - set(net._get_param_names())


def _known_prefixes(net: Any) -> set[str]:
    from sktorch._components import registered

    names = set(getattr(net, "prefixes_", PREFIXES))  # a subclass may list more (skorch)
    for kind_names in registered(net).values():
        names.update(kind_names)
    return names


def check_param_names(net: Any, names: list[str], final: bool = False) -> None:
    """Raise ``ValueError`` for names that are neither net, prefixed nor module parameters.

    A prefix may also name a component that a subclass registers in its
    ``initialize_*`` override (``module2__``); such names are checked once the
    components exist (``final=True``, at ``initialize``).
    """
    own = set(net._get_param_names())
    bare = _bare_module_names(net)
    prefixes = _known_prefixes(net)
    defer = not final and getattr(net, "_may_register_components", lambda: False)()
    unknown = [
        name
        for name in names
        if name not in own
        and name not in bare
        and name.split("__", 1)[0] not in prefixes
        and not (defer and "__" in name)
    ]
    if not unknown:
        return
    candidates = sorted(own | bare | {f"{p}__" for p in prefixes})
    hints = []
    for name in unknown:
        head, sep, rest = name.partition("__")
        if sep:  # a misspelled prefix: suggest the whole name with the right one
            close = [f"{c}__{rest}" for c in difflib.get_close_matches(
                head, sorted(prefixes), n=3, cutoff=0.6)]
        else:
            close = difflib.get_close_matches(name, candidates, n=3, cutoff=0.6)
        hint = f" (did you mean {' or '.join(repr(c) for c in close)}?)" if close else ""
        hints.append(f"{name!r}{hint}")
    module_note = ""
    if net.module is not None and module_class(net.module) is None:
        module_note = (
            " With a module instance, arguments are passed as module__<name> (the module "
            "is then built again from its class with them)."
        )
    raise ValueError(
        f"{type(net).__name__} got unknown parameter(s): {', '.join(hints)}. "
        "Valid are the net's own parameters, arguments of the module's __init__, and "
        f"parameters prefixed with one of {', '.join(sorted(p + '__' for p in prefixes))}. "
        "A subclass that builds its own components (self.module2_ = ... in "
        "initialize_module) makes their prefix (module2__) valid." + module_note
    )


# Arguments the net itself handles rather than passing to the component's constructor.
_HANDLED = {"optimizer": {"param_groups"}}


def _accepted_arguments(factory: Any) -> set[str] | None:
    """The keyword names ``factory`` accepts; ``None`` when it takes ``**kwargs`` or is opaque."""
    parameters = _signature_parameters(factory)
    if parameters is None or any(p.kind is p.VAR_KEYWORD for p in parameters):
        return None
    return {p.name for p in parameters if p.kind is not p.VAR_POSITIONAL}


def check_component_arguments(net: Any, names: list[str]) -> None:
    """Raise ``ValueError`` for ``module__x`` / ``criterion__x`` / ``optimizer__x`` that the
    component's constructor does not accept (a typo after a valid prefix would otherwise
    surface as torch's ``TypeError`` at fit, or never for an unused component).

    Only names close to one the constructor accepts count as misspelled: a name with no
    close match may be right for another component (``optimizer__momentum`` in a grid
    that also tries Adam) and is left to the component's constructor at fit, where a
    search's ``error_score`` applies (scikit-learn calls ``set_params`` outside it).
    Skipped where the net cannot know what the constructor takes: a component passed as an
    instance, a constructor taking ``**kwargs``, a subclass that overrides the
    ``initialize_<kind>`` method (it may consume arguments itself), and nested names
    (``module__sub__x``).
    """
    from sktorch._defaults import plain
    from sktorch.net import NeuralNet

    factories = {"module": lambda: module_class(net.module),
                 "criterion": net._criterion_class, "optimizer": lambda: plain(net.optimizer)}
    problems = []
    for name in names:
        prefix, sep, rest = name.partition("__")
        if not sep or prefix not in factories or "__" in rest or rest in _HANDLED.get(
                prefix, ()):
            continue
        if getattr(type(net), f"initialize_{prefix}", None) is not getattr(
                NeuralNet, f"initialize_{prefix}", None):
            continue
        factory = factories[prefix]()
        accepted = _accepted_arguments(factory)
        if accepted is None or rest in accepted:
            continue
        close = difflib.get_close_matches(rest, sorted(accepted - {"self", "params"}), n=3,
                                          cutoff=0.6)
        if not close:  # a real name of another component (momentum with Adam in a grid
            continue   # over optimizers): the fit fails, and a search's error_score applies
        hint = f" (did you mean {' or '.join(repr(f'{prefix}__{c}') for c in close)}?)"
        label = getattr(factory, "__name__", None) or type(factory).__name__
        problems.append(f"{name!r}: {label} takes no argument {rest!r}{hint}")
    if problems:
        raise ValueError(
            f"{type(net).__name__} got argument(s) its components do not accept: "
            + "; ".join(problems) + ". Arguments after a component's prefix are passed to its "
            "constructor: write one of the names it accepts (see its signature).")


def deep_params(net: Any) -> dict[str, Any]:
    """Component arguments with their defaults or set values, for ``get_params(deep=True)``."""
    out: dict[str, Any] = {}
    set_values = net._kwargs
    components = {
        "module": module_class(net.module),
        "criterion": net._criterion_class(),
        "optimizer": net.optimizer,
    }
    for prefix, cls in components.items():
        routed = component_params(net, prefix)
        skip = set(_SUPPLIED.get(prefix, ()))
        if prefix == "module" and net.module is None:
            # The net supplies these to the built-in MLP (sizes from the data, the
            # classifier's softmax): a default listed here would override them after
            # set_params(**net.get_params()).
            skip |= {"input_units", "output_units", "output_nonlin"}
        for name, default in init_defaults(cls, skip).items():
            key = f"{prefix}__{name}"
            if key not in set_values and not (prefix == "module" and name in set_values):
                out[key] = routed.get(name, default)
    from sktorch._callback_params import callback_entries

    try:
        entries = callback_entries(net)
    except (TypeError, ValueError):  # a bad callbacks entry: reported at fit
        entries = []
    for name, callback in entries:
        if inspect.isclass(callback) or not hasattr(callback, "get_params"):
            continue
        out[f"callbacks__{name}"] = callback
        for key, value in callback.get_params().items():
            out[f"callbacks__{name}__{key}"] = value
    return out
