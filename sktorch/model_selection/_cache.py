"""The fit cache: how a search hands pre-trained members to scikit-learn's per-fit calls.

A fused search trains its members (candidate × fold) before scikit-learn's own loop
runs; scikit-learn then calls ``net.fit(X_train, y_train)`` once per member as usual.
``NeuralNet.fit`` asks :func:`serve` first, but only while a search is running
(``active`` is the one attribute it reads otherwise). :func:`serve` looks the fit up
by the net's parameters and a fingerprint of its training data; on a hit the net
takes over the trained member's state, on a miss it trains normally.

The cache lives in this process and is shared by its threads (scikit-learn's
threading backend); fits in other processes never see it and train normally.
"""

from __future__ import annotations

import contextlib
import threading
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from sktorch.model_selection._fingerprint import fingerprint, token

__all__ = ["FitCache", "RecordedFit", "active", "bypass", "data_key", "member_key", "net_key",
           "recording", "serve"]

active = 0  # number of caches now open; NeuralNet.fit reads only this when no search runs
_open: list[FitCache] = []
_lock = threading.Lock()
_local = threading.local()  # .mode: None, "bypass" or a list that records fits


@dataclass
class RecordedFit:
    """The arguments one ``NeuralNet.fit`` call received (see :func:`recording`)."""

    net: Any
    X: Any
    y: Any
    sample_weight: Any
    fit_params: dict


@dataclass
class FitCache:
    """Members of one batch of fits, keyed by :func:`member_key`.

    ``expect`` names the member that a key belongs to (several when a search lists
    the same candidate twice); ``fitted`` holds the trained net of each member that
    was trained ahead; ``histories`` collects each served member's history;
    ``on_fit``, when set, is called with the member id of each served fit (the
    search's progress bar).
    """

    expected: dict[Any, deque] = field(default_factory=dict)
    fitted: dict[Any, Any] = field(default_factory=dict)
    histories: dict[Any, Any] = field(default_factory=dict)
    on_fit: Any = None

    def expect(self, key: Any, member_id: Any, net: Any = None) -> None:
        self.expected.setdefault(key, deque()).append(member_id)
        if net is not None:
            self.fitted[member_id] = net

    def _take(self, key: Any) -> tuple[Any, Any] | None:
        ids = self.expected.get(key)
        if not ids:
            return None
        member_id = ids.popleft()
        return member_id, self.fitted.pop(member_id, None)

    @contextlib.contextmanager
    def open(self) -> Iterator[FitCache]:
        """Serve this cache's members to ``NeuralNet.fit`` calls inside the block."""
        global active
        with _lock:
            _open.append(self)
            active += 1
        try:
            yield self
        finally:
            with _lock:
                _open.remove(self)
                active -= 1
            self.fitted.clear()  # members nobody asked for (e.g. a failed search)


def net_key(net: Any) -> Any:
    """The net's class and parameters as a hashable value, or None."""
    params = token(net.get_params(deep=False))
    return None if params is None else (type(net), params)


def data_key(X: Any, y: Any, sample_weight: Any, fit_params: dict) -> Any:
    """The training data of a fit as a hashable value, or None (e.g. a torch ``Dataset``)."""
    parts = (fingerprint(X), fingerprint(y), fingerprint(sample_weight), token(fit_params))
    if parts[0] is None or parts[3] is None:
        return None
    if (y is not None and parts[1] is None) or (sample_weight is not None and parts[2] is None):
        return None
    return parts


def member_key(net: Any, X: Any, y: Any, sample_weight: Any, fit_params: dict) -> Any:
    """What makes two fits the same: the net's class and parameters, and the data.

    Equal keys train equal models, so one fit's result can serve the other.
    None when something cannot be compared.
    """
    params = net_key(net)
    data = None if params is None else data_key(X, y, sample_weight, fit_params)
    return None if data is None else (params, data)


def serve(net: Any, X: Any, y: Any, sample_weight: Any, fit_params: dict) -> bool:
    """Called by ``NeuralNet.fit`` while a search runs; True when ``net`` is now fitted."""
    mode = getattr(_local, "mode", None)
    if mode == "bypass":
        return False
    if mode is not None:  # recording: note the call, train nothing
        mode.append(RecordedFit(net, X, y, sample_weight, dict(fit_params)))
        return True
    if net.warm_start and getattr(net, "initialized_", False):
        return False
    key = member_key(net, X, y, sample_weight, fit_params)
    if key is None:
        return False
    with _lock:
        found = next(((cache, hit) for cache in _open
                      if (hit := cache._take(key)) is not None), None)
    if found is None:
        return False
    cache, (member_id, fitted) = found
    if fitted is not None:  # the trained clone's state, parameters included (equal ones);
        vars(net).update(vars(fitted))  # attributes set by the caller (e.g. callback contexts) stay
    else:  # expected but not trained ahead: train it here, keeping its history
        from sktorch.net import NeuralNet

        with bypass():
            NeuralNet.fit(net, X, y, sample_weight=sample_weight, **fit_params)
    cache.histories[member_id] = net.history_
    if cache.on_fit is not None:
        cache.on_fit(member_id)
    return True


@contextlib.contextmanager
def bypass() -> Iterator[None]:
    """``NeuralNet.fit`` calls in this thread train normally inside the block."""
    previous = getattr(_local, "mode", None)
    _local.mode = "bypass"
    try:
        yield
    finally:
        _local.mode = previous


@contextlib.contextmanager
def recording() -> Iterator[list[RecordedFit]]:
    """``NeuralNet.fit`` calls in this thread only record their arguments in the block.

    Used to learn what a net inside a ``Pipeline`` would be fitted on (the fold's
    transformed X) without training it.
    """
    global active
    previous = getattr(_local, "mode", None)
    fits: list[RecordedFit] = []
    _local.mode = fits
    with _lock:
        active += 1
    try:
        yield fits
    finally:
        _local.mode = previous
        with _lock:
            active -= 1
