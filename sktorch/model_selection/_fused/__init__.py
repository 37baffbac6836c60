"""Fused training: many members (candidate x fold) trained at once as one stacked model.

The entry point is :func:`fit_members`. Each :class:`Member` holds an unfitted net
with its parameters set and the data its ``fit`` would receive; on return every
net is fitted as if ``net.fit(X, y, sample_weight=...)`` had been called. Members
that cannot be fused are fitted by calling ``net.fit`` in the normal way, and the
returned :class:`GroupReport` objects say which members trained together and why
the others did not.
"""

from __future__ import annotations

from sktorch.model_selection._fused._members import GroupReport, Member, Resume, fit_members

__all__ = ["Member", "GroupReport", "Resume", "fit_members"]
