"""Run code in a fresh interpreter in which one package cannot be found."""

import subprocess
import sys


def stdout_without(package: str, code: str) -> str:
    """The output of ``code`` run where ``importlib.util.find_spec(package)`` finds nothing.

    ``code`` catches the ``ImportError`` it expects and prints it.
    """
    hide = (
        "import importlib.util\n"
        "real = importlib.util.find_spec\n"
        f"importlib.util.find_spec = lambda n, *a: None if n == {package!r} else real(n, *a)\n"
    )
    result = subprocess.run([sys.executable, "-c", hide + code], capture_output=True, text=True)
    return result.stdout
