"""Tests that kill the mutants the fifth mutation run (MUTATION.md) found surviving.

Each test names the behaviour a user relies on; the mutants it kills are listed in
MUTATION.md under the fifth run.
"""

import re

import numpy as np
import pytest
from sklearn.exceptions import DataConversionWarning

from sktorch import NeuralNetClassifier
from sktorch.toy import MLPModule

X4 = np.random.RandomState(0).randn(60, 4).astype(np.float32)


# ------------------------------------------------------------ classifier.py
def test_refused_load_says_both_ways_out_and_that_nothing_was_loaded(tmp_path):
    kw = dict(module=MLPModule, module__input_units=4, max_epochs=1, verbose=0, random_state=0)
    NeuralNetClassifier(**kw).fit(X4, np.arange(60) % 2).save_params(f_params=tmp_path / "w.pt")
    other = NeuralNetClassifier(classes=[5, 7], **kw).initialize()
    message = ("The file's weights were trained with classes [0, 1], but this net declares "
               "classes=[5, 7]: loading them would give each output another label. Set "
               "classes=None (the file's classes are then used) or the file's classes. "
               "Nothing was loaded.")
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        other.load_params(f_params=tmp_path / "w.pt")


# ------------------------------------------------------------ _weights.py
def test_a_training_part_without_weight_is_named_with_the_three_ways_out():
    from sktorch import NeuralNetRegressor
    from sktorch.dataset import ValidSplit

    X = np.random.RandomState(0).randn(50, 3).astype(np.float32)
    y = X.sum(axis=1, keepdims=True)
    split = ValidSplit(5, random_state=0)
    train, _ = split.split_indices(50)
    weights = np.ones(50)
    weights[train] = 0.0
    message = ("sample_weight is zero for all 40 samples of the training part of "
               "train_split, so its weighted loss is undefined. Give some of them weight, "
               "validate on other data with train_split=predefined_split(dataset), or pass "
               "train_split=None.")
    net = NeuralNetRegressor(max_epochs=1, verbose=0, random_state=0, train_split=split)
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        net.fit(X, y, sample_weight=weights)


def test_labels_that_cannot_be_sorted_name_their_types():
    y = np.array(["a", None, "b", "a"] * 15, dtype=object)
    net = NeuralNetClassifier(max_epochs=1, verbose=0, random_state=0)
    with pytest.raises(ValueError, match=re.escape(
            "y mixes labels of types ['NoneType', 'str'], which cannot be sorted into "
            "classes_ (missing values such as None or NaN among strings?). Drop or fill the "
            "missing labels first, or make every label a string (e.g. y.astype(str)).")):
        net.fit(X4, y)


def test_the_column_vector_warning_points_at_the_users_fit_call():
    # The warning's location is the line a user has to change, not sktorch's internals.
    y = (np.arange(60) % 2).reshape(-1, 1)
    net = NeuralNetClassifier(max_epochs=1, verbose=0, random_state=0)
    with pytest.warns(DataConversionWarning, match="column-vector y") as record:
        net.fit(X4, y)
    assert [w.filename for w in record if w.category is DataConversionWarning] == [__file__]
