"""Hyperparameter search that trains many candidates × folds at once.

The classes are scikit-learn's, subclassed: change the import from
``sklearn.model_selection`` to ``sktorch.model_selection`` and a search over an
sktorch net (or a ``Pipeline`` ending in one) trains its members fused. See
``fuse_report_`` for what fused and ``cv_histories_`` for each member's history.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sktorch.model_selection._parallel import thread_budget
    from sktorch.model_selection._remote import ClusterTrainingError
    from sktorch.model_selection._report import FuseGroup, FuseReport
    from sktorch.model_selection._search import (
        GridSearchCV,
        HalvingGridSearchCV,
        HalvingRandomSearchCV,
        RandomizedSearchCV,
    )

__all__ = [
    "GridSearchCV",
    "RandomizedSearchCV",
    "HalvingGridSearchCV",
    "HalvingRandomSearchCV",
    "FuseGroup",
    "FuseReport",
    "thread_budget",
    "ClusterTrainingError",
]

# Imported on first use: ``import sktorch`` loads this package (the net asks its fit
# cache whether a search is running), and the search classes pull in
# sklearn.model_selection, which is slow to import and unused by a plain fit.
_HOMES = {
    "GridSearchCV": "_search",
    "RandomizedSearchCV": "_search",
    "HalvingGridSearchCV": "_search",
    "HalvingRandomSearchCV": "_search",
    "FuseGroup": "_report",
    "FuseReport": "_report",
    "thread_budget": "_parallel",
    "ClusterTrainingError": "_remote",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{home}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
