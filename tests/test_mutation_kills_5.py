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
from tests._exact import raises_exactly

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
    with raises_exactly(ValueError, message):
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
    with raises_exactly(ValueError, message):
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
    for method in ("fit", "partial_fit"):
        net = NeuralNetClassifier(max_epochs=1, verbose=0, random_state=0)
        with pytest.warns(DataConversionWarning, match="column-vector y") as record:
            getattr(net, method)(X4, y)
        assert [w.filename for w in record
                if w.category is DataConversionWarning] == [__file__], method


def test_initialize_forgets_the_labels_of_the_previous_fit(tmp_path):
    # A re-initialized net has new weights: the old fit's classes_ must not label them.
    net = NeuralNetClassifier(module=MLPModule, module__input_units=4, module__output_units=3,
                              max_epochs=1, verbose=0, random_state=0)
    net.fit(X4, np.array(list("abc"))[np.arange(60) % 3])
    net.initialize()
    assert not hasattr(net, "classes_")
    np.testing.assert_array_equal(net.predict(X4[:6]), net.predict_proba(X4[:6]).argmax(1))


def test_initialize_after_a_load_without_labels_forgets_that_load(tmp_path):
    import torch

    kw = dict(module=MLPModule, module__input_units=4, module__output_units=3, max_epochs=1,
              verbose=0, random_state=0)
    net = NeuralNetClassifier(**kw).fit(X4, np.arange(60) % 3)
    torch.save(net.module_.state_dict(), tmp_path / "plain.pt")  # records no labels
    net.initialize().load_params(f_params=tmp_path / "plain.pt")
    with pytest.raises(ValueError, match="does not record the labels"):
        net.predict(X4[:2])
    net.initialize()  # a fresh net again: it predicts class indices, as skorch's does
    np.testing.assert_array_equal(net.predict(X4[:6]), net.predict_proba(X4[:6]).argmax(1))


def test_a_fit_on_a_torch_dataset_validates_on_a_predefined_labelled_dataset():
    import torch
    from torch.utils.data import TensorDataset

    from sktorch.dataset import Dataset
    from sktorch.helper import predefined_split

    y = np.arange(60) % 3
    kw = dict(module=MLPModule, module__input_units=4, module__output_units=3,
              module__output_nonlin=torch.nn.Softmax(dim=-1), max_epochs=2, verbose=0,
              random_state=0, train_split=predefined_split(Dataset(X4[:20], y[:20])))
    from_arrays = NeuralNetClassifier(**kw).fit(X4, y)
    from_dataset = NeuralNetClassifier(**kw).fit(
        TensorDataset(torch.tensor(X4), torch.tensor(y)), None)
    assert from_dataset.history[:, "valid_loss"] == pytest.approx(
        from_arrays.history[:, "valid_loss"])


def test_valid_acc_best_marks_each_new_highest_accuracy():
    # lr=0.5 makes the accuracy move both ways; valid_acc_best is True exactly at new highs.
    rng = np.random.RandomState(3)
    X = rng.randn(120, 4).astype(np.float32)
    y = ((X[:, 0] + 0.8 * rng.randn(120)) > 0).astype(int)
    net = NeuralNetClassifier(module=MLPModule, module__input_units=4,
                              module__output_nonlin=__import__("torch").nn.Softmax(dim=-1),
                              lr=0.5, max_epochs=12, verbose=0, random_state=0).fit(X, y)
    acc, best = net.history[:, "valid_acc"], net.history[:, "valid_acc_best"]
    expected = [a > max(acc[:i], default=-1) for i, a in enumerate(acc)]
    assert best == expected
    assert expected.count(True) >= 2 and expected.count(False) >= 2  # both kinds occur


# ------------------------------------------------------------ _data.py
@pytest.mark.parametrize("shuffle", [False, True])
def test_batch_size_one_gives_one_row_per_step(shuffle):
    from sktorch import NeuralNetRegressor

    X = np.random.RandomState(0).randn(7, 3).astype(np.float32)
    net = NeuralNetRegressor(max_epochs=1, batch_size=1, train_split=None, verbose=0,
                             random_state=0, iterator_train__shuffle=shuffle)
    net.fit(X, X[:, :1])
    assert net.history[-1, "batches", :, "train_batch_size"] == [1] * 7


def test_bce_over_class_columns_handles_a_batch_without_the_last_class():
    # With BCEWithLogitsLoss over n_classes columns the targets are one-hot rows of width
    # n_classes, also for a batch where the last class does not occur.
    import torch

    y = np.array([0, 1] * 10 + [2] * 10)  # the first two batches have no class 2
    net = NeuralNetClassifier(module=MLPModule, module__input_units=4, module__output_units=3,
                              criterion=torch.nn.BCEWithLogitsLoss, batch_size=10,
                              train_split=None, iterator_train__shuffle=False, lr=0.0,
                              max_epochs=1, verbose=0, random_state=0)
    net.fit(X4[:30], y)
    logits = net.forward(X4[:10]).detach()
    expected = torch.nn.functional.binary_cross_entropy_with_logits(
        logits, torch.nn.functional.one_hot(torch.as_tensor(y[:10]), 3).float())
    assert net.history[-1, "batches", 0, "train_loss"] == pytest.approx(expected.item(),
                                                                          rel=1e-6)


def test_big_endian_integer_features_stay_integers():
    from sktorch._data import to_tensor

    tensor = to_tensor(np.arange(5, dtype=">i8"))
    assert tensor.dtype == torch_int64() and tensor.tolist() == [0, 1, 2, 3, 4]


