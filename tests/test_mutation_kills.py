"""Behaviours that mutation testing (``make mutation``, MUTATION.md) found unchecked.

Each test states what a user or a caller relies on; together they kill the mutants
that survived the rest of the suite in the data layer, the weights, the classifiers
and the training callbacks.
"""

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
import torch
from torch import nn

from sktorch import (
    NeuralNetBinaryClassifier,
    NeuralNetClassifier,
    NeuralNetRegressor,
    _data,
    _weights,
)
from sktorch._data import (
    TensorBatches,
    all_finite,
    is_dataframe,
    move,
    n_rows,
    take,
    to_features,
    to_tensor,
)
from sktorch.dataset import Dataset

RNG = np.random.RandomState(0)


# ---------------------------------------------------------------- _data: conversion
def test_is_dataframe_only_for_dataframes():
    assert is_dataframe(pd.DataFrame({"a": [1.0]}))
    assert not is_dataframe(pd.Series([1.0]))
    assert not is_dataframe(np.zeros((2, 2)))


@pytest.mark.parametrize("values, finite", [
    ([1.0, 2.0], True), ([1.0, np.nan], False), ([np.inf, 1.0], False),
    ([3e38, 3e38], True),  # the sum overflows, the values are finite
    ([3e38, 3e38, np.nan], False),
])
@pytest.mark.parametrize("kind", ["numpy", "tensor", "readonly", "strided"])
def test_all_finite(values, finite, kind):
    arr = np.array(values, dtype=np.float32)
    if kind == "tensor":
        arr = torch.from_numpy(arr)
    elif kind == "readonly":
        arr.flags.writeable = False
    elif kind == "strided":
        arr = np.repeat(arr, 2)[::-2]  # negative strides: torch cannot share it
    assert all_finite(arr) is finite


def test_all_finite_integers_and_complex():
    assert all_finite(np.array([1, 2], dtype=np.int64)) is True
    assert all_finite(torch.tensor([1, 2])) is True
    assert all_finite(np.array([1 + 1j, np.nan], dtype=complex)) is False
    assert all_finite(torch.tensor([1 + 1j, complex("nan")])) is False
    assert all_finite(torch.tensor([1 + 1j])) is True


def test_to_tensor_dtypes():
    assert to_tensor(np.zeros(2, dtype=np.float64)).dtype == torch.float32
    assert to_tensor(np.array([True, False])).tolist() == [1.0, 0.0]
    assert to_tensor(np.array([True])).dtype == torch.float32
    assert to_tensor([1, 2]).dtype == torch.int64
    assert to_tensor(torch.zeros(2, dtype=torch.float64)).dtype == torch.float32
    same = torch.zeros(2)
    assert to_tensor(same) is same  # float32 tensors are used as they are
    assert to_tensor(np.array(["1.5", "2"], dtype=object)).tolist() == [1.5, 2.0]
    arr = np.arange(6, dtype=np.float32).reshape(2, 3)[:, ::2]  # not contiguous
    assert to_tensor(arr).tolist() == [[0.0, 2.0], [3.0, 5.0]]


def test_to_tensor_rejects_complex_and_text_naming_the_input():
    with pytest.raises(ValueError, match=r"^y contains complex numbers, which sktorch does "
                                         r"not support; pass the real and imaginary parts"):
        to_tensor(np.array([1 + 1j]), "y")
    with pytest.raises(ValueError, match=r"^X contains complex numbers"):
        to_tensor(torch.tensor([1 + 1j]), "X")
    with pytest.raises(ValueError, match=r"^X has dtype <U3 with values that cannot be "
                                         r"converted to numbers \(.*\); encode text"):
        to_tensor(np.array(["abc"]), "X")
    with pytest.raises(ValueError, match=r"^data contains complex"):
        to_tensor(np.array([1j]))


def test_to_features_for_each_input_type():
    dataset = Dataset(np.zeros((2, 1)))
    assert to_features(dataset) is dataset
    features = to_features({"a": np.zeros((2, 1)), "b": [[1], [2]]})
    assert features["a"].dtype == torch.float32 and features["b"].tolist() == [[1], [2]]
    coo = sp.coo_matrix(np.eye(3))
    csr = to_features(coo)
    assert sp.isspmatrix_csr(csr) and csr.dtype == np.float32
    assert to_features(sp.csr_matrix(np.eye(2, dtype=np.int64))).dtype == np.int64
    frame = pd.DataFrame({"a": [1, 2], "b": [True, False]})
    assert to_features(frame).tolist() == [[1.0, 1.0], [2.0, 0.0]]
    assert to_features(frame).dtype == torch.float32


