"""The callbacks of one fit: names, routed ``callbacks__*`` parameters, copies, order.

A net's callbacks come from three places: the defaults (``get_default_callbacks``),
the user's ``callbacks`` list, and routed parameters — ``callbacks__<name>=cb`` (or
``None``) replaces (or removes) a callback, ``callbacks__<name>__<param>=value``
configures it. Routed parameters never change the user's own callback objects:
a configured callback is a copy, made at ``initialize``, so two nets that share one
callback instance cannot overwrite each other's settings. A callback that refers to
another one (``LoadInitState(checkpoint)``) follows it to its copy.
"""

from __future__ import annotations

import copy
import difflib
import inspect
from typing import Any

from sktorch.callbacks.base import Callback, name_callbacks
from sktorch.callbacks.logging import PrintLog

__all__ = ["callback_entries", "check_callback_names", "configure_callbacks",
           "rebind_cloned_callbacks"]

_HEAD = "callbacks__"


def _routed(net: Any) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """``({name: replacement}, {name: {param: value}})`` from the net's routed parameters."""
    replacements: dict[str, Any] = {}
    params: dict[str, dict[str, Any]] = {}
    for key, value in net._kwargs.items():
        if not key.startswith(_HEAD):
            continue
        name, _, param = key[len(_HEAD):].partition("__")
        if param:
            params.setdefault(name, {})[param] = value
        else:
            replacements[name] = value
    return replacements, params


def _named_entries(net: Any) -> list[tuple[str, Any]]:
    """Defaults and user callbacks before replacements (classes stay classes)."""
    if isinstance(net.callbacks, str) and net.callbacks == "disable":
        return []
    return name_callbacks(net.get_default_callbacks(), net.callbacks)


def callback_entries(net: Any, named: list | None = None) -> list[tuple[str, Any]]:
    """``(name, callback or class)`` as the next ``initialize`` would use them, unconfigured."""
    replacements, _ = _routed(net)
    out = []
    for name, callback in _named_entries(net) if named is None else named:
        callback = replacements.get(name, callback)
        if callback is not None:
            out.append((name, callback))
    return out


def check_callback_names(net: Any, named: list | None = None) -> None:
    """Raise ``ValueError`` for a ``callbacks__<name>...`` parameter naming no callback.

    Also checks the parameter names of instances given for configuration, so a
    misspelled ``callbacks__es__patiance`` fails at ``set_params`` rather than at fit.
    """
    replacements, params = _routed(net)
    try:
        entries = dict(_named_entries(net) if named is None else named)
    except (TypeError, ValueError):  # a bad callbacks list: initialize reports it
        return
    # print_log is a default whose presence depends on verbose: its settings stay valid.
    known = set(entries) | {"print_log"}
    for name in sorted(set(replacements) | set(params)):
        if name in known:
            continue
        key = next(k for k in net._kwargs if k.startswith(f"{_HEAD}{name}"))
        close = difflib.get_close_matches(name, sorted(known), n=3, cutoff=0.6)
        hint = f" Did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
        raise ValueError(
            f"{type(net).__name__} got the parameter {key!r}, but it has no callback named "
            f"{name!r}.{hint} Its callbacks are {sorted(entries)}; name your own with "
            f"callbacks=[('{name}', MyCallback())] to configure it as callbacks__{name}__<param>."
        )
    for name, values in params.items():
        callback = replacements.get(name, entries.get(name))
        if isinstance(callback, Callback):  # a throw-away copy: check names, keep nothing
            copy.copy(callback).set_params(**values)


def configure_callbacks(net: Any) -> list[tuple[str, Any]]:
    """The callbacks for one fit: classes instantiated, configured copies, re-bound links.

    ``PrintLog`` callbacks come last, so that they print what every other callback
    recorded in the epoch's row. The net's ``use_caching`` (unless ``'auto'``) is
    set on every callback that has that parameter, over its own or routed value.
    """
    entries = _named_entries(net)
    check_callback_names(net, entries)
    _, params = _routed(net)
    copies: dict[int, Any] = {}  # id(the user's object) -> the copy this fit uses
    named = []
    for name, callback in callback_entries(net, entries):
        values = _with_net_caching(net, callback, params.get(name, {}))
        if inspect.isclass(callback):
            callback = callback(**values)
        elif values:
            configured = copy.copy(callback)
            configured.set_params(**values)
            copies[id(callback)] = configured
            callback = configured
        named.append((name, callback))
    named = _rebind(named, copies)
    printers = [(n, cb) for n, cb in named if isinstance(cb, PrintLog)]
    return [(n, cb) for n, cb in named if not isinstance(cb, PrintLog)] + printers


def _with_net_caching(net: Any, callback: Any, values: dict[str, Any]) -> dict[str, Any]:
    """``values`` plus the net's ``use_caching`` when it overrides the callback's."""
    use_caching = getattr(net, "use_caching", "auto")
    if isinstance(use_caching, str) and use_caching == "auto":
        return values
    if inspect.isclass(callback):
        has_it = "use_caching" in inspect.signature(callback).parameters
    else:
        has_it = "use_caching" in _callback_params(callback)
        if has_it and not values and callback.use_caching == use_caching:
            return values  # already as the net says: no copy needed
    return {**values, "use_caching": use_caching} if has_it else values


def _callback_params(callback: Any) -> dict[str, Any]:
    try:
        return callback.get_params()
    except Exception:  # a callback without scikit-learn's protocol: nothing to follow
        return {}


def _rebind(named: list[tuple[str, Any]], copies: dict[int, Any]) -> list[tuple[str, Any]]:
    """Point parameters that name a copied callback at its copy (copying the referrer)."""
    made = {id(cb) for cb in copies.values()}
    changed = bool(copies)
    while changed:  # to a fixed point: a referrer copied now may itself be referred to
        changed = False
        for i, (name, callback) in enumerate(named):
            links = {k: copies[id(v)] for k, v in _callback_params(callback).items()
                     if id(v) in copies and copies[id(v)] is not v}
            if not links:
                continue
            if id(callback) not in made:
                original = callback
                callback = copy.copy(callback)
                copies[id(original)] = callback
                made.add(id(callback))
                named[i] = (name, callback)
                changed = True
            for key, value in links.items():
                setattr(callback, key, value)
    return named


def rebind_cloned_callbacks(original: Any, cloned: Any) -> None:
    """After ``clone``, make the clone's callbacks refer to each other like the original's.

    scikit-learn clones each callback on its own, so ``LoadInitState(cp)`` in the clone
    gets its own copy of ``cp`` instead of the clone's ``cp``; this puts the link back.
    """
    pairs = _user_objects(original), _user_objects(cloned)
    if len(pairs[0]) != len(pairs[1]):
        return
    counterpart = {id(a): b for a, b in zip(*pairs)}
    for before, after in zip(*pairs):
        for key, value in _callback_params(before).items():
            if id(value) in counterpart and value is not before:
                setattr(after, key, counterpart[id(value)])


def _user_objects(net: Any) -> list[Any]:
    """Callback instances in ``callbacks`` and in routed ``callbacks__<name>`` values."""
    out = []
    entries = net.callbacks if isinstance(net.callbacks, (list, tuple)) else []
    for entry in entries:
        callback = entry[1] if isinstance(entry, tuple) and len(entry) == 2 else entry
        if isinstance(callback, Callback):
            out.append(callback)
    for key in sorted(net._kwargs):
        value = net._kwargs[key]
        if key.startswith(_HEAD) and isinstance(value, Callback):
            out.append(value)
    return out
