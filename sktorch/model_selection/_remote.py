"""Fused parts as cluster tasks, with the training data sent to each worker once.

A fused search on a cluster backend (joblib's ``dask``) sends one task per part
of its members. Pickling the members themselves would send each fold's rows
of X inside every task, so a task carries only *stubs* instead: the member's
unfitted net and where its data comes from. The data travels separately, once:

- a member of a plain net (not a ``Pipeline``) trains on rows of the search's
  own X, y and fit parameters. Those are sent once per search as one payload,
  and the stub names the fold's training rows; the worker cuts the fold out
  exactly as scikit-learn's ``_fit_and_score`` would;
- a ``Pipeline`` member trains on the fold's transformed X, which only exists
  in this process; each such X is sent once, shared by its fold's members.

With a Dask client each payload is scattered once and tasks refer to it by
its future: the search's data with ``broadcast=True`` (every worker receives
it once, and keeps it for the rest of the search, all halving rounds
included), a ``Pipeline`` fold's X to one worker, from which the others that
need it fetch it once. Other cluster
backends get the payloads as task arguments.

A task whose worker dies is rerun by Dask on another worker (members train
deterministically, so the rerun gives the same nets); when Dask gives up, or a
worker cannot run the task at all, :class:`ClusterTrainingError` says so and
the search stops: it never returns with members missing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["ClusterTrainingError", "FoldSource", "fit_part_remote", "run_remote_parts"]


class ClusterTrainingError(RuntimeError):
    """Training fused parts on the cluster failed (a worker died for good, or could not start)."""


@dataclass
class FoldSource:
    """A member's data as rows of the search's data: ``data`` is ``(X, y, fit_params)``."""

    data: tuple
    rows: Any
    fold: int

    def key(self) -> tuple:
        return ("search",) + tuple(id(part) for part in self.data)


@dataclass
class Stub:
    """What a task carries for one member: its net and where its data comes from."""

    net: Any
    key: tuple  # the payload holding the data
    rows: Any = None  # FoldSource rows, or None: the payload is the member's own (X, y, w)
    fold: int = -1
    fit_params: dict | None = None  # own-data members only


class Shipped:
    """A payload as one picklable object (Dask pickles it, so it travels as one piece)."""

    def __init__(self, data: tuple):
        self.data = data


def _stub(member: Any, source: FoldSource | None) -> tuple[Stub, tuple, tuple]:
    """The member's stub, its payload key and the payload's data."""
    if source is not None:
        key = source.key()
        return Stub(member.net, key, source.rows, source.fold), key, source.data
    own = (member.X, member.y, member.sample_weight)
    key = ("own",) + tuple(id(part) for part in own)
    return Stub(member.net, key, fit_params=dict(member.fit_params)), key, own


def _client(backend: Any) -> Any:
    client = getattr(backend, "client", None)
    return client if callable(getattr(client, "scatter", None)) else None


def _ship(ref: Any, key: tuple, data: tuple) -> Any:
    """The payload ``key``, sent once per search (a future with a Dask client)."""
    shipped = ref.shipped.get(key)
    if shipped is None:
        client = _client(ref.backend)
        payload = Shipped(data)
        if client is not None:  # the search's data goes to every worker; a fold's X where asked
            payload = client.scatter(payload, broadcast=key[0] == "search", hash=False)
        # keep ``data`` alive with its payload: the key is made of its ids
        shipped = ref.shipped[key] = (data, payload)
    return shipped[1]


def fit_part_remote(stubs: list, memory_budget: int | None, keys: list,
                    *payloads: Any) -> tuple[list, list]:
    """Runs on a worker: rebuild the part's members from stubs and payloads, train them."""
    from sklearn.base import clone

    from sktorch.model_selection._devices import spread_devices, worker_slot
    from sktorch.model_selection._fused import Member
    from sktorch.model_selection._members import _record_fold
    from sktorch.model_selection._parallel import _fit_part

    data = {key: payload.data for key, payload in zip(keys, payloads)}
    folds: dict = {}  # one fold's data object per part, shared by its members
    members = []
    for stub in stubs:
        if stub.rows is None:
            X, y, weight = data[stub.key]
            members.append(Member(stub.net, X, y, weight, dict(stub.fit_params or {})))
            continue
        fit = folds.get((stub.key, stub.fold))
        if fit is None:
            X, y, fit_params = data[stub.key]
            fit = folds[stub.key, stub.fold] = _record_fold(clone(stub.net), X, y, stub.rows,
                                                            fit_params)
        members.append(Member(stub.net, fit.X, fit.y, fit.sample_weight, dict(fit.fit_params)))
    spread_devices([m.net for m in members], worker_slot())
    reports = _fit_part(members, memory_budget)
    return [m.net for m in members], reports


def run_remote_parts(members: list, sources: list | None, parts: list[list[int]],
                     memory_budget: int | None, ref: Any) -> list[tuple[list, list]]:
    """One cluster task per part; ``(nets, reports)`` per part, in order."""
    from joblib import Parallel, delayed, parallel_backend

    sources = sources if sources is not None else [None] * len(members)
    calls = []
    for part in parts:
        stubs, keys, payloads = [], [], []
        for i in part:
            stub, key, data = _stub(members[i], sources[i])
            stubs.append(stub)
            if key not in keys:
                keys.append(key)
                payloads.append(_ship(ref, key, data))
        calls.append(delayed(fit_part_remote)(stubs, memory_budget, keys, *payloads))
    try:
        with parallel_backend(ref.backend, n_jobs=len(parts)):
            return Parallel(n_jobs=len(parts))(calls)
    except Exception as exc:
        raise ClusterTrainingError(
            f"Training {len(parts)} fused part(s) on the cluster failed with "
            f"{type(exc).__name__}: {exc}. No result of this search was kept. Dask reruns "
            "the task of a worker that died (up to distributed.scheduler.allowed-failures "
            "times); this error means it gave up, or the workers could not run the task "
            "(they must import sktorch, torch and your module, callback and scorer classes). "
            "Run the search again, or pass fuse=False to let scikit-learn send each fit "
            "as its own task.") from exc
