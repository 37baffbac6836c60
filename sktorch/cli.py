"""Command-line parameters for nets and pipelines (skorch's ``skorch.cli``).

``parse_args`` turns keyword arguments from a command line (as parsed by e.g.
``fire.Fire(main)``, or ``argparse``) into ``set_params`` calls, and prints the
estimator's parameters with their defaults and descriptions for ``--help``.
String values that name Python objects are resolved: ``'torch.nn.ReLU'`` gives
the class, ``'torch.nn.RReLU(0.1, upper=0.4)'`` an instance.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import re
import sys
from typing import Any, Callable

__all__ = ["parse_args", "parse_net_kwargs", "print_help"]

_DOTTED = re.compile(r"^[A-Za-z_][\w]*(\.[A-Za-z_][\w]*)+$")


def _resolve_dotted_name(name: str) -> Any:
    """The object at a dotted path such as ``'torch.nn.ReLU'``; the string if none."""
    if not _DOTTED.match(name):
        return name
    parts = name.split(".")
    for cut in range(len(parts) - 1, 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        try:
            for attr in parts[cut:]:
                obj = getattr(obj, attr)
        except AttributeError:
            return name
        return obj
    return name


def _dotted(node: ast.AST) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        head = _dotted(node.value)
        return None if head is None else f"{head}.{node.attr}"
    return None


def _parse_value(value: Any) -> Any:
    """Resolve ``'pkg.Name'`` to an object and ``'pkg.Name(args)'`` to a call of it."""
    if not isinstance(value, str):
        return value
    text = value.strip()
    if _DOTTED.match(text):
        return _resolve_dotted_name(text)
    try:
        node = ast.parse(text, mode="eval").body
    except SyntaxError:
        return value
    if isinstance(node, ast.Call):
        name = _dotted(node.func)
        target = None if name is None else _resolve_dotted_name(name)
        if target is None or isinstance(target, str) or not callable(target):
            return value
        try:
            args = [ast.literal_eval(a) for a in node.args]
            kwargs = {k.arg: ast.literal_eval(k.value) for k in node.keywords}
        except ValueError:
            return value
        return target(*args, **kwargs)
    return value


def parse_net_kwargs(kwargs: dict[str, Any]) -> dict[str, Any]:
    """``kwargs`` with string values naming Python objects resolved.

    Examples
    --------
    >>> parsed = parse_net_kwargs({'module__nonlin': 'torch.nn.Tanh', 'device': 'cpu'})
    >>> parsed['module__nonlin'].__name__, parsed['device']
    ('Tanh', 'cpu')
    """
    return {key: _parse_value(value) for key, value in kwargs.items()}


def _param_docs(estimator: Any) -> dict[str, tuple[str, str]]:
    """``{name: (type, description)}`` from the numpydoc Parameters sections.

    A subclass's docstring wins over its bases' for the names it documents.
    """
    docs: dict[str, tuple[str, str]] = {}
    name_line = re.compile(r"^(\*{0,2}[\w, ]+?)\s*(?::\s*(.*))?$")
    for klass in type(estimator).__mro__:
        text = inspect.getdoc(klass) or ""
        match = re.search(r"Parameters\n-+\n(.*?)(\n\S[^\n]*\n-+\n|\Z)", text, re.S)
        if not match:
            continue
        current: list[str] = []
        for line in match.group(1).splitlines():
            head = name_line.match(line) if line and not line[0].isspace() else None
            if head:
                names = [n.strip() for n in head.group(1).split(",")]
                current = [n for n in names if not docs.get(n, ("", ""))[1]]
                kind = re.sub(r",?\s*default\s*=.*$", "", head.group(2) or "")
                for name in current:  # a base may describe what a subclass only lists
                    docs[name] = (docs.get(name, (kind, ""))[0] or kind, "")
            elif line.strip():
                for name in current:
                    kind, desc = docs[name]
                    docs[name] = (kind, f"{desc} {line.strip()}".strip())
    return docs


def _estimators(estimator: Any) -> list[tuple[str, Any]]:
    """``(prefix, estimator)`` for a net, or for each step of a Pipeline."""
    steps = getattr(estimator, "steps", None)
    if steps is None:
        return [("", estimator)]
    return [(f"{name}__", step) for name, step in steps if hasattr(step, "get_params")]


def print_help(estimator: Any, defaults: dict[str, Any] | None = None,
               file: Any = None) -> None:
    """Print the parameters of ``estimator`` (or of each Pipeline step) for ``--help``."""
    defaults = defaults or {}
    out = file if file is not None else sys.stdout
    for prefix, est in _estimators(estimator):
        docs = _param_docs(est)
        print(f"<{type(est).__name__}> options:", file=out)
        for key, value in est.get_params(deep=True).items():
            if "__" in key and key.split("__")[0] in ("callbacks",) and key.count("__") < 2:
                continue  # the callback objects themselves; their parameters follow
            shown = defaults.get(prefix + key, value)
            kind, desc = docs.get(key, ("", ""))
            kind = f" : {kind}" if kind else ""
            print(f"  --{prefix}{key}{kind} (default={_short(shown)})", file=out)
            if desc:
                print(f"    {desc}", file=out)
        print("", file=out)


def _short(value: Any) -> str:
    if inspect.isclass(value) or inspect.isfunction(value):
        return f"{value.__module__}.{value.__qualname__}"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def parse_args(kwargs: dict[str, Any], defaults: dict[str, Any] | None = None
               ) -> Callable[[Any], Any]:
    """Apply command-line arguments to an estimator, or show its help.

    Returns a function to call with the net (or a Pipeline holding it). When the
    command line has ``--help`` or ``-h``, that function prints every parameter
    with its default and description and exits; otherwise it applies
    ``defaults`` updated with ``kwargs`` through ``set_params`` and returns the
    estimator.

    Parameters
    ----------
    kwargs : dict
        The command line's keyword arguments, e.g. ``main(**kwargs)`` under
        ``fire.Fire(main)``: ``--lr 0.1 --module__nonlin torch.nn.Tanh``.
    defaults : dict, optional
        Values to use where the command line gives none.

    Examples
    --------
    >>> import torch
    >>> from sktorch import NeuralNetRegressor
    >>> apply = parse_args({'lr': 0.1, 'optimizer': 'torch.optim.Adam'},
    ...                    defaults={'max_epochs': 3})
    >>> net = apply(NeuralNetRegressor())
    >>> net.lr, net.max_epochs, net.optimizer is torch.optim.Adam
    (0.1, 3, True)
    """
    defaults = dict(defaults or {})
    if any(arg in ("--help", "-h") for arg in sys.argv[1:]):
        def print_help_and_exit(estimator: Any) -> None:
            print_help(estimator, parse_net_kwargs(defaults))
            sys.exit()
        return print_help_and_exit

    params = parse_net_kwargs({**defaults, **kwargs})

    def set_params(estimator: Any) -> Any:
        estimator.set_params(**params)
        return estimator

    return set_params
