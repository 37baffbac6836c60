"""Shared by the scale-out tests: their data, net and grid, and a callback that kills its
worker once (imported by name, so Dask workers can unpickle them). The ``client``
fixture is in conftest.py."""

import os

import numpy as np
from torch import nn

from sktorch import NeuralNetClassifier
from sktorch.callbacks import Callback
from sktorch.toy import MLPModule

GRID = {"lr": [0.05, 0.1, 0.2, 0.3]}


def data():
    rng = np.random.RandomState(0)
    X = rng.randn(120, 6).astype("float32")
    y = (X[:, 0] + X[:, 3] > 0).astype("int64")
    return X, y


def net(**kwargs):
    kwargs = {"module": MLPModule, "module__input_units": 6, **kwargs}
    return NeuralNetClassifier(criterion=nn.CrossEntropyLoss, max_epochs=4, batch_size=32,
                               train_split=None, verbose=0, random_state=0, **kwargs)


class KillOnce(Callback):
    """Ends its process the first time any member trains (a crash mid-search)."""

    def __init__(self, marker=None):
        self.marker = marker

    def on_train_begin(self, net, **kwargs):
        if self.marker and not os.path.exists(self.marker):
            open(self.marker, "w").close()
            os._exit(1)
