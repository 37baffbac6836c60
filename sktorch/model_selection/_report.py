"""What a search fused: ``search.fuse_report_``, one entry per group of members."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

__all__ = ["FuseGroup", "FuseReport"]


@dataclass(frozen=True)
class FuseGroup:
    """Members (candidate × fold) that trained together, or that could not.

    Attributes
    ----------
    members : tuple of (int, int)
        ``(candidate, fold)`` pairs; ``candidate`` indexes ``cv_results_['params']``.
    fused : bool
        True when these members trained as one stacked model.
    reason : str
        Why they did not fuse ('' when they did).
    iteration : int
        The search iteration (halving searches have several; others one, 0).
    n_chunks : int
        How many stacked models the group was split into to fit the memory budget.
    """

    members: tuple[tuple[int, int], ...]
    fused: bool
    reason: str = ""
    iteration: int = 0
    n_chunks: int = 1

    @property
    def n_members(self) -> int:
        return len(self.members)


class FuseReport(list):
    """``fuse_report_``: a list of :class:`FuseGroup` with a one-line summary.

    Examples
    --------
    >>> report = FuseReport([FuseGroup(((0, 0), (0, 1)), fused=True),
    ...                      FuseGroup(((1, 0), (1, 1)), fused=False, reason='LBFGS')])
    >>> report.summary()
    '2 of 4 members fused in 1 group; 2 trained one by one: LBFGS (2)'
    """

    @property
    def n_members(self) -> int:
        return sum(group.n_members for group in self)

    @property
    def n_fused(self) -> int:
        return sum(group.n_members for group in self if group.fused)

    def fallback_reasons(self) -> Counter:
        """Members that did not fuse, counted by reason."""
        reasons: Counter = Counter()
        for group in self:
            if not group.fused:
                reasons[group.reason] += group.n_members
        return reasons

    def summary(self) -> str:
        """One line: how many members fused, in how many groups, and why others did not."""
        n_groups = sum(1 for group in self if group.fused)
        line = (f"{self.n_fused} of {self.n_members} members fused in {n_groups} "
                f"group{'' if n_groups == 1 else 's'}")
        reasons = self.fallback_reasons()
        if reasons:
            n_other = sum(reasons.values())
            line += f"; {n_other} trained one by one: " + "; ".join(
                f"{reason} ({n})" for reason, n in reasons.most_common())
        return line
