"""Warnings that name the user's line: the first caller outside sktorch.

A hard-coded ``stacklevel`` counts frames, and breaks whenever a call path inside
sktorch gains or loses one (fit → partial_fit → engine → callback → ...).
:func:`warn_user` instead walks up the stack past every frame whose file lies in the
imported sktorch package (wherever that copy is: an installed one, a checkout, or
mutmut's copy under ``mutants/``), and gives the warning that frame's file and line,
as ``warnings.warn(..., skip_file_prefixes=...)`` does on Python 3.12+.
"""

from __future__ import annotations

import functools
import os
import sys
import types
import warnings

# The directory of this (imported) copy of the package, never a hard-coded path.
PACKAGE_DIR = os.path.dirname(os.path.realpath(__file__))

# Tools that call sktorch's functions through frames of their own, looked past too
# when they are loaded: mutation testing (mutmut) runs a copy of the package whose
# functions each go through a trampoline in mutmut's package.
_WRAPPERS = ("mutmut",)


def _directory(module: types.ModuleType) -> str:
    return os.path.dirname(os.path.realpath(module.__file__))


@functools.cache
def _inside(filename: str, directories: tuple) -> bool:
    if filename.startswith("<"):  # <string>, <frozen ...>: code of no file
        return False
    path = os.path.realpath(filename)
    return any(path.startswith(directory + os.sep) for directory in directories)


def user_frame(skip_also: tuple = ()) -> types.FrameType:
    """The innermost frame of the caller's stack whose file is outside sktorch.

    ``skip_also`` names more packages (imported modules) to look past, e.g.
    scikit-learn for a warning given inside its ``fit``. Without such a frame (sktorch
    running itself), the outermost frame.
    """
    wrappers = [m for m in map(sys.modules.get, _WRAPPERS) if getattr(m, "__file__", None)]
    directories = (PACKAGE_DIR, *map(_directory, (*skip_also, *wrappers)))
    frame = sys._getframe(1)
    while _inside(frame.f_code.co_filename, directories) and frame.f_back is not None:
        frame = frame.f_back
    return frame


def warn_user(message: str, category: type = UserWarning, skip_also: tuple = ()) -> None:
    """``warnings.warn(message, category)`` located at the user's line (:func:`user_frame`).

    The filters, the once-per-location registry and ``-W error`` work as for
    ``warnings.warn``: only the frame the warning names differs.
    """
    frame = user_frame(skip_also)
    module_globals = frame.f_globals
    warnings.warn_explicit(
        message, category, frame.f_code.co_filename, frame.f_lineno,
        module=module_globals.get("__name__", "<string>"),
        registry=module_globals.setdefault("__warningregistry__", {}),
        module_globals=module_globals,
    )
