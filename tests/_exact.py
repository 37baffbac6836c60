"""Assertions on the whole text of an error or warning (not a part of it)."""

import re

import pytest


def exactly(message: str) -> str:
    """A ``match`` pattern that only the whole ``message`` satisfies."""
    return f"^{re.escape(message)}$"


def raises_exactly(exception: type, message: str):
    """``pytest.raises(exception)`` whose error text must be ``message``, all of it."""
    return pytest.raises(exception, match=exactly(message))