def test_dataframe_with_text_columns_names_them():
    frame = pd.DataFrame({"a": [1.0], "city": ["Oslo"], 3: ["x"]})
    with pytest.raises(ValueError, match=r"^X has non-numeric DataFrame columns \['city', "
                                         r"'3'\]; encode them as numbers \(e.g. with "
                                         r"sklearn.preprocessing.OneHotEncoder"):
        to_features(frame)


def test_n_rows():
    assert n_rows(torch.zeros(5, 2)) == 5
    assert n_rows([1, 2, 3]) == 3
    assert n_rows({"a": torch.zeros(4), "b": torch.zeros(4, 2)}) == 4
    assert n_rows({}) == 0
    with pytest.raises(ValueError, match=r"^The arrays in the dict X have different "
                                         r"lengths: \{'a': 4, 'b': 3\}\.$"):
        n_rows({"a": torch.zeros(4), "b": torch.zeros(3)})


def test_take_rows_of_each_type():
    dense = torch.arange(6).reshape(3, 2)
    assert take(None, slice(0, 1)) is None
    assert take(dense, torch.tensor([2, 0])).tolist() == [[4, 5], [0, 1]]
    assert take({"a": dense}, slice(1, 2))["a"].tolist() == [[2, 3]]
    sparse = sp.csr_matrix(np.arange(6, dtype=np.float32).reshape(3, 2))
    rows = take(sparse, torch.tensor([2, 0]))
    assert isinstance(rows, torch.Tensor) and rows.tolist() == [[4.0, 5.0], [0.0, 1.0]]
    assert take(sparse, slice(1, 3)).tolist() == [[2.0, 3.0], [4.0, 5.0]]


def test_move_keeps_containers_and_other_values():
    t = torch.zeros(1)
    assert move(t, None) is t
    assert move("text", "cpu") == "text"
    moved = move({"a": t, "b": [t, (t, 1)]}, "meta")
    assert moved["a"].device.type == "meta"
    assert isinstance(moved["b"], list) and isinstance(moved["b"][1], tuple)
    assert moved["b"][0].device.type == "meta" and moved["b"][1][1] == 1
    assert move(t, "meta").device.type == "meta"


# ---------------------------------------------------------------- _data: batches
@pytest.mark.parametrize("n, batch_size, sizes", [
    (0, 4, []), (0, -1, []), (1, 4, [1]), (8, 4, [4, 4]), (9, 4, [4, 4, 1]), (9, -1, [9]),
    (3, 10, [3]),
])
@pytest.mark.parametrize("shuffle", [False, True])
def test_tensor_batches_sizes_and_len(n, batch_size, sizes, shuffle):
    X = torch.arange(n, dtype=torch.float32).reshape(n, 1)
    batches = TensorBatches((X, None), batch_size, shuffle=shuffle,
                            generator=torch.Generator().manual_seed(0))
    out = list(batches)
    assert [len(b[0]) for b in out] == sizes
    assert len(batches) == len(sizes)
    assert all(b[1] is None for b in out)
    rows = [int(v) for b in out for v in b[0][:, 0]]
    assert sorted(rows) == list(range(n))
    if not shuffle:
        assert rows == list(range(n))


def test_tensor_batches_gather_in_chunks_of_whole_batches(monkeypatch):
    """Rows are gathered in chunks of whole batches: each batch a view of its chunk."""
    monkeypatch.setattr(_data, "_CHUNK_BYTES", 96)  # 2 batches of 2 rows of 16 + 8 bytes
    X = torch.arange(40, dtype=torch.float32).reshape(10, 4)
    y = torch.arange(10)
    batches = TensorBatches((X, y), 2, shuffle=True, generator=torch.Generator().manual_seed(1))
    expected = torch.randperm(10, generator=torch.Generator().manual_seed(1))
    out = list(batches)
    assert [len(b[0]) for b in out] == [2] * 5
    assert torch.cat([b[1] for b in out]).tolist() == expected.tolist()
    assert all(torch.equal(b[0][:, 0] / 4, b[1].float()) for b in out)  # rows stay paired
    bases = [b[0].untyped_storage().data_ptr() for b in out]
    assert bases[0] == bases[1] != bases[2] == bases[3] != bases[4]  # chunks of 2 batches


def test_row_bytes_of_each_type():
    assert _data._row_bytes(None) == 0
    assert _data._row_bytes(torch.zeros(5, 3)) == 12
    assert _data._row_bytes(torch.zeros(5, 3, dtype=torch.float64)) == 24
    assert _data._row_bytes(torch.tensor(1.0)) == 0  # a 0-d tensor has no rows
    assert _data._row_bytes({"a": torch.zeros(5, 2), "b": torch.zeros(5, dtype=torch.int8)}) == 9


