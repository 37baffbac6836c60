"""skorch parity of the data layer: Dataset subclasses, lists of arrays, saved classes.

Each test is a skorch user's script whose results sktorch used to get silently wrong
(or refused): a Dataset subclass's ``transform``/``__getitem__`` bypassed by tensor
slicing, a list of arrays as X, a safetensors file without the labels,
``torch_load_kwargs``.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
import torch
from torch import nn

from sktorch import NeuralNetClassifier
from sktorch._data import TensorBatches, is_array_list
from sktorch.callbacks import Callback, EpochScoring
from sktorch.dataset import Dataset

X = np.random.RandomState(0).randn(200, 4).astype("float32")
y = (X[:, 0] > 0).astype("int64")


def _module():
    return nn.Sequential(nn.Linear(4, 2), nn.Softmax(-1))


class _Batches(Callback):
    """Records the X of every batch, split by training and validation."""

    def on_train_begin(self, net, **kwargs):
        net.train_X, net.valid_X = [], []

    def on_batch_begin(self, net, batch=None, training=None, **kwargs):
        (net.train_X if training else net.valid_X).append(batch[0])


class Sevens(Dataset):
    """skorch's documented hook: transform(X, y) changes each row."""

    def transform(self, X, y):
        X, y = super().transform(X, y)
        return torch.full_like(X, 7.0), y


class SevensByRow(Dataset):
    def __getitem__(self, i):
        Xi, yi = super().__getitem__(i)[:2]
        return torch.full_like(Xi, 7.0), yi


def _net(**kwargs):
    return NeuralNetClassifier(_module(), max_epochs=2, verbose=0, random_state=0,
                               callbacks=[_Batches()], **kwargs)


# ------------------------------------------------ item 1: Dataset subclasses


@pytest.mark.parametrize("cls", [Sevens, SevensByRow])
def test_dataset_class_changes_every_training_and_validation_batch(cls):
    net = _net(dataset=cls).fit(X, y)
    # ValidSplit(5): 160 training rows in 2 batches (128 + 32) per epoch, 40 validation
    assert [len(b) for b in net.train_X] == [128, 32, 128, 32]
    assert [len(b) for b in net.valid_X] == [40, 40]
    assert all(bool((b == 7).all()) for b in net.train_X + net.valid_X)
    # every prediction comes from the transformed rows: one row's output for all rows
    proba = net.predict_proba(X)
    assert np.allclose(proba, proba[0])


@pytest.mark.parametrize("cls", [Sevens, SevensByRow])
def test_dataset_instance_as_X_changes_every_batch(cls):
    net = _net(train_split=None).fit(cls(X, y), None)
    assert sum(len(b) for b in net.train_X) == 400
    assert all(bool((b == 7).all()) for b in net.train_X)
    proba = net.predict_proba(cls(X))
    assert np.allclose(proba, proba[0])


