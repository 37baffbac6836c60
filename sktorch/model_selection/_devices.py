"""Every GPU: the workers of a parallel search share out the visible GPUs, one each.

A net with ``device='cuda'`` (no index) means "the current GPU", which is
``cuda:0`` in every worker unless something says otherwise, so ``n_jobs``
workers would all train on the first GPU. A parallel search gives worker
*i* the device ``cuda:{i % n_gpus}`` instead:

- fused parts trained in threads of this process: part *i* is worker *i*;
- fused parts trained as Dask tasks: the worker's own number (a
  ``LocalCluster`` numbers its workers 0, 1, ...; other names are hashed), over
  the GPUs that worker sees. A worker started with ``CUDA_VISIBLE_DEVICES``
  set to one GPU sees one and keeps ``'cuda'``.

An explicit index (``'cuda:1'``), ``'cpu'`` and one visible GPU are left as they
are. The members' nets keep the device they trained on (``'cuda:1'``), so their
scoring runs there too; ``cv_results_['params']`` and the refit use the
candidate's own ``device``.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable
from typing import Any

import torch

__all__ = ["device_for", "n_visible_gpus", "spread_devices", "worker_slot"]


def n_visible_gpus() -> int:
    """The CUDA devices this process sees (0 without CUDA)."""
    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def device_for(device: Any, slot: int, n_gpus: int) -> Any:
    """The device worker ``slot`` trains on when the net asks for ``device``.

    Examples
    --------
    >>> device_for('cuda', 3, n_gpus=2)
    'cuda:1'
    >>> device_for('cuda:0', 3, n_gpus=2), device_for('cpu', 3, n_gpus=2)
    ('cuda:0', 'cpu')
    >>> device_for('cuda', 3, n_gpus=1)
    'cuda'
    """
    if n_gpus < 2 or device is None:
        return device
    parsed = torch.device(device)
    if parsed.type != "cuda" or parsed.index is not None:
        return device
    return f"cuda:{slot % n_gpus}"


def spread_devices(nets: Iterable[Any], slot: int) -> None:
    """Put the nets that ask for ``'cuda'`` on worker ``slot``'s GPU (see the module notes)."""
    n_gpus = n_visible_gpus()
    if n_gpus < 2:
        return
    for net in nets:
        device = getattr(net, "device", None)
        chosen = device_for(device, slot, n_gpus)
        if chosen is not device:
            net.device = chosen


def worker_slot() -> int:
    """This Dask worker's number (its name when that is a number), else 0."""
    try:
        from distributed import get_worker

        worker = get_worker()
    except (ImportError, ValueError):
        return 0
    name = str(worker.name)
    if name.isdigit():
        return int(name)
    return zlib.crc32(str(worker.address).encode())