def test_tensor_batches_of_a_dict_and_sparse_rows():
    X = {"a": torch.arange(6).reshape(3, 2), "b": torch.arange(3)}
    batches = list(TensorBatches((X, torch.arange(3)), 2))
    assert [b[0]["a"].tolist() for b in batches] == [[[0, 1], [2, 3]], [[4, 5]]]
    assert [b[0]["b"].tolist() for b in batches] == [[0, 1], [2]]
    sparse = sp.csr_matrix(np.arange(6, dtype=np.float32).reshape(3, 2))
    for shuffle in (False, True):
        tb = TensorBatches((sparse, torch.arange(3)), 2, shuffle=shuffle, sparse_device="meta",
                           generator=torch.Generator().manual_seed(0))
        out = list(tb)
        assert [b[0].shape for b in out] == [(2, 2), (1, 2)]
        assert all(b[0].device.type == "meta" and b[1].device.type == "meta" for b in out)
    dense = list(TensorBatches((sparse, torch.arange(3)), 3))[0]
    assert dense[0].tolist() == [[0.0, 1.0], [2.0, 3.0], [4.0, 5.0]]


# ------------------------------------------------------------------------ _weights
def test_check_class_weight_accepts_only_none_balanced_or_a_dict():
    assert _weights.check_class_weight(None)
    assert _weights.check_class_weight("balanced")
    assert _weights.check_class_weight({0: 2.0})
    assert not _weights.check_class_weight("balance")
    assert not _weights.check_class_weight([1.0, 2.0])


class _Net:
    """What fit_weights reads from a net."""

    def __init__(self, class_weight=None, precision="32", device="cpu"):
        self.class_weight, self.precision, self.device = class_weight, precision, device


def test_fit_weights_values_dtype_and_device():
    assert _weights.fit_weights(_Net(), None, [0, 1], 2) is None
    w = _weights.fit_weights(_Net(), 2, [0, 1, 1], 3)
    assert w.tolist() == [2.0, 2.0, 2.0] and w.dtype == torch.float32
    w = _weights.fit_weights(_Net(precision="64"), torch.tensor([1.0, 3.0]), None, 2)
    assert w.tolist() == [1.0, 3.0] and w.dtype == torch.float64
    assert _weights.fit_weights(_Net(device="meta"), [1, 2], None, 2).device.type == "meta"
    assert _weights.fit_weights(_Net(device=None), [1, 2], None, 2).device.type == "cpu"
    w = _weights.fit_weights(_Net("balanced"), None, np.array([0, 0, 0, 1]), 4)
    assert w.tolist() == pytest.approx([4 / 6, 4 / 6, 4 / 6, 2.0])
    w = _weights.fit_weights(_Net({1: 3.0}), [1, 2, 1], torch.tensor([[0], [1], [1]]), 3)
    assert w.tolist() == [1.0, 6.0, 3.0]  # sample_weight x class_weight; y as a column


def test_fit_weights_errors_say_what_to_pass():
    with pytest.raises(ValueError, match=r"^class_weight needs y; pass the class labels"):
        _weights.fit_weights(_Net("balanced"), None, None, 2)
    with pytest.raises(ValueError, match=r"^All sample weights are zero; at least one"):
        _weights.fit_weights(_Net(), [0, 0], None, 2)
    with pytest.raises(ValueError, match=r"^sample_weight must have shape \(3,\), one weight "
                                         r"per row of X; got shape \(2,\)\.$"):
        _weights.fit_weights(_Net(), [1, 1], None, 3)
    with pytest.raises(ValueError, match=r"shape \(3,\).*got shape \(3, 1\)"):
        _weights.fit_weights(_Net(), np.ones((3, 1)), None, 3)
    with pytest.raises(ValueError, match=r"^sample_weight contains negative values; weights "
                                         r"must be >= 0\.$"):
        _weights.fit_weights(_Net(), [1, -1], None, 2)
    with pytest.raises(TypeError, match="at least 1 dimension"):
        _weights.fit_weights(_Net(), True, None, 2)  # a bool is not a weight for every row


class _LossNet:
    def __init__(self, criterion):
        self.criterion_ = criterion
        self.seen = []

    def get_loss(self, y_pred, y_true, X=None, training=False):
        self.seen.append((self.criterion_.reduction, training, X))
        return self.criterion_(y_pred, y_true)


def test_weighted_loss_is_the_weighted_mean_of_per_sample_losses():
    net = _LossNet(nn.MSELoss())
    y_pred = torch.tensor([[1.0, 3.0], [2.0, 2.0], [0.0, 0.0]])
    y_true = torch.zeros(3, 2)
    weights = torch.tensor([1.0, 2.0, 0.0])
    loss = _weights.weighted_loss(net, y_pred, y_true, "X", weights, True)
    # per-sample losses (mean over columns): 5, 4, 0 -> (1*5 + 2*4) / 3
    assert loss.item() == pytest.approx(13 / 3)
    assert net.seen == [("none", True, "X")]
    assert net.criterion_.reduction == "mean"  # restored after the call
    zero = _weights.weighted_loss(net, y_pred, y_true, None, torch.zeros(3), False)
    assert zero.item() == 0.0 and net.seen[-1][1] is False


