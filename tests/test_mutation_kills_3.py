"""Tests that kill the mutants the third mutation run (MUTATION.md) found surviving.

Each test names the behaviour a user relies on; the mutants it kills are listed in
MUTATION.md under the third run.
"""

import re

import numpy as np
import pytest
import torch

from sktorch.classifier import _check_class_indices

CLASSES = np.array(["a", "b", "c"])


@pytest.mark.parametrize("targets", [
    torch.tensor([0.0, 1.0, 2.0]),
    torch.tensor([2.0, 0.0], dtype=torch.float64),
    torch.tensor([0, 1, 2]),
    torch.tensor([0]),
])
def test_class_indices_from_0_to_n_minus_1_are_accepted(targets):
    _check_class_indices(targets, CLASSES)


@pytest.mark.parametrize("targets", [
    torch.tensor([0.0, 3.0]),   # one past the last class
    torch.tensor([-1.0, 1.0]),  # negative
    torch.tensor([0.5, 1.0]),   # not a whole number
    torch.tensor([0, 3]),
    torch.tensor([-1, 2]),
])
def test_targets_outside_the_class_indices_are_rejected(targets):
    with pytest.raises(ValueError, match="holds class indices 0..2"):
        _check_class_indices(targets, CLASSES)


def test_class_index_message_shows_ten_found_targets_and_the_fix():
    targets = torch.arange(3, 15)  # 12 distinct targets, none a class index of 3 classes
    expected = (
        "The validation Dataset (train_split=predefined_split(...)) holds targets "
        "[3, 4, 5, 6, 7, 8, 9, 10, 11, 12], but a Dataset's y holds class indices 0..2: the "
        "positions of the labels in classes_ ['a', 'b', 'c'], as the loss receives them. "
        "Build it with the encoded labels, e.g. Dataset(X_valid, "
        "np.searchsorted(net.classes_, y_valid)), or validate with "
        "train_split=ValidSplit(...) on the labels."
    )
    with pytest.raises(ValueError, match=re.escape(expected) + "$"):
        _check_class_indices(targets, CLASSES)
