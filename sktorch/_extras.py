"""Optional extras: find out whether a package is installed, and say which extra brings it.

The integrations (``sktorch.hf``, ``sktorch.probabilistic``, ``sktorch.llm``) import
their packages lazily; this is the one place that words the error when one is missing.
"""

from __future__ import annotations

import importlib.util

__all__ = ["require"]


def require(owner: str, extra: str, *packages: str) -> None:
    """Raise an ``ImportError`` naming the extra when one of ``packages`` is missing.

    Examples
    --------
    >>> require('sktorch.x', 'x', 'numpy')
    >>> require('sktorch.x', 'x', 'no_such_package')  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ImportError: sktorch.x needs the no_such_package package, ... `pip install sktorch[x]` ...
    """
    for package in packages:
        if importlib.util.find_spec(package) is None:
            raise ImportError(
                f"{owner} needs the {package} package, which is not installed; install it "
                f"with `pip install sktorch[{extra}]` (or `pip install {package}`)."
            )