def test_weighted_loss_in_float64_and_errors():
    net = _LossNet(nn.MSELoss())
    loss = _weights.weighted_loss(net, torch.ones(2, dtype=torch.float64),
                                  torch.zeros(2, dtype=torch.float64), None,
                                  torch.tensor([1.0, 1.0]), True)
    assert loss.dtype == torch.float64 and loss.item() == 1.0
    with pytest.raises(TypeError, match=r"^sample_weight needs a criterion with a 'reduction' "
                                        r"attribute .*; function has none\. Weight the loss"):
        _weights.weighted_loss(_LossNet(lambda a, b: a), torch.ones(2), torch.ones(2), None,
                               torch.ones(2), True)
    summed = _LossNet(nn.MSELoss(reduction="sum"))

    def scalar_loss(y_pred, y_true, X=None, training=False):
        return torch.tensor(1.0)

    summed.get_loss = scalar_loss
    with pytest.raises(ValueError, match=r"^sample_weight needs one loss per sample, but "
                                         r"get_loss returned shape \(\) for a batch of 2 with "
                                         r"reduction='none'\.$"):
        _weights.weighted_loss(summed, torch.ones(2), torch.ones(2), None, torch.ones(2), True)
    assert summed.criterion_.reduction == "sum"


# ---------------------------------------------------------------------- classifier
X4 = RNG.randn(40, 4).astype(np.float32)
Y4 = (X4[:, 0] > 0).astype(np.int64)


def quiet(make, **kwargs):
    return make(**{"max_epochs": 2, "verbose": 0, "random_state": 0, "train_split": None,
                   **kwargs})


def test_classifier_y_shapes_and_the_column_vector_warning():
    from sklearn.exceptions import DataConversionWarning

    with pytest.warns(DataConversionWarning, match=r"^A column-vector y was passed when a 1d "
                                                   r"array was expected; it is used as "
                                                   r"y\.ravel\(\)\. Pass y of shape"):
        net = quiet(NeuralNetClassifier).fit(X4, Y4.reshape(-1, 1))
    assert net.predict(X4).shape == (40,)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a (n, 1) tensor is the torch idiom: no warning
        quiet(NeuralNetClassifier).fit(torch.tensor(X4), torch.tensor(Y4).reshape(-1, 1))
    with pytest.raises(ValueError, match=r"^NeuralNetClassifier expects y of shape "
                                         r"\(n_samples,\) or \(n_samples, 1\); got shape "
                                         r"\(40, 2\)\. Multi-output targets need NeuralNet"):
        quiet(NeuralNetClassifier).fit(X4, np.c_[Y4, Y4])


def test_classifier_label_errors_say_what_to_pass():
    with pytest.raises(ValueError, match=r"^NeuralNetBinaryClassifier needs samples of at "
                                         r"least 2 classes, but y has only one class \[1\]; "
                                         r"pass classes=\[\.\.\.\] if the other classes"):
        quiet(NeuralNetBinaryClassifier).fit(X4, np.ones(40, dtype=np.int64))
    net = quiet(NeuralNetClassifier).fit(X4, Y4)
    with pytest.raises(ValueError, match=r"^y has labels \[2, 3\] that are not among the "
                                         r"classes \[0, 1\] this net was fitted with; pass "
                                         r"classes=\[\.\.\.\] with all labels, or fit from"):
        net.partial_fit(X4, np.r_[Y4[:-2], 2, 3])
    with pytest.raises(ValueError, match=r"^Only binary classification is supported: y has 3 "
                                         r"classes \[0, 1, 2\]; use NeuralNetClassifier"):
        quiet(NeuralNetBinaryClassifier).fit(X4, np.arange(40) % 3)


def test_refit_learns_new_classes_and_classes_param_wins():
    net = quiet(NeuralNetClassifier).fit(X4, Y4)
    net.fit(X4, np.where(Y4 == 1, "b", "a"))
    assert net.classes_.tolist() == ["a", "b"]
    net = quiet(NeuralNetClassifier, classes=[0, 1, 2]).fit(X4, Y4)
    assert net.classes_.tolist() == [0, 1, 2] and net.predict_proba(X4).shape == (40, 3)
    assert net.module_.output_units == 3


