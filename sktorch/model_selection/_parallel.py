"""Searches over every core: a torch thread budget per worker, fused groups in parallel.

joblib runs a search's fits in ``n_jobs`` workers. Each worker doing torch work
with all of the machine's intra-op threads oversubscribes the cores (``n_jobs``
× cores threads), which is slower than ``n_jobs=1``. This module owns the rule
that ``workers × threads ≤ cores``:

- process backends (loky, multiprocessing) already start their workers with
  ``OMP_NUM_THREADS = cores // n_jobs``, which torch reads when it starts;
- thread backends share one torch thread pool, so :func:`thread_budget` sets
  ``torch.set_num_threads(cores // n_workers)`` for the duration of the search
  and restores the previous value afterwards;
- a fused search with ``n_jobs > 1`` on a cluster (``dask``) sends one part of
  its members per worker; on one machine it splits them only to spread them
  over several GPUs (one part per GPU, in threads). On the CPU the members
  train in one call with all of this process's threads: parts in threads
  cannot overlap (see ``_fit_part``), so splitting would only take threads
  away from each part (measured: ``n_jobs=2`` 0.79x of ``n_jobs=1``):
  :func:`fit_members_parallel`.
"""

from __future__ import annotations

import contextlib
import threading
import uuid
from collections.abc import Iterator
from typing import Any

import torch

__all__ = ["BackendRef", "fit_members_parallel", "n_workers", "outer_backend", "thread_budget",
           "threads_per_worker"]


def n_workers(n_jobs: int | None) -> int:
    """How many workers joblib runs for ``n_jobs`` under the active backend."""
    from joblib import effective_n_jobs

    return max(1, int(effective_n_jobs(n_jobs)))