def test_validation_score_predicts_through_the_subclass():
    # The validation Dataset (part of the X given) is predicted through its rows, all
    # 7s: one class c is predicted for all 40 of them, and the score is c's count there
    # (stratified: a fifth of c's rows, rounded either way) over 40.
    acc = EpochScoring("accuracy", name="acc", lower_is_better=False, use_caching=False)
    net = NeuralNetClassifier(_module(), max_epochs=2, verbose=0, random_state=0,
                              callbacks=[acc]).fit(Sevens(X, y), y)
    c = net.predict(Sevens(X[:1]))[0]
    n_c = int((y == c).sum())
    for key in ("valid_acc", "acc"):  # the first from cached outputs, the other predicts
        assert net.history[-1, key] in (n_c // 5 / 40, -(-n_c // 5) / 40)


def test_transform_with_iterator_options_also_runs():
    net = _net(dataset=Sevens, iterator_train__num_workers=0,
               iterator_valid__num_workers=0).fit(X, y)
    assert all(bool((b == 7).all()) for b in net.train_X + net.valid_X)


def test_default_transform_densifies_a_sparse_row_and_fills_missing_y():
    ds = Dataset(sp.csr_matrix(np.array([[0.0, 2.0], [3.0, 0.0]], dtype=np.float32)))
    Xi, yi = ds[1]
    assert Xi.tolist() == [3.0, 0.0]
    assert yi.item() == 0
    assert Dataset(X, y)[5][1].item() == y[5]


def test_plain_dataset_keeps_the_slicing_fast_path():
    net = NeuralNetClassifier(_module(), verbose=0).initialize()
    assert isinstance(net.get_iterator(Dataset(X, y), training=True), TensorBatches)
    assert not isinstance(net.get_iterator(Sevens(X, y), training=True), TensorBatches)
    assert not isinstance(net.get_iterator(SevensByRow(X, y), training=True), TensorBatches)


# ------------------------------------------------ item 10: a list of arrays as X

IDX = np.arange(200) % 3


class TwoInputs(nn.Module):
    """forward(x) with x = [features, category ids], as in skorch's docs."""

    def __init__(self):
        super().__init__()
        self.dense = nn.Linear(4, 2)
        self.embed = nn.Embedding(3, 2)

    def forward(self, x):
        features, ids = x
        return torch.softmax(self.dense(features) + self.embed(ids), -1)


class _Rows(Callback):
    """Checks that the arrays of each batch hold the same rows (ids = row % 3)."""

    def on_train_begin(self, net, **kwargs):
        net.rows = {True: [], False: []}

    def on_batch_begin(self, net, batch=None, training=None, **kwargs):
        features, ids = batch[0]
        assert type(batch[0]) is net.kind and ids.dtype == torch.int64
        rows = features[:, 3].round().long()  # the row number, stored in column 3
        assert torch.equal(rows % 3, ids)
        net.rows[training].append(rows)


def _numbered():
    data = X.copy()
    data[:, 3] = np.arange(200)
    return data


@pytest.mark.parametrize("kind", [list, tuple])
def test_list_of_arrays_trains_validates_and_predicts_row_aligned(kind):
    data = kind([_numbered(), IDX])
    net = NeuralNetClassifier(TwoInputs, max_epochs=2, verbose=0, random_state=0,
                              callbacks=[_Rows()])
    net.kind = kind
    net.fit(data, y)
    train = torch.cat(net.rows[True][:2])  # epoch 1: 160 training rows
    valid = net.rows[False][0]  # ValidSplit(5): 40 validation rows, the others
    assert len(train) == 160 and len(valid) == 40
    assert sorted(torch.cat([train, valid]).tolist()) == list(range(200))
    proba = net.predict_proba(data)
    # the same as calling the module on the whole arrays
    with torch.no_grad():
        expected = net.module_([torch.from_numpy(_numbered()), torch.from_numpy(IDX)])
    assert np.allclose(proba, expected.numpy(), atol=1e-6)
    assert (net.predict(data) == proba.argmax(1)).all()
    assert net.score(data, y) == np.mean(net.predict(data) == y)


def test_list_of_arrays_through_a_dataloader_matches_slicing():
    kwargs = dict(max_epochs=2, verbose=0, random_state=0, iterator_train__shuffle=False)
    sliced = NeuralNetClassifier(TwoInputs, **kwargs).fit([X, IDX], y)
    loaded = NeuralNetClassifier(TwoInputs, iterator_train__num_workers=0,
                                 iterator_valid__num_workers=0, **kwargs).fit([X, IDX], y)
    assert np.allclose(sliced.predict_proba([X, IDX]), loaded.predict_proba([X, IDX]))
    assert np.isclose(sliced.history[-1, "valid_loss"], loaded.history[-1, "valid_loss"])


def test_dataset_of_a_list_of_arrays():
    ds = Dataset([X, IDX], y)
    assert len(ds) == 200
    (features, ids), target = ds[7]
    assert torch.equal(features, torch.from_numpy(X[7])) and ids.item() == 7 % 3
    assert target.item() == y[7]
    part = ds.subset(np.array([5, 2]))
    assert part.X[1].tolist() == [5 % 3, 2 % 3] and len(part) == 2


def test_list_of_arrays_with_different_lengths_is_refused():
    net = NeuralNetClassifier(TwoInputs, max_epochs=1, verbose=0)
    with pytest.raises(ValueError, match=r"different lengths: \{0: 200, 1: 100\}"):
        net.fit([X, IDX[:100]], y)


def test_dataset_of_arrays_with_different_lengths_is_refused():
    with pytest.raises(ValueError, match=r"list X have different lengths: \[200, 100\]"):
        Dataset([X, IDX[:100]])


def test_list_of_arrays_with_the_builtin_mlp_says_what_to_write():
    with pytest.raises(TypeError, match=r"X is a list of 2 arrays.*np\.hstack"):
        NeuralNetClassifier(max_epochs=1, verbose=0).fit([X, X], y)


def test_which_lists_are_lists_of_arrays():
    assert is_array_list([X, IDX]) and is_array_list((IDX, X))
    assert is_array_list([torch.from_numpy(X)])
    # rows of one array, as scikit-learn reads them
    assert not is_array_list([IDX, IDX])
    assert not is_array_list([[1.0, 2.0], [3.0, 4.0]])
    assert not is_array_list([])
    assert not is_array_list(X)
    assert not is_array_list([X, 3.0])


def test_a_list_of_rows_is_still_one_array():
    rows = [list(map(float, row)) for row in X]
    net = NeuralNetClassifier(_module(), max_epochs=1, verbose=0, random_state=0).fit(rows, y)
    assert net.n_features_in_ == 4 and net.predict(rows).shape == (200,)


def test_list_of_arrays_in_float64():
    net = NeuralNetClassifier(TwoInputs, max_epochs=1, verbose=0, random_state=0,
                              precision="64").fit([X, IDX], y)
    assert net.predict_proba([X, IDX]).dtype == np.float64
    assert net.module_.dense.weight.dtype == torch.float64


# ------------------------------------------------ item 9: safetensors keep the labels

LABELS = np.array(["cat", "dog"])[y]


def _fitted_labels():
    return NeuralNetClassifier(_module(), max_epochs=2, verbose=0, random_state=0).fit(
        X, LABELS)


def test_safetensors_weights_restore_a_classifier_that_predicts_labels(tmp_path):
    pytest.importorskip("safetensors")
    fitted = _fitted_labels()
    path = tmp_path / "params.safetensors"
    fitted.save_params(f_params=path, use_safetensors=True)
    restored = NeuralNetClassifier(_module()).initialize()
    restored.load_params(f_params=path, use_safetensors=True)
    assert restored.classes_.tolist() == ["cat", "dog"]
    assert (restored.predict(X) == fitted.predict(X)).all()
    assert set(restored.predict(X)) == {"cat", "dog"}


def test_safetensors_weights_of_other_labels_are_refused(tmp_path):
    pytest.importorskip("safetensors")
    path = tmp_path / "params.safetensors"
    _fitted_labels().save_params(f_params=path, use_safetensors=True)
    net = NeuralNetClassifier(_module(), classes=["ant", "bee"]).initialize()
    before = net.module_[0].weight.detach().clone()
    with pytest.raises(ValueError, match=r"trained with classes \['cat', 'dog'\]"):
        net.load_params(f_params=path, use_safetensors=True)
    assert torch.equal(net.module_[0].weight, before)


def test_safetensors_file_without_labels_keeps_the_clear_error(tmp_path):
    safetensors = pytest.importorskip("safetensors.torch")
    fitted = _fitted_labels()
    path = tmp_path / "plain.safetensors"
    safetensors.save_file(fitted.module_.state_dict(), str(path))
    restored = NeuralNetClassifier(_module()).initialize()
    restored.load_params(f_params=path, use_safetensors=True)
    assert np.allclose(restored.predict_proba(X), fitted.predict_proba(X))
    with pytest.raises(ValueError, match=r"does not record the labels \(classes_\)"):
        restored.predict(X)


# ------------------------------------------------ item 12: torch_load_kwargs


class Note:
    """An object torch.load(weights_only=True) refuses to unpickle."""


def _file_with_an_object(net, path):
    state = net.module_.state_dict()
    state._metadata[""]["note"] = Note()  # e.g. written by another tool
    torch.save(state, path)


def test_torch_load_kwargs_reach_torch_load(tmp_path):
    fitted = _fitted_labels()
    path = tmp_path / "params.pt"
    _file_with_an_object(fitted, path)
    refused = NeuralNetClassifier(_module()).initialize()
    with pytest.raises(Exception, match=r"torch_load_kwargs=\{'weights_only': False\}"):
        refused.load_params(f_params=path)
    trusted = NeuralNetClassifier(_module(), torch_load_kwargs={"weights_only": False})
    trusted.initialize().load_params(f_params=path)
    assert np.allclose(trusted.predict_proba(X), fitted.predict_proba(X))


def test_torch_load_kwargs_is_a_parameter():
    from sklearn.base import clone

    assert NeuralNetClassifier(_module()).get_params()["torch_load_kwargs"] is None
    net = NeuralNetClassifier(_module(), torch_load_kwargs={"weights_only": False})
    assert clone(net).torch_load_kwargs == {"weights_only": False}
    with pytest.raises(ValueError, match="torch_load_kwargs.*None or a dict"):
        NeuralNetClassifier(_module(), torch_load_kwargs="unsafe").initialize()


# ------------------------------------------------ items 11, 13c: documented differences

MIGRATION = (__import__("pathlib").Path(__file__).parents[1] / "docs" / "MIGRATION.md")


def _training_rows(**kwargs):
    data = _numbered()
    net = NeuralNetClassifier(_module(), max_epochs=1, verbose=0, random_state=0,
                              train_split=None, callbacks=[_Batches()], **kwargs).fit(data, y)
    return torch.cat(net.train_X)[:, 3].round().long().tolist()


def test_training_batches_are_shuffled_unless_told_as_migration_says():
    assert _training_rows(iterator_train__shuffle=False) == list(range(200))  # skorch's
    shuffled = _training_rows()
    assert shuffled != list(range(200)) and sorted(shuffled) == list(range(200))
    assert shuffled == _training_rows()  # drawn from random_state


def test_binary_predict_returns_labels_of_y_dtype_as_migration_says():
    from sktorch import NeuralNetBinaryClassifier

    for target in (y, y.astype(bool)):
        net = NeuralNetBinaryClassifier(nn.Linear(4, 1), max_epochs=1, verbose=0,
                                        random_state=0).fit(X, target)
        predicted = net.predict(X)
        assert predicted.dtype == target.dtype
        assert set(predicted.tolist()) <= set(target.tolist())


def test_migration_page_lists_the_shuffle_default_and_the_binary_predict_dtype():
    text = MIGRATION.read_text()
    assert "Training batches are shuffled by default" in text
    assert "`iterator_train__shuffle=False` for skorch's order" in text
    assert "skorch needs `iterator_train__shuffle=False`" not in text
    assert "`NeuralNetBinaryClassifier.predict` returns labels of `y`'s dtype" in text
