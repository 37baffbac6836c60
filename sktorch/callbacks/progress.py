"""A per-batch progress bar: ``ProgressBar`` (needs ``tqdm``)."""

from __future__ import annotations

import importlib.util
import math
import time
from collections.abc import Sequence
from typing import Any, Union

from sktorch import _params
from sktorch.callbacks.base import Callback

__all__ = ["ProgressBar"]

_REFRESH_S = 0.2  # read the running loss (a device sync) at most this often


def _require_tqdm() -> None:
    if importlib.util.find_spec("tqdm") is None:
        raise ImportError(
            "ProgressBar needs the tqdm package; install it with "
            "`pip install sktorch[progress]` (or `pip install tqdm`)."
        )


def _n_batches(dataset: Any, batch_size: int) -> int | None:
    if dataset is None:
        return 0
    try:
        n = len(dataset)
    except TypeError:
        return None
    return 1 if batch_size == -1 else math.ceil(n / batch_size)


class ProgressBar(Callback):
    """Show a progress bar over each epoch's batches with the running losses.

    Parameters
    ----------
    batches_per_epoch : 'auto', 'count' or int, default='auto'
        The bar's length: ``'auto'`` computes it from the dataset sizes and batch
        sizes, ``'count'`` counts the first epoch's batches and uses that from the
        second epoch on, an int is used as it is.
    detect_notebook : bool, default=True
        Use tqdm's notebook widget inside Jupyter (``tqdm.auto``).
    postfix_keys : sequence of str, default=('train_loss', 'valid_loss')
        Batch values whose running mean is shown next to the bar.

    Raises
    ------
    ImportError
        When tqdm is not installed (``pip install sktorch[progress]``).

    Examples
    --------
    >>> import numpy as np
    >>> from sktorch import NeuralNetRegressor
    >>> from sktorch.callbacks import ProgressBar
    >>> X = np.random.RandomState(0).randn(40, 3).astype('float32'); y = X[:, 0]
    >>> net = NeuralNetRegressor(max_epochs=1, batch_size=8, verbose=0,
    ...                          callbacks=[ProgressBar()]).fit(X, y)
    >>> net.callbacks_[-1][1].n_batches_  # 4 training and 1 validation batch
    5
    """

    def __init__(
        self,
        batches_per_epoch: Union[str, int] = "auto",
        detect_notebook: bool = True,
        postfix_keys: Sequence[str] = ("train_loss", "valid_loss"),
    ):
        _require_tqdm()
        self.batches_per_epoch = batches_per_epoch
        self.detect_notebook = detect_notebook
        self.postfix_keys = postfix_keys

    def initialize(self) -> ProgressBar:
        self.pbar_ = None
        self.n_batches_: int | None = None
        return self

    def __getstate__(self) -> dict:
        state = dict(super().__getstate__())  # a copy: never touch the live object
        state["pbar_"] = None
        return state

    def _total(self, net: Any, dataset_train: Any, dataset_valid: Any) -> int | None:
        if self.batches_per_epoch == "count":
            return self.n_batches_
        if self.batches_per_epoch != "auto":
            return int(self.batches_per_epoch)
        sizes = [_params.params_for(p, net._kwargs).get("batch_size", net.batch_size)
                 for p in ("iterator_train", "iterator_valid")]
        counts = [_n_batches(dataset_train, sizes[0]), _n_batches(dataset_valid, sizes[1])]
        return None if None in counts else sum(counts)

    def on_epoch_begin(self, net, dataset_train=None, dataset_valid=None, **kwargs) -> None:
        if self.detect_notebook:
            from tqdm.auto import tqdm
        else:
            from tqdm import tqdm
        self.pbar_ = tqdm(total=self._total(net, dataset_train, dataset_valid), leave=False,
                          desc=f"epoch {len(net.history)}")
        self._seen, self._n_read = 0, 0
        self._sums: dict[str, float] = {}
        self._counts: dict[str, int] = {}
        self._last_refresh = time.monotonic()

    def _postfix(self, rows: list) -> dict[str, str]:
        """Running means of ``postfix_keys``, reading only the rows added since last time."""
        for row in rows[self._n_read:]:
            for key in self.postfix_keys:
                if key in row:
                    self._sums[key] = self._sums.get(key, 0.0) + float(row[key])
                    self._counts[key] = self._counts.get(key, 0) + 1
        self._n_read = len(rows)
        return {k: f"{self._sums[k] / self._counts[k]:.4f}" for k in self._sums}

    def on_batch_end(self, net, **kwargs) -> None:
        self.pbar_.update(1)
        self._seen += 1
        now = time.monotonic()
        if now - self._last_refresh >= _REFRESH_S:  # losses are device tensors: sync rarely
            self._last_refresh = now
            self.pbar_.set_postfix(self._postfix(net.history[-1]["batches"]), refresh=False)

    def on_epoch_end(self, net, **kwargs) -> None:
        # The epoch's batch losses are plain floats by now: no sync.
        self.pbar_.set_postfix(self._postfix(net.history[-1]["batches"]))
        self.pbar_.close()
        self.pbar_ = None
        if self.n_batches_ is None or self.batches_per_epoch != "count":
            self.n_batches_ = self._seen

    def on_train_end(self, net, **kwargs) -> None:
        if self.pbar_ is not None:  # training stopped mid-epoch
            self.pbar_.close()
            self.pbar_ = None
