"""Shared by the scale-out tests: a callback that kills its worker once (imported by
name, so Dask workers can unpickle it). The ``client`` fixture is in conftest.py."""

import os

from sktorch.callbacks import Callback


class KillOnce(Callback):
    """Ends its process the first time any member trains (a crash mid-search)."""

    def __init__(self, marker=None):
        self.marker = marker

    def on_train_begin(self, net, **kwargs):
        if self.marker and not os.path.exists(self.marker):
            open(self.marker, "w").close()
            os._exit(1)
