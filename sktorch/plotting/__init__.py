"""Plots of training and searches, as scikit-learn-style Display objects.

Needs matplotlib (``pip install sktorch[plot]``), imported only when a plot is
drawn. Each display follows scikit-learn's convention: ``from_estimator`` reads
what to draw from a fitted object and draws it; ``plot(ax=None)`` draws again
(on new or given axes); the drawn artists are attributes ending in ``_``
(``figure_``, ``ax_``, ``lines_``, ...), so a test or a user can restyle them.
"""

from sktorch.plotting._history import HistoryDisplay
from sktorch.plotting._search import SearchDisplay

__all__ = ["HistoryDisplay", "SearchDisplay"]
