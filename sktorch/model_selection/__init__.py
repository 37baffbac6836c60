"""Hyperparameter search that trains many candidates × folds at once.

The classes are scikit-learn's, subclassed: change the import from
``sklearn.model_selection`` to ``sktorch.model_selection`` and a search over an
sktorch net (or a ``Pipeline`` ending in one) trains its members fused. See
``fuse_report_`` for what fused and ``cv_histories_`` for each member's history.
"""

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