def threads_per_worker(n_jobs: int | None, n_cores: int | None = None) -> int:
    """torch intra-op threads for each of the ``n_jobs`` workers: ``cores // workers``.

    Parameters
    ----------
    n_jobs : int or None
        As a search's ``n_jobs`` (None: 1, -1: all cores).
    n_cores : int, optional
        The cores to share; default: the cores this process may use
        (``joblib.cpu_count()``).

    Returns
    -------
    int
        At least 1.

    Examples
    --------
    >>> threads_per_worker(2, n_cores=8)
    4
    >>> threads_per_worker(3, n_cores=2)
    1
    """
    if n_cores is None:
        from joblib import cpu_count

        n_cores = cpu_count()
    return max(1, int(n_cores) // n_workers(n_jobs))


@contextlib.contextmanager
def thread_budget(n_jobs: int | None, n_cores: int | None = None) -> Iterator[int]:
    """Within the block, torch uses ``cores // n_workers`` intra-op threads; restored after.

    sktorch's search classes enter it for you. Wrap scikit-learn's own searches
    in it when they run their fits in threads (``joblib.parallel_backend
    ("threading")``); process backends need nothing (joblib already limits
    each worker's threads). With one worker (``n_jobs`` 1 or None) the thread
    count is left as it is.

    Parameters
    ----------
    n_jobs : int or None
        The search's ``n_jobs``.
    n_cores : int, optional
        The cores to share; default ``joblib.cpu_count()``.

    Yields
    ------
    int
        The torch thread count in force inside the block.

    Examples
    --------
    >>> import torch
    >>> before = torch.get_num_threads()
    >>> with thread_budget(4, n_cores=4) as threads:
    ...     threads, torch.get_num_threads()
    (1, 1)
    >>> torch.get_num_threads() == before
    True
    """
    before = torch.get_num_threads()
    if n_workers(n_jobs) <= 1:
        yield before
        return
    threads = min(before, threads_per_worker(n_jobs, n_cores))
    torch.set_num_threads(threads)
    try:
        yield threads
    finally:
        torch.set_num_threads(before)


def _split(indices: list[int], n_parts: int) -> list[list[int]]:
    """``indices`` in ``n_parts`` contiguous, nearly equal parts (none empty)."""
    n_parts = max(1, min(n_parts, len(indices)))
    size, extra = divmod(len(indices), n_parts)
    parts, start = [], 0
    for k in range(n_parts):
        stop = start + size + (k < extra)
        parts.append(indices[start:stop])
        start = stop
    return parts


_PART_LOCK = threading.Lock()


def _fit_part(members: list, memory_budget: int | None, on_done: Any = None) -> list:
    """One worker's part; the fit cache is bypassed in this thread as in the caller's."""
    from sktorch.model_selection._cache import bypass
    from sktorch.model_selection._fused import fit_members

    # One part at a time: fused set-up traces modules with torch.fx, which patches
    # torch process-wide while it traces, so a part tracing while another trains
    # breaks the other (NameError: module is not installed as a submodule). Until
    # set-up is traced ahead in one thread, thread parts keep their thread budget
    # but do not overlap.
    with _PART_LOCK, bypass():
        return fit_members(members, memory_budget, on_done)


def _in_part(on_done: Any, part: list) -> Any:
    """``on_done`` for one part: its indices mapped back to the whole member list."""
    if on_done is None:
        return None
    return lambda indices: on_done([part[i] for i in indices])


class BackendRef:
    """joblib's active backend and default ``n_jobs`` as a search saw them before its threads.

    A fused search runs scikit-learn's per-fit calls in threads (they read this
    process's fit cache), so by the time it trains its members the active backend
    is ``threading``; the backend the user chose (``dask``) is read first and kept
    here, with the data already sent to the cluster. It pickles as empty: a
    backend object must never travel inside a task (a ``dask`` backend rebuilt
    on a worker finds no client there).
    """

    def __init__(self, backend: Any = None, n_jobs: int | None = None):
        self.backend, self.n_jobs = backend, n_jobs
        self.shipped: dict = {}  # payloads sent to the cluster, once per search (_remote)
        self.search_id = uuid.uuid4().hex

    def release(self) -> None:
        """The search is over: the cluster's workers drop the data sent to them."""
        from sktorch.model_selection._remote import release

        release(self)

    def __reduce__(self) -> tuple:
        return BackendRef, ()


def outer_backend() -> BackendRef:
    """The active joblib backend, kept by :class:`BackendRef`."""
    from joblib.parallel import get_active_backend

    return BackendRef(*get_active_backend())


def _in_this_process(backend: Any) -> bool:
    """Whether ``backend`` runs its tasks in this process (joblib's sequential or threads)."""
    from joblib import _parallel_backends as local

    own = tuple(getattr(local, name) for name in ("SequentialBackend", "ThreadingBackend")
                if hasattr(local, name))
    return backend is None or isinstance(backend, own)


def _in_processes(backend: Any) -> bool:
    """Whether ``backend`` is a cluster backend (``dask``, ray, ...) that parts should go to.

    On one machine (joblib's own loky, multiprocessing, threading backends) the
    parts train in threads of this process: torch computes without the GIL, and
    nothing is pickled. On a cluster each part is one task.
    """
    from joblib import _parallel_backends as local

    own = tuple(getattr(local, name) for name in (
        "SequentialBackend", "ThreadingBackend", "MultiprocessingBackend", "LokyBackend")
        if hasattr(local, name))
    return backend is not None and not isinstance(backend, own)


def _spread_over_gpus(members: list) -> bool:
    """Whether some member asks for ``'cuda'`` and this process sees several GPUs."""
    from sktorch.model_selection._devices import device_for, n_visible_gpus

    n_gpus = n_visible_gpus()
    return n_gpus > 1 and any(
        device_for(getattr(m.net, "device", None), 1, n_gpus) != getattr(m.net, "device", None)
        for m in members)


def fit_members_parallel(members: list, memory_budget: int | None, n_jobs: int | None,
                         backend: BackendRef | None = None, on_done: Any = None,
                         sources: list | None = None) -> list:
    """:func:`fit_members` with the members split over ``n_jobs`` workers.

    Each worker trains its part as ``fit_members`` would (fused groups, chunks,
    fallbacks); a member is trained the same way whichever part it lands in,
    so the results equal ``n_jobs=1`` up to float round-off. On one machine
    the members train in one call unless they ask for ``'cuda'`` and several
    GPUs are visible; then one part per GPU trains in a thread of this process,
    one after another (see ``_fit_part``), under a :func:`thread_budget`;
    under a cluster backend read by :func:`outer_backend` (``dask``) each part
    is one task (even with one worker: the search never trains on the client),
    the data goes to each worker once (``sources``: a
    :class:`~sktorch.model_selection._remote.FoldSource` or None per member, see
    ``_remote``), and the fitted nets replace ``members[i].net``. Members asking
    for ``device='cuda'`` are spread over the visible GPUs, one per worker
    (``_devices``). ``on_done`` (as in ``fit_members``) is called with indices
    into ``members``. Returns the group reports with member indices into ``members``.
    """
    from sktorch.model_selection._devices import spread_devices
    from sktorch.model_selection._fused import fit_members

    remote = backend is not None and _in_processes(backend.backend)
    if remote:
        jobs = n_jobs if n_jobs is not None else backend.n_jobs
        workers = max(1, int(backend.backend.effective_n_jobs(jobs if jobs is not None else 1)))
    else:
        workers = n_workers(n_jobs)
    if not remote and (workers <= 1 or len(members) < 2 or not _spread_over_gpus(members)):
        return fit_members(members, memory_budget, on_done)
    from joblib import Parallel, delayed

    parts = _split(list(range(len(members))), workers)
    budget = None if memory_budget is None else max(1, memory_budget // len(parts))
    if remote:
        from sktorch.model_selection._remote import run_remote_parts

        results = run_remote_parts(members, sources, parts, budget, backend)
        for part, (nets, _) in zip(parts, results):
            for i, net in zip(part, nets):
                members[i].net = net
            if on_done is not None:
                on_done(list(part))
        results = [part_reports for _, part_reports in results]
    else:
        for slot, part in enumerate(parts):
            spread_devices([members[i].net for i in part], slot)
        with thread_budget(len(parts)):
            results = Parallel(n_jobs=len(parts), backend="threading")(
                delayed(_fit_part)([members[i] for i in part], budget, _in_part(on_done, part))
                for part in parts)
    reports = []
    for part, part_reports in zip(parts, results):
        for report in part_reports:
            report.members = [part[i] for i in report.members]
            report.chunks = [[part[i] for i in chunk] for chunk in report.chunks]
            report.errors = {part[i]: exc for i, exc in report.errors.items()}
            reports.append(report)
    return reports
