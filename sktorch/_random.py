"""``random_state`` without global seeding that leaks between threads.

Shuffling and the validation split draw from generators of their own fit. Module
initialization (``nn.Linear`` and friends) and random layers (dropout) can only
draw from torch's process-wide generator. Those sections run while holding
:data:`GLOBAL_RNG_LOCK`, with the global generator seeded from the fit's seed and
restored afterwards; so two fits in two threads of one process never draw from
each other's seeded stream, and a seeded fit gives the same model in a thread as
on its own.

The lock is held

- around every module initialization (seeded or not: an unseeded one must not
  draw from a stream another thread has seeded); this is short;
- for the whole training loop of a seeded fit only when something in the loop may
  draw from the global generator: a random layer (dropout, ``RReLU``, a
  ``dropout`` argument of an RNN or attention layer), or code whose draws sktorch
  cannot see (a module, loss, net subclass or callback defined outside torch.nn
  and sktorch, a torch ``Dataset`` or a ``DataLoader``). Seeded fits of such
  models in threads take turns; other fits (and all unseeded ones) run in parallel.
"""

from __future__ import annotations

import contextlib
import threading
from typing import Any

import torch
from torch import nn

__all__ = ["GLOBAL_RNG_LOCK", "seeded", "seed_global", "loop_draws_globally"]

# Re-entrant: a callback that re-initializes the module runs inside a locked loop.
GLOBAL_RNG_LOCK = threading.RLock()

_RANDOM_LAYERS = (nn.modules.dropout._DropoutNd, nn.RReLU)
_KNOWN_CODE = ("torch.nn.", "torch.optim.", "sktorch.")
# sktorch callbacks that run user functions (which may draw at random).
_USER_CODE_CALLBACKS = {"Initializer", "ParamMapper"}


@contextlib.contextmanager
def seeded(seed: int | None, device: Any = None):
    """Hold the global-generator lock; with a seed, also seed torch's global generators.

    The generators' states are restored on exit, so nothing global changes.
    """
    with GLOBAL_RNG_LOCK:
        if seed is None:
            yield
            return
        dev = torch.device(device or "cpu")
        devices = [dev.index or 0] if dev.type == "cuda" else []
        with torch.random.fork_rng(devices=devices):
            seed_global(seed, dev)
            yield


def seed_global(seed: int, device: Any = None) -> None:
    """Seed torch's global generator(s) for ``device``, as ``torch.manual_seed`` does.

    On the CPU only the CPU generator is seeded: ``torch.manual_seed`` would also
    queue a lazy seeding of every accelerator backend torch was built with (each
    recording a stack trace; a few ms per fit, and a growing queue when no
    accelerator is ever initialized). The CPU stream is the same either way.
    """
    if torch.device(device or "cpu").type == "cpu":
        torch.random.default_generator.manual_seed(seed)
    else:
        torch.manual_seed(seed)


def _known(obj: Any) -> bool:
    return type(obj).__module__.startswith(_KNOWN_CODE)


def _module_draws(module: nn.Module) -> bool:
    for sub in module.modules():
        if isinstance(sub, _RANDOM_LAYERS) or not _known(sub):
            return True
        dropout = getattr(sub, "dropout", 0)  # nn.LSTM, nn.MultiheadAttention, MLPModule
        if isinstance(dropout, float) and dropout > 0:
            return True
    return False


def loop_draws_globally(net: Any, *batches: Any) -> bool:
    """Whether a training loop of ``net`` over ``batches`` may draw from torch's global generator.

    ``batches`` are the loop's batch sources (``None`` for an absent one).

    ``False`` only when everything that runs in the loop is known code without random
    layers: torch.nn / sktorch modules and losses, in-memory batches, sktorch's own
    callbacks (except those calling user functions) and an sktorch net class.
    """
    from sktorch._data import TensorBatches

    if any(not isinstance(b, (TensorBatches, type(None))) for b in batches) or not _known(net):
        return True
    if _module_draws(net.module_) or not _known(net.criterion_):
        return True
    return any(not _known(cb) or type(cb).__name__ in _USER_CODE_CALLBACKS
               for _, cb in getattr(net, "callbacks_", None) or ())
