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

With a Dask client each payload is scattered once (to one worker) and
published as a dataset, and tasks carry a :class:`Held` handle instead of the
data: a worker fetches the payload
the first time one of its tasks needs it and keeps it in the process for the
rest of the search (all halving rounds included), so each worker receives it
once. The handle hides the future from Dask on purpose: as a task dependency
the payload would be fetched again whenever Dask's memory manager had dropped
a worker's copy between rounds. At the end of the search the workers forget
it (:func:`forget`). Other cluster
backends get the payloads as task arguments.

A task whose worker dies is rerun by Dask on another worker (members train
deterministically, so the rerun gives the same nets); when Dask gives up, or a
worker cannot run the task at all, :class:`ClusterTrainingError` says so and
the search stops: it never returns with members missing.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

__all__ = ["ClusterTrainingError", "FoldSource", "Held", "fit_part_remote", "forget",
           "run_remote_parts", "scattered_for_fits"]

_HELD: dict = {}  # on a worker: (search id, payload key) -> the payload's data
_HELD_LOCK = threading.Lock()


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


class Held:
    """A payload on the cluster, fetched by a worker once and kept for the search."""

    def __init__(self, search: str, key: tuple, dataset: str | None = None,
                 payload: Any = None):
        # ``dataset``: the name the client published the scattered payload under (a
        # future only travels between clients that way); else the payload itself
        self.search, self.key, self.dataset, self.payload = search, key, dataset, payload

    def data(self) -> tuple:
        if self.dataset is None:  # no Dask client: the payload travelled with the task
            return self.payload.data
        with _HELD_LOCK:  # one fetch per worker process, however many threads ask
            data = _HELD.get((self.search, self.key))
            if data is None:
                from distributed import get_client, get_worker

                future = get_client().get_dataset(self.dataset)
                local = get_worker().data  # the worker it was scattered to: no second copy
                payload = local[future.key] if future.key in local else future.result()
                data = _HELD[self.search, self.key] = payload.data
        return data


def forget(search: str) -> int:
    """Runs on each worker at the end of a search: drop its payloads; how many there were."""
    with _HELD_LOCK:
        keys = [key for key in _HELD if key[0] == search]
        for key in keys:
            del _HELD[key]
    return len(keys)


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


def _ship(ref: Any, key: tuple, data: tuple) -> Held:
    """The payload ``key`` as a :class:`Held`, scattered once per search with a Dask client."""
    shipped = ref.shipped.get(key)
    if shipped is None:
        client = _client(ref.backend)
        if client is not None:
            name = f"sktorch-{ref.search_id}-{len(ref.shipped)}"
            client.publish_dataset(client.scatter(Shipped(data), hash=False), name=name)
            held = Held(ref.search_id, key, dataset=name)
        else:
            held = Held(ref.search_id, key, payload=Shipped(data))
        # keep ``data`` alive with its payload: the key is made of its ids
        shipped = ref.shipped[key] = (data, held)
    return shipped[1]


def release(ref: Any) -> None:
    """End of a search: the workers forget its payloads, and the futures go."""
    client = _client(ref.backend)
    if ref.shipped and client is not None:
        try:
            client.run(forget, ref.search_id)
            for _, held in ref.shipped.values():
                client.unpublish_dataset(held.dataset)
        except Exception:  # a cluster already gone holds nothing
            pass
    ref.shipped.clear()


@contextlib.contextmanager
def scattered_for_fits(X: Any, y: Any) -> Iterator[None]:
    """Under joblib's ``dask`` backend: X and y reach each worker once, for a whole search.

    An unfused search lets scikit-learn send each (candidate, fold) fit as a task
    with the search's X and y as arguments. joblib's dask backend scatters large
    arguments itself, but once per ``Parallel`` call (each halving round), and
    leaves small ones in every task. Inside this context the active backend is
    the user's (same client, ``n_jobs`` and options) with X and y scattered once,
    to one worker, as joblib's own ``scatter=`` would hold them: every task of
    every round refers to those copies, and a worker fetches them the first time
    one of its tasks needs them. (Not joblib's ``scatter=`` itself: it broadcasts
    through ``replicate``, which can deliver a second copy to a worker.) Other
    backends: no change.
    """
    from joblib.parallel import get_active_backend

    backend, n_jobs = get_active_backend()
    client = _client(backend)
    if (client is None or type(backend).__name__ != "DaskDistributedBackend"
            or not isinstance(getattr(backend, "data_futures", None), dict)):
        yield
        return
    from sklearn.utils import indexable

    # the very objects scikit-learn's fit passes to its tasks (joblib matches them by id)
    data = [part for part in indexable(X, y) if part is not None]
    if not data:
        yield
        return
    from joblib import parallel_config

    futures = client.scatter(data, hash=False)
    with parallel_config(backend="dask", n_jobs=n_jobs, client=client,
                         wait_for_workers_timeout=getattr(backend, "wait_for_workers_timeout",
                                                          10),
                         **getattr(backend, "submit_kwargs", {})):
        active = get_active_backend()[0]
        active.data_futures.update(backend.data_futures)  # the user's own scatter= data
        active.data_futures.update({id(part): future for part, future in zip(data, futures)})
        active._scatter = list(getattr(backend, "_scatter", [])) + data  # ids stay valid
        yield


def fit_part_remote(stubs: list, memory_budget: int | None, keys: list,
                    *payloads: Held) -> tuple[list, list]:
    """Runs on a worker: rebuild the part's members from stubs and payloads, train them."""
    from sklearn.base import clone

    from sktorch.model_selection._devices import spread_devices, worker_slot
    from sktorch.model_selection._fused import Member
    from sktorch.model_selection._members import _record_fold
    from sktorch.model_selection._parallel import _fit_part

    data = {key: payload.data() for key, payload in zip(keys, payloads)}
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