def test_default_module_outputs_probabilities_only_for_nll_loss():
    net = quiet(NeuralNetClassifier).fit(X4, Y4)
    np.testing.assert_allclose(net.forward(X4).sum(dim=1).numpy(), 1.0, rtol=1e-5)
    for criterion in (nn.CrossEntropyLoss, nn.BCEWithLogitsLoss):
        net = quiet(NeuralNetClassifier, criterion=criterion).fit(X4, Y4)
        out = net.forward(X4)
        assert out.shape[1] == (1 if criterion is nn.BCEWithLogitsLoss else 2)
        assert (out < 0).any()  # logits, not probabilities
        proba = net.predict_proba(X4)
        assert proba.shape == (40, 2)
        np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-5)


def test_classifier_losses_for_each_criterion():
    net = quiet(NeuralNetClassifier).fit(X4, Y4)
    y = torch.tensor([1, 1, 0])
    single = torch.tensor([0.0, 1.0, 0.25])  # P(class 1), one output per sample
    expected = -(np.log(1e-7) + np.log(1.0) + np.log(0.75)) / 3  # probability 0 is clamped
    assert net.get_loss(single, y).item() == pytest.approx(expected, rel=1e-5)
    assert net.get_loss(single.reshape(-1, 1), y).item() == pytest.approx(expected, rel=1e-5)
    probs = torch.tensor([[0.5, 0.5], [0.1, 0.9], [0.8, 0.2]])
    assert net.get_loss(probs, y).item() == pytest.approx(
        -(np.log(0.5) + np.log(0.9) + np.log(0.8)) / 3, rel=1e-5)
    logits = torch.tensor([[0.0, 2.0], [1.0, -1.0], [0.5, 0.5]])
    bce = quiet(NeuralNetClassifier, criterion=nn.BCEWithLogitsLoss).fit(X4, Y4)
    one_hot = torch.tensor([[0.0, 1.0], [0.0, 1.0], [1.0, 0.0]])
    assert bce.get_loss(logits, y).item() == pytest.approx(
        nn.functional.binary_cross_entropy_with_logits(logits, one_hot).item())
    assert bce.get_loss(logits[:, 1], y).item() == pytest.approx(
        nn.functional.binary_cross_entropy_with_logits(logits[:, 1], y.float()).item())
    ce = quiet(NeuralNetClassifier, criterion=nn.CrossEntropyLoss).fit(X4, Y4)
    assert ce.get_loss(logits, y).item() == pytest.approx(
        nn.functional.cross_entropy(logits, y).item())


def test_decode_y_and_predict_map_indices_to_labels():
    y = np.where(Y4 == 1, "yes", "no")
    net = quiet(NeuralNetClassifier, lr=0.5, max_epochs=20).fit(X4, y)
    assert net.decode_y(torch.tensor([1, 0, 1])).tolist() == ["yes", "no", "yes"]
    assert net.decode_y(np.array([0.0, 1.0])).tolist() == ["no", "yes"]
    proba = net.predict_proba(X4)
    assert net.predict(X4).tolist() == np.where(proba[:, 1] > proba[:, 0], "yes", "no").tolist()
    assert net.score(X4, y) > 0.9


def test_binary_classifier_threshold_and_single_output():
    net = quiet(NeuralNetBinaryClassifier, lr=0.5, max_epochs=10).fit(X4, Y4)
    assert net.module_.output_units == 1
    p1 = net.predict_proba(X4)[:, 1]
    for threshold in (0.2, 0.5, 0.8, float(np.median(p1))):
        net.threshold = threshold
        assert net.predict(X4).tolist() == (p1 > threshold).astype(int).tolist()
    nll = quiet(NeuralNetBinaryClassifier, criterion=nn.NLLLoss,
                module__output_nonlin=nn.Sigmoid()).fit(X4, Y4)
    assert nll.module_.output_units == 1  # one output whatever the criterion
    assert nll.predict_proba(X4).shape == (40, 2)


def test_classifier_tags_and_default_callbacks():
    clf, binary = NeuralNetClassifier(), NeuralNetBinaryClassifier()
    assert clf.__sklearn_tags__().target_tags.multi_output is False
    assert clf.__sklearn_tags__().classifier_tags.multi_class is True
    assert binary.__sklearn_tags__().classifier_tags.multi_class is False
    # the built-in model's recipe adds its plateau stop (max_epochs left at 10)
    names = [name for name, _ in NeuralNetClassifier(verbose=1).get_default_callbacks()]
    assert names == ["epoch_timer", "train_loss", "valid_loss", "valid_acc", "stop_on_plateau",
                     "print_log"]
    names = [name for name, _ in NeuralNetClassifier(verbose=0).get_default_callbacks()]
    assert names == ["epoch_timer", "train_loss", "valid_loss", "valid_acc", "stop_on_plateau"]
    names = [name for name, _ in NeuralNetClassifier(
        nn.Linear, verbose=1).get_default_callbacks()]  # a user's module: skorch's set
    assert names == ["epoch_timer", "train_loss", "valid_loss", "valid_acc", "print_log"]


