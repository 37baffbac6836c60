"""Sharp edges left by earlier sessions: each test fails without its fix."""

from __future__ import annotations

import subprocess
import sys


def test_import_sktorch_leaves_sklearn_model_selection_unimported():
    # sklearn.model_selection (and the search classes) are slow to import and a
    # plain fit never needs them; they load on first use.
    code = (
        "import sys, sktorch\n"
        "assert 'sklearn.model_selection' not in sys.modules, 'imported eagerly'\n"
        "from sktorch.model_selection import GridSearchCV\n"
        "assert GridSearchCV.__module__ == 'sktorch.model_selection._search'\n"
        "from sktorch.dataset import ValidSplit\n"
        "import numpy as np\n"
        "train, valid = ValidSplit(4).split_indices(8)\n"
        "assert len(valid) == 2\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
