"""The lazy matplotlib import and the axes handling the displays share."""

from __future__ import annotations

from typing import Any

import numpy as np


def import_pyplot() -> Any:
    """``matplotlib.pyplot``, or an ImportError that says how to install it."""
    try:
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise ImportError(
            "sktorch.plotting needs matplotlib, which is not installed; install it with "
            "`pip install sktorch[plot]` (or `pip install matplotlib`)."
        ) from exc
    return plt


def panel_axes(ax: Any, n_panels: int, who: str) -> tuple[Any, np.ndarray]:
    """The figure and one Axes per panel: new ones, or the ``ax`` the user gave.

    ``ax`` is None (a new figure with ``n_panels`` side by side), one Axes (allowed
    only when there is one panel) or a sequence of ``n_panels`` Axes.
    """
    plt = import_pyplot()
    if ax is None:
        fig, axes = plt.subplots(1, n_panels, figsize=(5.0 * n_panels, 4.0), squeeze=False)
        return fig, axes.ravel()
    axes = np.asarray(ax, dtype=object).ravel()
    if axes.size != n_panels:
        raise ValueError(
            f"{who}.plot draws {n_panels} panel(s) and needs as many Axes; got {axes.size}. "
            f"Pass ax=None for a new figure, or e.g. "
            f"`fig, ax = plt.subplots(1, {n_panels})` and ax=ax."
        )
    return axes[0].figure, axes


def epoch_axis(ax: Any) -> None:
    """Label the x axis as epochs, with whole-number ticks."""
    from matplotlib.ticker import MaxNLocator

    ax.set_xlabel("epoch")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