def test_valid_acc_is_the_accuracy_on_the_validation_rows():
    from sktorch.helper import predefined_split

    Xv, yv = X4[:15], Y4[:15]
    net = quiet(NeuralNetClassifier, max_epochs=1,
                train_split=predefined_split(Dataset(Xv, yv))).fit(X4[15:], Y4[15:])
    assert net.history[-1, "valid_acc"] == pytest.approx((net.predict(Xv) == yv).mean())
    assert net.history[-1, "valid_acc_best"] is True


# ------------------------------------------------------------- training callbacks
from sktorch.callbacks import (  # noqa: E402
    Callback,
    EarlyStopping,
    Freezer,
    Initializer,
    InputShapeSetter,
    ParamMapper,
    Unfreezer,
)


class Scripted(Callback):
    """Record ``values[epoch - 1]`` as ``'score'``."""

    def __init__(self, values=()):
        self.values = values

    def on_epoch_end(self, net, **kwargs):
        net.history.record("score", self.values[len(net.history) - 1])


def run_scripted(values, verbose=0, **es_params):
    es = EarlyStopping(monitor="score", **es_params)
    net = NeuralNetRegressor(nn.Linear, module__in_features=4, module__out_features=1, lr=0.0,
                             max_epochs=len(values), train_split=None, verbose=verbose,
                             callbacks=[Scripted(values), es])
    net.fit(X4, X4[:, :1])
    return net, es


@pytest.mark.parametrize("mode, values, best_epoch", [
    # rel: an improvement beats the best by 10% of |best| (1.0 here), abs: by 0.1
    ("rel", [10.0, 9.5, 9.6], 1), ("rel", [10.0, 9.5, 8.9], 3),
    ("abs", [10.0, 9.95, 9.85], 3), ("abs", [10.0, 9.0, 9.05], 2),
    ("rel", [-10.0, -10.5, -11.5, -11.0], 3),  # relative to |best|
])
def test_early_stopping_threshold_modes(mode, values, best_epoch):
    net, es = run_scripted(values, patience=10, threshold=0.1, threshold_mode=mode)
    assert es.best_epoch_ == best_epoch and es.best_score_ == values[best_epoch - 1]
    assert es.misses_ == len(values) - best_epoch


@pytest.mark.parametrize("lower_is_better", [True, False])
def test_early_stopping_with_no_threshold_an_equal_score_is_no_improvement(lower_is_better):
    net, es = run_scripted([1.0, 1.0, 1.0], patience=1, threshold=0.0, threshold_mode="abs",
                           lower_is_better=lower_is_better)
    assert len(net.history) == 2 and es.best_epoch_ == 1
    net, es = run_scripted([1.0, 1.0 + 1e-9, 1.0 - 1e-9], patience=5, threshold=0.0,
                           lower_is_better=lower_is_better)
    assert es.best_epoch_ == (3 if lower_is_better else 2)


def test_early_stopping_counts_misses_and_stops_after_patience():
    net, es = run_scripted([3.0, 2.0, 2.5, 1.0, 1.5, 1.2, 1.1, 0.5], patience=3)
    assert len(net.history) == 7 and es.misses_ == 3
    assert net.history[-1, "stop_reason"] == "score did not improve for 3 epochs (best 1 at " \
                                             "epoch 4)"
    net, es = run_scripted([float("nan"), 2.0, 1.0], patience=2)
    assert (es.best_score_, es.best_epoch_) == (1.0, 3)  # a NaN first score is no best
    net, es = run_scripted([float("nan"), float("nan"), 1.0], patience=2)
    assert net.history[-1, "stop_reason"] == (
        "score did not improve for 2 epochs (no finite score yet)")  # no crash on None
    net, es = run_scripted([1.0, 1.0, 1.0], patience=1)
    assert len(net.history) == 2  # equal is not better


def test_early_stopping_messages_go_to_the_sink_only_when_verbose():
    lines = []
    net, es = run_scripted([1.0, 2.0, 3.0], verbose=0, patience=2, sink=lines.append)
    assert lines == []
    net, es = run_scripted([1.0, 2.0, 3.0], verbose=1, patience=2, sink=lines.append)
    assert lines == ["Stopping: score did not improve for 2 epochs (best 1 at epoch 1)"]


def test_early_stopping_threshold_mode_is_checked_at_fit():
    with pytest.raises(ValueError, match=r"^EarlyStopping got threshold_mode='relative'; use "
                                         r"'rel' or 'abs'\.$"):
        run_scripted([1.0], threshold_mode="relative")


