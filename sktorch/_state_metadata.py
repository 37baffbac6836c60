"""Small facts recorded in a weights file's state-dict metadata (torch format).

A module's ``state_dict()`` carries a ``_metadata`` dict that ``torch.save`` keeps
and ``torch.load(weights_only=True)`` reads back. Estimators use it for what a net
restored with ``initialize()`` + ``load_params(f_params=...)`` needs besides the
weights to predict as the fitted net did (a classifier's labels, a regressor's y
shape). Values must be plain (str, int): a crafted file can still not run code.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import torch

__all__ = ["recording", "reading"]


@contextmanager
def recording(module: torch.nn.Module, key: str, value: Any) -> Iterator[None]:
    """While active, ``module.state_dict()`` records ``value`` under ``key``."""

    def record(module, state_dict, prefix, local_metadata):
        if prefix == "":
            local_metadata[key] = value

    register = getattr(module, "register_state_dict_post_hook", None) or (
        module._register_state_dict_hook)  # torch < 2.5: the same hook, private
    handle = register(record)
    try:
        yield
    finally:
        handle.remove()


@contextmanager
def reading(module: torch.nn.Module, key: str,
            check: Callable[[Any], None] | None = None) -> Iterator[dict]:
    """While active, ``load_state_dict`` on ``module`` puts the value of ``key`` (if
    the loaded state holds one) into the yielded dict as ``found['value']``.

    ``check(value)`` runs before the module's tensors are loaded; an exception it raises
    ends ``load_state_dict`` there (``load_params`` then puts back what it had loaded).
    """
    found: dict = {}

    def read(module, state_dict, prefix, local_metadata, *args):
        if prefix == "" and key in local_metadata:
            if check is not None:
                check(local_metadata[key])
            found["value"] = local_metadata[key]

    handle = module.register_load_state_dict_pre_hook(read)
    try:
        yield found
    finally:
        handle.remove()