def torch_int64():
    import torch

    return torch.int64


def test_a_read_only_array_is_copied_without_a_torch_warning():
    import warnings

    from sktorch._data import to_tensor

    data = np.arange(6, dtype=np.float32)
    data.flags.writeable = False
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # torch warns when it is handed a read-only array
        tensor = to_tensor(data)
    tensor[0] = 100.0
    assert data[0] == 0.0


def test_a_dataset_of_tensors_that_require_grad_gets_no_gradient_from_fit():
    # The data of a fit is not part of a graph: fitting must not write X.grad.
    import torch

    from sktorch import NeuralNetRegressor
    from sktorch.dataset import Dataset

    X = torch.tensor(X4[:, :3], requires_grad=True)
    dataset = Dataset(X, torch.tensor(X4[:, :1]))
    assert not dataset.X.requires_grad
    NeuralNetRegressor(max_epochs=1, verbose=0, random_state=0, train_split=None).fit(
        dataset, None)
    assert X.grad is None


def test_the_finiteness_check_of_a_read_only_array_makes_torch_no_warning():
    # torch warns about a read-only array once per process, so only a fresh process shows
    # it (on the slow list: mutmut's workers are not fresh).
    import subprocess
    import sys
    import textwrap

    code = textwrap.dedent("""
        import numpy as np
        from sktorch._data import all_finite
        data = np.array([[1.0, 2.0], [3.0, np.nan]], dtype=np.float32)
        data.flags.writeable = False
        assert all_finite(data) is False
        assert all_finite(np.nan_to_num(data)) is True
    """)
    run = subprocess.run([sys.executable, "-W", "error::UserWarning", "-c", code],
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]


def test_a_list_holding_one_array_is_a_list_of_arrays_with_its_rows():
    import torch

    from sktorch import NeuralNetRegressor

    class FirstOfList(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.linear = torch.nn.Linear(4, 1)

        def forward(self, X):
            (x,) = X
            return self.linear(x)

    net = NeuralNetRegressor(FirstOfList, max_epochs=1, verbose=0, random_state=0,
                             train_split=None).fit([X4], X4[:, :1])
    np.testing.assert_allclose(net.predict([X4[:5]]),
                               net.module_.linear(torch.as_tensor(X4[:5])).detach().numpy(),
                               rtol=1e-6)


# ------------------------------------------------------------ engine.py
def test_on_batch_begin_receives_each_batch():
    from sktorch import NeuralNetRegressor
    from sktorch.callbacks import Callback

    class Rows(Callback):
        def on_batch_begin(self, net, batch=None, training=None, **kwargs):
            if training:
                net.rows_.append(batch[0].numpy().copy())

    net = NeuralNetRegressor(max_epochs=1, batch_size=16, train_split=None, verbose=0,
                             iterator_train__shuffle=False, callbacks=[Rows()])
    net.rows_ = []
    net.fit(X4, X4[:, :1])
    np.testing.assert_array_equal(np.concatenate(net.rows_), X4)


def test_a_batch_that_is_one_tensor_counts_its_rows():
    # A Dataset whose items are plain tensors gives batches that are one tensor (no y).
    import torch

    from sktorch import NeuralNet

    class Rows(torch.utils.data.Dataset):
        def __len__(self):
            return 60

        def __getitem__(self, i):
            return torch.as_tensor(X4[i])

    class AutoEncoder(NeuralNet):
        def get_loss(self, y_pred, y_true, X=None, training=False):
            return torch.nn.functional.mse_loss(y_pred, X)

    net = AutoEncoder(torch.nn.Linear(4, 4), criterion=torch.nn.MSELoss, max_epochs=1,
                      batch_size=16, train_split=None, verbose=0)
    net.fit(Rows(), None)
    assert net.history[-1, "batches", :, "train_batch_size"] == [16, 16, 16, 12]


def test_partial_fit_on_a_trimmed_net_says_what_it_cannot_do_and_the_way_out():
    from sktorch import NeuralNetRegressor

    net = NeuralNetRegressor(max_epochs=1, verbose=0, random_state=0).fit(X4, X4[:, :1])
    net.trim_for_prediction()
    message = ("This net was trimmed with trim_for_prediction(), which dropped its "
               "optimizer, callbacks and history, so it cannot partial_fit. Call fit() to "
               "train anew (it rebuilds them), or keep an untrimmed copy to continue "
               "training (e.g. copy.deepcopy(net) before trimming).")
    with raises_exactly(ValueError, message):
        net.partial_fit(X4, X4[:, :1])


# ------------------------------------------------------------ callbacks/scoring.py
def test_a_loaded_history_keeps_its_best_score_for_the_next_epochs(tmp_path):
    from sktorch import NeuralNetRegressor

    kw = dict(module__hidden_units=8, verbose=0, random_state=0)
    net = NeuralNetRegressor(max_epochs=5, lr=0.05, **kw).fit(X4, X4[:, :1])
    assert any(net.history[:, "valid_loss_best"])
    net.save_params(f_params=tmp_path / "w.pt", f_history=tmp_path / "h.json")
    again = NeuralNetRegressor(max_epochs=1, lr=0.0, **kw).initialize_like(net)
    again.load_params(f_params=tmp_path / "w.pt", f_history=tmp_path / "h.json")
    again.partial_fit(X4, X4[:, :1])  # lr=0: no better than the best of the loaded epochs
    assert again.history[-1, "valid_loss"] >= min(net.history[:, "valid_loss"])
    assert again.history[-1, "valid_loss_best"] is False