def test_early_stopping_load_best_restores_and_says_so():
    lines = []

    class Drift(Callback):  # moves the weights each epoch, so epochs differ
        def on_epoch_end(self, net, **kwargs):
            with torch.no_grad():
                net.module_.weight += 1.0
            self.weights_ = getattr(self, "weights_", []) + [net.module_.weight.clone()]

    drift = Drift()
    es = EarlyStopping(monitor="score", patience=5, load_best=True, sink=lines.append)
    net = NeuralNetRegressor(nn.Linear, module__in_features=4, module__out_features=1, lr=0.0,
                             max_epochs=4, train_split=None, verbose=1, callbacks=[
                                 drift, Scripted([3.0, 1.0, 2.0, 4.0]), es])
    net.fit(X4, X4[:, :1])
    assert torch.equal(net.module_.weight, drift.weights_[1])  # epoch 2's weights
    assert lines[-1] == "Restoring the best weights from epoch 2."
    lines.clear()
    es.sink = lines.append
    net.set_params(callbacks__Scripted__values=[3.0, 2.0, 1.5, 1.0])
    net.fit(X4, X4[:, :1])
    assert torch.equal(net.module_.weight, drift.weights_[-1]) and lines == []


def test_monitor_errors_name_the_fix():
    net = NeuralNetRegressor(nn.Linear, module__in_features=4, module__out_features=1,
                             max_epochs=1, train_split=None, verbose=0,
                             callbacks=[EarlyStopping(monitor="valid_r2")])
    with pytest.raises(ValueError, match=r"^EarlyStopping monitors 'valid_r2', but "
                                         r"train_split=None, so there is no validation data.*"
                                         r"EarlyStopping\(monitor='train_r2'\)\.$"):
        net.fit(X4, X4[:, :1])
    net.set_params(callbacks=[EarlyStopping(monitor="score")])
    with pytest.raises(ValueError, match=r"^EarlyStopping monitors 'score', which is not in "
                                         r"the history; the last epoch has \['dur', 'epoch', "
                                         r"(\S+, )*'train_loss', 'train_loss_best'\]\. Add a "
                                         r"scoring"):
        net.fit(X4, X4[:, :1])
    calls = []
    net.set_params(max_epochs=3, callbacks=[EarlyStopping(
        monitor=lambda n: calls.append(len(n.history)) or 1.0, patience=1)])
    net.fit(X4, X4[:, :1])
    assert calls == [1, 2] and len(net.history) == 2


class TwoLayers(nn.Module):
    def __init__(self):
        super().__init__()
        self.hidden = nn.Linear(4, 3)
        self.out = nn.Linear(3, 1)

    def forward(self, X):
        return self.out(torch.relu(self.hidden(X)))


def test_param_mapper_patterns_and_schedule():
    module = TwoLayers()
    names = lambda cb: [n for n, _ in cb.named_parameters(module)]  # noqa: E731
    assert names(ParamMapper("hidden.*")) == ["hidden.weight", "hidden.bias"]
    assert names(ParamMapper(["*bias", "out.weight"])) == ["hidden.bias", "out.weight",
                                                           "out.bias"]
    assert names(ParamMapper(lambda n: n.startswith("out"))) == ["out.weight", "out.bias"]
    assert names(ParamMapper("hidden")) == []  # fnmatch: the whole name must match
    assert names(ParamMapper("HIDDEN.*")) == []  # case-sensitive
    seen = []
    mapper = ParamMapper("out.bias", fn=lambda p: seen.append(len(seen)), at=2)
    NeuralNetRegressor(TwoLayers, max_epochs=3, verbose=0, train_split=None,
                       callbacks=[mapper]).fit(X4, X4[:, 0])
    assert seen == [0]  # at epoch 2 only


def test_freezer_unfreezer_initializer_params_and_effect():
    assert sorted(Freezer("a", at=2).get_params()) == ["at", "patterns", "schedule"]
    assert sorted(Unfreezer("a").get_params()) == ["at", "patterns", "schedule"]
    assert sorted(Initializer("a").get_params()) == ["at", "fn", "patterns", "schedule"]
    net = NeuralNetRegressor(TwoLayers, max_epochs=2, verbose=0, train_split=None, callbacks=[
        Freezer("hidden.*"), Initializer("out.bias", fn=nn.init.ones_),
        Unfreezer("hidden.bias", at=2)])
    start = None

    class Snapshot(Callback):
        def on_train_begin(self, net, **kwargs):
            nonlocal start
            start = net.module_.hidden.weight.detach().clone()

    net.set_params(callbacks=net.callbacks + [Snapshot()]).fit(X4, X4[:, 0])
    assert not net.module_.hidden.weight.requires_grad
    assert net.module_.hidden.bias.requires_grad
    assert torch.equal(net.module_.hidden.weight, start)  # frozen: never trained
    assert net.module_.out.bias.item() != 0.0


class SizedModule(nn.Module):
    def __init__(self, n_in=1):
        super().__init__()
        self.n_in = n_in
        self.lin = nn.Linear(n_in, 1)

    def forward(self, X):
        return self.lin(X)


def test_input_shape_setter_sets_only_what_differs():
    setter = InputShapeSetter("n_in")
    net = NeuralNetRegressor(SizedModule, max_epochs=1, verbose=0, train_split=None,
                             callbacks=[setter]).fit(X4, X4[:, 0])
    assert net.module_.n_in == 4 and net.get_params()["module__n_in"] == 4
    module = net.module_
    net.set_params(warm_start=True).fit(X4, X4[:, 0])
    assert net.module_ is module  # already the right size: the module is kept
    setter.on_train_begin(net, X=None)  # no data: nothing to set
    assert net.module_ is module
    sized = InputShapeSetter("n_in", input_dim_fn=lambda X: 2)
    net = NeuralNetRegressor(SizedModule, max_epochs=1, verbose=0, train_split=None,
                             callbacks=[sized])
    sized.on_train_begin(net.initialize(), X=X4)
    assert net.get_params()["module__n_in"] == 2


def test_input_shape_setter_reads_the_last_dimension_and_bare_module_arguments():
    assert InputShapeSetter()._input_dim(np.zeros((2, 3, 5))) == 5  # sequences: features last
    setter = InputShapeSetter("n_in")
    net = NeuralNetRegressor(SizedModule, n_in=4, max_epochs=1, verbose=0, train_split=None,
                             warm_start=True, callbacks=[setter]).initialize()
    module = net.module_
    net.fit(X4, X4[:, 0])  # n_in=4 given bare already matches: the module is not rebuilt
    assert net.module_ is module


class WeightsPerEpoch(Callback):
    """The module's weights at the end of each epoch."""

    def initialize(self):
        self.weights_ = []
        return self

    def on_epoch_end(self, net, **kwargs):
        self.weights_.append({k: v.clone() for k, v in net.module_.state_dict().items()})


@pytest.mark.parametrize("when", [
    dict(at=2),
    dict(schedule=lambda net: len(net.history) == 2),
])
def test_freezer_acts_at_its_epoch_only(when):
    freezer = Freezer("hidden.*", **when)  # built in the test, where mutmut sees it
    seen = WeightsPerEpoch()
    net = NeuralNetRegressor(TwoLayers, max_epochs=3, lr=0.1, verbose=0, train_split=None,
                             random_state=0, callbacks=[freezer, seen])
    start = {k: v.clone() for k, v in net.initialize().module_.state_dict().items()}
    net.set_params(warm_start=True).fit(X4, X4[:, 0])
    first, second, third = seen.weights_
    assert not torch.equal(first["hidden.weight"], start["hidden.weight"])  # epoch 1 trains it
    assert torch.equal(second["hidden.weight"], first["hidden.weight"])  # frozen from epoch 2
    assert torch.equal(third["hidden.weight"], first["hidden.weight"])
    assert not torch.equal(third["out.weight"], second["out.weight"])  # the rest trains on


def test_initializer_runs_before_the_first_epoch():
    seen = WeightsPerEpoch()
    net = NeuralNetRegressor(TwoLayers, max_epochs=2, lr=0.0, verbose=0, train_split=None,
                             callbacks=[Initializer("out.bias", fn=nn.init.ones_), seen])
    net.fit(X4, X4[:, 0])
    assert [w["out.bias"].item() for w in seen.weights_] == [1.0, 1.0]
    with torch.no_grad():
        first_loss = float(((net.module_(torch.from_numpy(X4))[:, 0]
                             - torch.from_numpy(X4[:, 0])) ** 2).mean())
    assert net.history[0, "train_loss"] == pytest.approx(first_loss, rel=1e-5)


def test_input_shape_setter_reads_the_module_default_size():
    """SizedModule's default n_in=1 already fits one feature: nothing is rebuilt."""
    net = NeuralNetRegressor(SizedModule, max_epochs=1, verbose=0, train_split=None,
                             warm_start=True, callbacks=[InputShapeSetter("n_in")]).initialize()
    module = net.module_
    net.fit(X4[:, :1], X4[:, 0])
    assert net.module_ is module and "module__n_in" not in net._kwargs


def test_param_mapper_acts_in_the_first_epoch_by_default():
    epochs = []
    mapper = ParamMapper("out.bias", fn=lambda p: epochs.append(len(net.history)))
    net = NeuralNetRegressor(TwoLayers, max_epochs=3, verbose=0, train_split=None,
                             callbacks=[mapper])
    net.fit(X4, X4[:, 0])
    assert mapper.at == 1 and epochs == [1]
