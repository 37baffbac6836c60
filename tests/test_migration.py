"""skorch code that runs unchanged on sktorch: public names, data, hooks and toys.

Each test reads like the skorch user guide's usage with ``skorch`` replaced by
``sktorch`` in the imports (issue 13, items 6, 7 and 9), and asserts the values
such code relies on.
"""

from __future__ import annotations

import inspect
import io
import multiprocessing
import pickle
import sys
import warnings

import numpy as np
import pytest
import torch
from sklearn.datasets import make_classification, make_regression
from sklearn.model_selection import KFold, ShuffleSplit, StratifiedKFold, cross_val_score
from sklearn.pipeline import Pipeline
from torch import nn
from torch.utils.data import IterableDataset, Subset, TensorDataset

from sktorch import NeuralNetBinaryClassifier, NeuralNetClassifier, NeuralNetRegressor
from sktorch.callbacks import Callback
from sktorch.dataset import Dataset, ValidSplit
from sktorch.exceptions import (
    DeviceWarning,
    NotInitializedError,
    SkorchException,
    SkorchWarning,
    SktorchException,
    SktorchWarning,
)
from sktorch.helper import (
    DataFrameTransformer,
    SkorchDoctor,
    SktorchDoctor,
    SliceDataset,
    parse_args,
    predefined_split,
)
from sktorch.history import DistributedHistory, History
from sktorch.scoring import loss_scoring
from sktorch.toy import MLPModule, make_binary_classifier, make_classifier, make_regressor
from sktorch.utils import (
    TeeGenerator,
    check_is_fitted,
    data_from_dataset,
    freeze_parameter,
    get_dim,
    get_map_location,
    is_dataset,
    is_torch_data_type,
    multi_indexing,
    noop,
    open_file_like,
    params_for,
    to_device,
    to_numpy,
    to_tensor,
    unfreeze_parameter,
)


@pytest.fixture(scope="module")
def regression_data():
    X, y = make_regression(100, 4, noise=0.1, random_state=0)
    return X.astype(np.float32), (y / 100).astype(np.float32).reshape(-1, 1)


@pytest.fixture(scope="module")
def classification_data():
    X, y = make_classification(120, 20, n_informative=8, random_state=0)
    return X.astype(np.float32), y.astype(np.int64)


def linear_regressor(**kwargs):
    defaults = dict(module=nn.Linear, module__in_features=4, module__out_features=1,
                    criterion=nn.MSELoss, max_epochs=3, lr=0.05, verbose=0, random_state=0)
    return NeuralNetRegressor(**{**defaults, **kwargs})


# ----------------------------------------------------------------- 13.6 utils
def test_utils_to_tensor_keeps_dtype_and_structure():
    t = to_tensor(np.array([[1.0, 2.0]]), device="cpu")
    assert t.dtype == torch.float64 and t.tolist() == [[1.0, 2.0]]
    nested = to_tensor({"a": np.arange(3), "b": [np.zeros(2), np.ones(1)]}, device="cpu")
    assert nested["a"].tolist() == [0, 1, 2]
    assert [v.tolist() for v in nested["b"]] == [[0.0, 0.0], [1.0]]
    assert to_tensor(3, device="cpu").item() == 3
    assert to_tensor([1, 2], device="cpu").tolist() == [1, 2]


def test_utils_to_tensor_sparse_needs_accept_sparse():
    import scipy.sparse as sp

    X = sp.csr_matrix(np.array([[0.0, 2.0], [3.0, 0.0]]))
    with pytest.raises(TypeError, match="accept_sparse=True"):
        to_tensor(X, device="cpu")
    dense = to_tensor(X, device="cpu", accept_sparse=True).to_dense()
    assert dense.tolist() == [[0.0, 2.0], [3.0, 0.0]]


def test_utils_to_numpy_and_to_device():
    x = torch.ones(2, requires_grad=True) * 3
    assert to_numpy(x).tolist() == [3.0, 3.0]
    out = to_numpy({"a": torch.zeros(1), "b": (torch.ones(1), np.ones(1))})
    assert isinstance(out["a"], np.ndarray) and isinstance(out["b"], tuple)
    with pytest.raises(TypeError, match="Cannot convert str"):
        to_numpy("text")
    module = to_device(nn.Linear(2, 1), "cpu")
    assert next(module.parameters()).device.type == "cpu"
    moved = to_device({"a": torch.zeros(1), "b": [torch.ones(1)]}, "cpu")
    assert moved["b"][0].device.type == "cpu"
    sentinel = object()
    assert to_device(sentinel, None) is sentinel


def test_utils_predicates_and_params_for():
    assert is_torch_data_type(torch.zeros(1)) and not is_torch_data_type(np.zeros(1))
    assert is_dataset(TensorDataset(torch.zeros(2))) and not is_dataset(np.zeros(2))
    assert get_dim(np.zeros((2, 3))) == 2 and get_dim(torch.zeros(4)) == 1
    kwargs = {"module__a": 1, "module__b__c": 2, "lr": 0.1, "modules__x": 3}
    assert params_for("module", kwargs) == {"a": 1, "b__c": 2}
    assert params_for("module__", kwargs) == {"a": 1, "b__c": 2}
    assert noop(1, x=2) is None


def test_utils_freeze_and_unfreeze_parameter():
    layer = nn.Linear(2, 1)
    freeze_parameter(layer.weight)
    assert layer.weight.requires_grad is False and layer.bias.requires_grad is True
    unfreeze_parameter(layer.weight)
    assert layer.weight.requires_grad is True


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-CUDA fallback")
def test_utils_get_map_location_falls_back_without_cuda():
    with pytest.warns(DeviceWarning, match="no CUDA device"):
        assert get_map_location("cuda") == torch.device("cpu")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert get_map_location("cpu") == torch.device("cpu")
        assert get_map_location(None) == torch.device("cpu")


def test_utils_check_is_fitted(regression_data):
    X, y = regression_data
    net = linear_regressor(max_epochs=1)
    with pytest.raises(NotInitializedError, match="NeuralNetRegressor instance is not init"):
        check_is_fitted(net)
    with pytest.raises(NotInitializedError, match="custom NeuralNetRegressor"):
        check_is_fitted(net, msg="custom %(name)s")
    net.fit(X, y)
    check_is_fitted(net)
    check_is_fitted(net, ["module_", "optimizer_"])
    with pytest.raises(NotInitializedError):
        check_is_fitted(net, ["module_", "nothing_"])
    check_is_fitted(net, ["module_", "nothing_"], all_or_any=any)


def test_utils_open_file_like_tee_and_indexing(tmp_path):
    path = tmp_path / "f.txt"
    with open_file_like(str(path), "w") as handle:
        handle.write("from a path")
    assert path.read_text() == "from a path"
    buffer = io.StringIO()
    with open_file_like(buffer, "w") as handle:
        assert handle is buffer
    tee = TeeGenerator(i * 10 for i in range(3))
    assert list(tee) == [0, 10, 20] and list(tee) == [0, 10, 20]
    pd = pytest.importorskip("pandas")
    df = pd.DataFrame({"a": [1, 2, 3]})
    assert multi_indexing(df, [2, 0])["a"].tolist() == [3, 1]
    assert multi_indexing((np.arange(3), [7, 8, 9]), np.array([1]))[1] == [8]


# --------------------------------------------------------------- 13.6 scoring
def test_loss_scoring_is_the_mean_loss_over_all_samples(regression_data):
    X, y = regression_data
    net = linear_regressor(batch_size=16).fit(X, y)  # 100 rows: batches of 16 and one of 4
    expected = ((net.predict(X) - y) ** 2).mean()
    assert loss_scoring(net, X, y) == pytest.approx(expected, rel=1e-5)


def test_loss_scoring_per_sample_and_weighted(regression_data):
    X, y = regression_data
    net = linear_regressor().fit(X, y)
    net.criterion_.reduction = "none"  # score per sample; training needs a scalar loss
    per_sample = ((net.predict(X) - y) ** 2).mean(axis=1)
    np.testing.assert_allclose(loss_scoring(net, X, y), per_sample, rtol=1e-5)
    weights = np.linspace(0, 1, len(X))
    np.testing.assert_allclose(loss_scoring(net, X, y, sample_weight=weights),
                               per_sample * weights, rtol=1e-5)
    mean_net = linear_regressor().fit(X, y)
    per_sample = ((mean_net.predict(X) - y) ** 2).mean(axis=1)
    assert loss_scoring(mean_net, X, y, sample_weight=weights) == pytest.approx(
        np.average(per_sample, weights=weights), rel=1e-5)
    assert mean_net.criterion_.reduction == "mean"  # restored after scoring


def test_loss_scoring_of_a_classifier_is_its_log_loss(classification_data):
    from sklearn.metrics import log_loss

    X, y = classification_data
    net = NeuralNetClassifier(max_epochs=3, lr=0.1, verbose=0, random_state=0).fit(X, y)
    assert loss_scoring(net, X, y) == pytest.approx(log_loss(y, net.predict_proba(X)),
                                                    rel=1e-4)
    scores = cross_val_score(NeuralNetClassifier(max_epochs=2, verbose=0, random_state=0),
                             X, y, cv=2, scoring=loss_scoring)
    assert scores.shape == (2,) and (scores > 0).all()


# ------------------------------------------------------------ 13.6 exceptions
def test_skorch_exception_names_are_aliases():
    assert SkorchException is SktorchException and SkorchWarning is SktorchWarning
    assert issubclass(DeviceWarning, SkorchWarning)
    from sktorch.exceptions import SkorchAttributeError, SkorchTrainingImpossibleError

    assert issubclass(SkorchAttributeError, AttributeError)
    assert issubclass(SkorchTrainingImpossibleError, SkorchException)
    with pytest.raises(SkorchException):  # skorch code: `except SkorchException`
        NeuralNetRegressor().predict(np.zeros((2, 2), dtype=np.float32))


# ---------------------------------------------------------------- 13.6 helper
def test_dataframe_transformer_in_a_pipeline():
    pd = pytest.importorskip("pandas")
    rng = np.random.RandomState(0)
    df = pd.DataFrame({
        "num1": rng.randn(60), "num2": rng.randn(60),
        "cat": pd.Series(rng.choice(["a", "b", "c"], 60), dtype="category"),
    })
    y = (df["num1"] > 0).to_numpy().astype(np.int64)
    out = DataFrameTransformer().fit_transform(df)
    assert sorted(out) == ["X", "cat"]
    assert out["X"].dtype == np.float32 and out["X"].shape == (60, 2)
    np.testing.assert_allclose(out["X"][:, 0], df["num1"].to_numpy(), rtol=1e-6)
    assert out["cat"].dtype == np.int64
    assert out["cat"].tolist() == df["cat"].cat.codes.tolist()
    assert DataFrameTransformer().describe_signature(df) == {
        "X": {"dtype": torch.float32, "input_units": 2},
        "cat": {"dtype": torch.int64, "input_units": 3},
    }

    class Module(nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = nn.Embedding(3, 2)
            self.out = nn.Linear(4, 2)

        def forward(self, X, cat):
            return torch.softmax(self.out(torch.cat([X, self.emb(cat)], dim=1)), dim=-1)

    pipe = Pipeline([("df", DataFrameTransformer()),
                     ("net", NeuralNetClassifier(Module, max_epochs=20, lr=0.5, verbose=0,
                                                 train_split=None, random_state=0))])
    pipe.fit(df, y)
    assert (pipe.predict(df) == y).mean() > 0.8


def test_dataframe_transformer_rejects_text_and_can_treat_ints_as_categories():
    pd = pytest.importorskip("pandas")
    df = pd.DataFrame({"n": [1.0, 2.0], "k": [0, 4], "s": ["x", "y"]})
    with pytest.raises(TypeError, match="s \\(object|s \\(str"):
        DataFrameTransformer().fit(df)
    out = DataFrameTransformer(treat_int_as_categorical=True).fit_transform(df[["n", "k"]])
    assert out["X"].tolist() == [[1.0], [2.0]] and out["k"].tolist() == [0, 4]
    out = DataFrameTransformer().fit_transform(df[["n", "k"]])
    assert out["X"].tolist() == [[1.0, 0.0], [2.0, 4.0]] and "k" not in out


def test_parse_args_sets_params_and_resolves_objects():
    apply = parse_args(
        {"lr": 0.05, "max_epochs": 4, "module__nonlin": "torch.nn.RReLU(0.1, upper=0.4)",
         "optimizer": "torch.optim.Adam"},
        defaults={"max_epochs": 2, "batch_size": 32},
    )
    net = apply(NeuralNetClassifier(MLPModule))
    assert (net.lr, net.max_epochs, net.batch_size) == (0.05, 4, 32)
    assert net.optimizer is torch.optim.Adam
    assert isinstance(net.module__nonlin, nn.RReLU)
    assert (net.module__nonlin.lower, net.module__nonlin.upper) == (0.1, 0.4)
    pipe = Pipeline([("net", NeuralNetRegressor())])
    assert parse_args({"net__lr": 0.3})(pipe).named_steps["net"].lr == 0.3


def test_parse_args_help_lists_parameters_and_exits(monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", ["train.py", "--help"])
    apply = parse_args({}, defaults={"max_epochs": 7})
    with pytest.raises(SystemExit):
        apply(NeuralNetClassifier(MLPModule))
    text = capsys.readouterr().out
    assert text.startswith("<NeuralNetClassifier> options:")
    assert "--max_epochs : int (default=7)" in text
    assert "--lr : float (default=0.01)" in text
    assert "--module__hidden_units (default=10)" in text
    assert "Learning rate" in text  # the parameter's description


def test_slice_dataset_indices_and_transform():
    ds = TensorDataset(torch.arange(10.0).reshape(5, 2), torch.arange(5))

    class Doubled(SliceDataset):
        def transform(self, data):
            return data * 2

    X = Doubled(ds)
    assert X.indices is None and X.indices_.tolist() == [0, 1, 2, 3, 4]
    assert X[1].tolist() == [4.0, 6.0]
    part = X[1:3]
    assert type(part) is Doubled and part.indices_.tolist() == [1, 2]
    assert np.asarray(part).tolist() == [[4.0, 6.0], [8.0, 10.0]]
    with pytest.raises(IndexError, match="reads element 2 of each row"):
        SliceDataset(ds, idx=2)[0]


def test_slice_dataset_transform_applies_in_training():
    ds = TensorDataset(torch.ones(40, 2), (torch.arange(40) % 2).float().reshape(-1, 1))

    class Zeroed(SliceDataset):
        def transform(self, data):
            return data * 0

    class Recorder(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(2, 1)
            self.seen = []

        def forward(self, X):
            self.seen.append(float(X.abs().max()))
            return self.lin(X)

    net = NeuralNetRegressor(Recorder, criterion=nn.MSELoss, max_epochs=1, verbose=0,
                             train_split=None)
    net.fit(Zeroed(ds), SliceDataset(ds, idx=1))
    assert net.module_.seen and max(net.module_.seen) == 0.0
    net = NeuralNetRegressor(Recorder, criterion=nn.MSELoss, max_epochs=1, verbose=0,
                             train_split=None)
    net.fit(SliceDataset(ds), SliceDataset(ds, idx=1))
    assert max(net.module_.seen) == 1.0


# ---------------------------------------------------------------- 13.6 doctor
def test_doctor_records_every_training_step(classification_data):
    X, y = classification_data
    X, y = X[:60], y[:60]
    net = NeuralNetClassifier(MLPModule, module__input_units=20, module__hidden_units=8,
                              module__output_nonlin=nn.Softmax(dim=-1), max_epochs=2,
                              batch_size=32, lr=0.1, verbose=0, random_state=0)
    doctor = SkorchDoctor(net)
    assert SkorchDoctor is SktorchDoctor
    doctor.fit(X, y)
    n_train = 48  # ValidSplit(5): 48 training rows, so batches of 32 and 16
    assert doctor.num_steps_ == 2 * 2
    assert doctor.module_names_ == ["module", "criterion"]
    acts = doctor.activation_recs_["module"]
    assert len(acts) == 4 and acts[0]["module"].shape == (32, 2)
    assert acts[1]["module"].shape == (n_train - 32, 2)
    assert acts[-1]["sequential.0"].shape == (16, 8)
    np.testing.assert_allclose(acts[0]["module"].sum(axis=1), 1, rtol=1e-5)  # softmax
    assert doctor.activation_recs_["criterion"][0]["criterion"].shape == ()
    grads = doctor.gradient_recs_["module"][-1]
    assert sorted(grads) == sorted(name for name, _ in net.module_.named_parameters())
    # SGD without momentum: the last step moved each weight by lr * grad.
    weight = net.module_.sequential[0].weight.detach().numpy()
    grad = grads["sequential.0.weight"]
    before = weight + 0.1 * grad
    expected = np.linalg.norm(0.1 * grad) / np.linalg.norm(before)
    assert doctor.param_update_recs_["module"][-1]["sequential.0.weight"] == pytest.approx(
        expected, rel=1e-3)
    # The hooks are gone: the net predicts and trains as before.
    assert not any(m._forward_hooks for m in net.module_.modules())
    assert [name for name, _ in net._callback_list.named] == [n for n, _ in net.callbacks_]
    assert net.predict(X).shape == (60,)
    rows = doctor.summary()
    assert {"activation", "gradient", "update"} == {row["kind"] for row in rows}


def test_doctor_match_fn_selects_layers_and_params(classification_data):
    X, y = classification_data
    net = NeuralNetClassifier(max_epochs=1, verbose=0, train_split=None, random_state=0)
    doctor = SktorchDoctor(net, match_fn=lambda name: "sequential.0" in name).fit(X, y)
    assert set(doctor.get_layer_names()["module"]) == {"sequential.0"}
    assert doctor.get_param_names()["module"] == ["sequential.0.weight", "sequential.0.bias"]


def test_doctor_plots_need_matplotlib(classification_data):
    X, y = classification_data
    doctor = SktorchDoctor(NeuralNetClassifier(max_epochs=1, verbose=0)).fit(X, y)
    try:
        import matplotlib
    except ImportError:
        with pytest.raises(ImportError, match="sktorch\\[plot\\]"):
            doctor.plot_loss()
        return
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ax = doctor.plot_loss()
    assert [line.get_label() for line in ax.get_lines()] == ["train_loss", "valid_loss"]
    np.testing.assert_allclose(ax.get_lines()[0].get_ydata(), doctor.net.history[:, "train_loss"])
    axes = doctor.plot_activations()
    assert len(axes) == 2 and axes[0].get_title() == "activations of module"
    axes = doctor.plot_param_updates()
    assert len(axes) == 1  # the criterion has no parameters
    labels = [line.get_label() for line in axes[0].get_lines()]
    assert labels == doctor.get_param_names()["module"]
    plt.close("all")


# ------------------------------------------------------- 13.6 history objects
def _distributed_fit(rank: int, path: str, queue) -> None:
    import torch.distributed as dist

    store = dist.FileStore(path, 2)
    rng = np.random.RandomState(rank)
    n = 40 if rank == 0 else 24  # rank 0: batches of 16, 16, 8; rank 1: 16, 8
    X = rng.randn(n, 2).astype(np.float32)
    y = X.sum(axis=1, keepdims=True)
    net = NeuralNetRegressor(nn.Linear, module__in_features=2, module__out_features=1,
                             criterion=nn.MSELoss, max_epochs=2, batch_size=16, verbose=0,
                             train_split=None, random_state=0,
                             history=DistributedHistory(store=store, rank=rank, world_size=2))
    net.fit(X, y)
    history = net.history
    queue.put((rank, type(history).__name__, history[:, "train_loss"],
               history[-1, "batches", :, "train_batch_size"],
               history[-1, "batches", :, "train_loss"]))


def test_distributed_history_shares_batches_across_two_processes(tmp_path):
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    procs = [ctx.Process(target=_distributed_fit, args=(rank, str(tmp_path / "store"), queue))
             for rank in range(2)]
    for proc in procs:
        proc.start()
    try:
        results = dict((r[0], r[1:]) for r in (queue.get(timeout=240) for _ in procs))
    finally:
        for proc in procs:
            proc.join(timeout=60)
            if proc.is_alive():
                proc.terminate()
    assert results[0][0] == "DistributedHistory"
    for rank in (0, 1):
        _, losses, sizes, batch_losses = results[rank]
        assert sizes == [16, 16, 8, 16, 8]  # rank 0's batches, then rank 1's
        expected = np.average(batch_losses, weights=sizes)
        assert losses[-1] == pytest.approx(expected, rel=1e-6)
    assert results[0][1] == results[1][1]  # the epoch scores agree across processes
    assert results[0][3] == results[1][3]


def test_distributed_history_is_given_to_the_net_and_pickles_without_store(regression_data):
    import torch.distributed as dist

    X, y = regression_data
    history = DistributedHistory(store=dist.HashStore(), rank=0, world_size=1)
    net = linear_regressor(history=history).fit(X, y)
    assert net.history is history and len(history) == 3
    assert "history" not in net.get_params()
    net.fit(X, y)  # a refit clears and reuses it
    assert net.history is history and len(history) == 3
    restored = pickle.loads(pickle.dumps(net))
    assert restored.history.store is None
    assert restored.history[:, "train_loss"] == history[:, "train_loss"]
    with pytest.raises(ValueError, match="0 <= rank < world_size"):
        DistributedHistory(store=dist.HashStore(), rank=2, world_size=2)


# ---------------------------------------------------- 13.6 net's own methods
def test_net_own_hooks_run_before_callbacks(regression_data):
    X, y = regression_data
    order = []

    class Recorder(Callback):
        def on_epoch_end(self, net, **kwargs):
            order.append("callback")

    class MyNet(NeuralNetRegressor):
        def on_epoch_end(self, net, dataset_train=None, dataset_valid=None, **kwargs):
            assert net is self
            order.append("net")

        def on_batch_begin(self, net, batch=None, training=None, **kwargs):
            order.append("train" if training else "valid")

        def on_grad_computed(self, net, named_parameters, **kwargs):
            self.grads_seen = [name for name, _ in named_parameters]

    net = MyNet(nn.Linear, module__in_features=4, module__out_features=1,
                criterion=nn.MSELoss, max_epochs=2, batch_size=40, verbose=0,
                callbacks=[Recorder()])
    net.fit(X, y)  # 80 training rows: 2 batches; 20 validation rows: 1 batch
    assert order == ["train", "train", "valid", "net", "callback"] * 2
    assert net.grads_seen == ["weight", "bias"]


def test_run_single_epoch_can_be_overridden_as_in_skorch(regression_data):
    X, y = regression_data
    begins = []

    class Count(Callback):
        def on_batch_begin(self, net, training=None, **kwargs):
            begins.append(training)

    class MyNet(NeuralNetRegressor):
        def run_single_epoch(self, iterator, training, prefix, step_fn, **fit_params):
            if iterator is None:
                return
            batch_count = 0
            for batch in iterator:
                self.notify("on_batch_begin", batch=batch, training=training)
                step = step_fn(batch, **fit_params)
                self.history.record_batch(prefix + "_loss", step["loss"].item())
                self.history.record_batch(prefix + "_batch_size", len(batch[0]))
                self.history.record_batch("seen_by_override", True)
                self.notify("on_batch_end", batch=batch, training=training, **step)
                batch_count += 1
            self.history.record(prefix + "_batch_count", batch_count)

    net = MyNet(nn.Linear, module__in_features=4, module__out_features=1,
                criterion=nn.MSELoss, max_epochs=2, batch_size=32, verbose=0,
                callbacks=[Count()], random_state=0)
    net.fit(X, y)  # 80 training rows: 3 batches; 20 validation rows: 1 batch
    assert net.history[:, "train_batch_count"] == [3, 3]
    assert net.history[:, "valid_batch_count"] == [1, 1]
    assert net.history[-1, "batches", :, "seen_by_override"] == [True] * 4
    assert begins == [True, True, True, False] * 2
    rows = net.history[-1, "batches"]
    expected = np.average([r["train_loss"] for r in rows if "train_loss" in r],
                          weights=[r["train_batch_size"] for r in rows if "train_loss" in r])
    assert net.history[-1, "train_loss"] == pytest.approx(expected)


def test_check_data_sees_the_raw_input_first(classification_data):
    X, y = classification_data
    seen = []

    class MyNet(NeuralNetClassifier):
        def check_data(self, X, y=None):
            super().check_data(X, y)
            seen.append(type(X))
            if len(X) < 10:
                raise ValueError("need at least 10 samples")

    with pytest.raises(ValueError, match="need at least 10 samples"):
        MyNet(max_epochs=1, verbose=0).fit(X[:5].tolist(), y[:5])
    assert seen == [list]
    MyNet(max_epochs=1, verbose=0).fit(X, y)
    assert seen[-1] is np.ndarray


def test_initialize_history_can_be_overridden(regression_data):
    X, y = regression_data

    class MyHistory(History):
        pass

    class MyNet(NeuralNetRegressor):
        def initialize_history(self):
            self.history_ = MyHistory()
            return self

    net = MyNet(nn.Linear, module__in_features=4, module__out_features=1,
                criterion=nn.MSELoss, max_epochs=2, verbose=0).fit(X, y)
    assert type(net.history) is MyHistory and len(net.history) == 2


class _ZeroOutput(nn.Module):
    def __init__(self, inner):
        super().__init__()
        self.inner = inner

    def forward(self, x):
        return self.inner(x) * 0


class _CompileHookNet(NeuralNetRegressor):
    names: list = []

    def torch_compile(self, module, name):
        self.names.append(name)
        return _ZeroOutput(module) if self.compile else module


def test_torch_compile_hook_and_compile_params(regression_data, monkeypatch):
    X, y = regression_data
    MyNet, names = _CompileHookNet, _CompileHookNet.names
    names.clear()
    kwargs = dict(module=nn.Linear, module__in_features=4, module__out_features=1,
                  criterion=nn.MSELoss, max_epochs=1, verbose=0)
    compiled = MyNet(compile=True, **kwargs).fit(X, y)
    assert compiled.predict(X).max() == 0
    assert np.abs(MyNet(compile=False, **kwargs).fit(X, y).predict(X)).max() > 0
    assert names == ["module", "module"]
    restored = pickle.loads(pickle.dumps(compiled))  # compiled again through the hook
    assert names == ["module", "module", "module"] and restored.predict(X).max() == 0

    calls = []

    def fake_compile(module, **options):
        calls.append(options)
        return module

    monkeypatch.setattr(torch, "compile", fake_compile)
    net = NeuralNetRegressor(compile=True, compile__mode="reduce-overhead",
                             compile__dynamic=False, **kwargs).fit(X, y)
    assert calls == [{"mode": "reduce-overhead", "dynamic": False}]
    assert net.get_params()["compile__mode"] == "reduce-overhead"


# ---------------------------------------------------------------- 13.7 data
class CaptureDatasets(Callback):
    def on_epoch_end(self, net, dataset_train=None, dataset_valid=None, **kwargs):
        self.train, self.valid = dataset_train, dataset_valid


def test_valid_split_with_kfold_and_subset_datasets(regression_data):
    X, y = regression_data
    capture = CaptureDatasets()
    net = linear_regressor(train_split=ValidSplit(KFold(4)), callbacks=[capture]).fit(X, y)
    train, valid = capture.train, capture.valid
    assert isinstance(train, Subset) and isinstance(valid, Subset)
    assert train.dataset is valid.dataset and len(train.dataset) == 100
    assert sorted(valid.indices.tolist()) == list(range(25))  # KFold's first fold
    assert len(train) == 75 and len(valid) == 25
    X_valid, y_valid = data_from_dataset(valid)
    np.testing.assert_array_equal(X_valid.numpy(), X[:25])
    np.testing.assert_array_equal(y_valid.numpy(), y[:25])
    assert valid[3][0].tolist() == X[3].tolist()
    # The validation loss is on exactly those rows.
    mse = ((net.predict(X[:25]) - y[:25]) ** 2).mean()
    assert net.history[-1, "valid_loss"] == pytest.approx(mse, rel=1e-5)


def test_valid_split_with_other_splitters(classification_data):
    X, y = classification_data
    capture = CaptureDatasets()
    NeuralNetClassifier(max_epochs=1, verbose=0, callbacks=[capture],
                        train_split=ValidSplit(StratifiedKFold(4))).fit(X, y)
    expected = next(StratifiedKFold(4).split(X, y))[1]
    assert capture.valid.indices.tolist() == expected.tolist()
    split = ValidSplit(ShuffleSplit(n_splits=1, test_size=0.3, random_state=0))
    train, valid = split(Dataset(X, y))
    assert (len(train), len(valid)) == (84, 36)
    pairs = ValidSplit([(np.arange(100), np.arange(100, 120))])
    train, valid = pairs(Dataset(X, y))
    assert valid.indices.tolist() == list(range(100, 120))
    with pytest.raises(ValueError, match="scikit-learn splitter"):
        ValidSplit("five")(Dataset(X, y))


class Stream(IterableDataset):
    """Rows generated on the fly, with no length (skorch's streaming notebook)."""

    def __init__(self, n, seed=0):
        self.n, self.seed = n, seed

    def __iter__(self):
        rng = np.random.RandomState(self.seed)
        for _ in range(self.n):
            x = rng.randn(3).astype(np.float32)
            yield x, np.float32(x.sum())


def test_iterable_dataset_without_len_trains_and_predicts():
    net = NeuralNetRegressor(nn.Linear, module__in_features=3, module__out_features=1,
                             criterion=nn.MSELoss, train_split=None,
                             iterator_train__shuffle=False, max_epochs=3, batch_size=16,
                             lr=0.1, verbose=0)
    net.fit(Stream(100))
    assert [len(row["batches"]) for row in net.history] == [7, 7, 7]  # ceil(100 / 16)
    assert net.history[-1, "batches", -1, "train_batch_size"] == 4
    losses = net.history[:, "train_loss"]
    assert losses[-1] < losses[0] / 10
    assert net.predict(Stream(10, seed=1)).shape == (10, 1)
    # Shuffling is off by default for a stream (a DataLoader cannot shuffle one).
    default = NeuralNetRegressor(nn.Linear, module__in_features=3, module__out_features=1,
                                 criterion=nn.MSELoss, train_split=None, max_epochs=1,
                                 verbose=0)
    assert len(default.fit(Stream(20)).history[-1, "batches"]) == 1
    with pytest.raises(ValueError, match="no __len__"):
        default.set_params(batch_size=-1).fit(Stream(20))
    with pytest.raises(ValueError, match="pass train_split=None"):
        default.set_params(batch_size=16, train_split=ValidSplit(5)).fit(Stream(20))
    validated = default.set_params(train_split=predefined_split(Stream(32, seed=2)))
    assert validated.fit(Stream(20)).history[-1, "batches", -1, "valid_batch_size"] == 16


def test_iterable_dataset_with_a_classifier_and_default_module():
    class Labels(IterableDataset):
        def __iter__(self):
            rng = np.random.RandomState(0)
            for _ in range(64):
                x = rng.randn(3).astype(np.float32)
                yield x, np.int64(x[0] > 0)

    net = NeuralNetClassifier(classes=[0, 1], train_split=None, max_epochs=20, lr=0.3,
                              batch_size=16, verbose=0, random_state=0)
    net.fit(Labels())
    assert net.module_.input_units == 3  # sized from the first streamed row
    X = np.array([[2.0, 0, 0], [-2.0, 0, 0]], dtype=np.float32)
    assert net.predict(X).tolist() == [1, 0]


def test_classifier_on_a_dataset_without_labels_predicts_class_indices():
    class Softmax(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(3, 2)

        def forward(self, X):
            return torch.softmax(self.lin(X), dim=-1)

    X = torch.randn(64, 3, generator=torch.Generator().manual_seed(0))
    y = (X[:, 0] > 0).long()
    for data in (TensorDataset(X, y), _LabelStream(X, y)):
        net = NeuralNetClassifier(Softmax, train_split=None, max_epochs=30, lr=0.5,
                                  batch_size=16, verbose=0, random_state=0).fit(data)
        assert not hasattr(net, "classes_")  # the labels were never seen
        proba = net.predict_proba(X.numpy())
        np.testing.assert_array_equal(net.predict(X.numpy()), proba.argmax(axis=1))
        assert net.score(X.numpy(), y.numpy()) > 0.9


class _LabelStream(IterableDataset):
    def __init__(self, X, y):
        self.X, self.y = X, y

    def __iter__(self):
        return iter(zip(self.X, self.y))


def test_get_iterator_override_with_skorchs_signature(regression_data):
    X, y = regression_data
    calls = []

    class MyNet(NeuralNetRegressor):
        def get_iterator(self, dataset, training=False):
            calls.append(training)
            return super().get_iterator(dataset, training=training)

    kwargs = dict(module=nn.Linear, module__in_features=4, module__out_features=1,
                  criterion=nn.MSELoss, max_epochs=2, batch_size=16, verbose=0,
                  random_state=0)
    net = MyNet(**kwargs).fit(X, y)
    assert calls == [True, False]
    net.predict(X)
    assert calls == [True, False, False]
    # Shuffling is still seeded by random_state through the override.
    again = MyNet(**kwargs).fit(X, y)
    plain = NeuralNetRegressor(**kwargs).fit(X, y)
    for a, b, c in zip(net.module_.parameters(), again.module_.parameters(),
                       plain.module_.parameters()):
        assert torch.equal(a, b) and torch.equal(a, c)


# ----------------------------------------------------------------- 13.9 toy
def test_toy_factories_with_skorchs_signatures(classification_data):
    X, y = classification_data
    net = NeuralNetBinaryClassifier(make_binary_classifier(input_units=20, output_units=1),
                                    max_epochs=5, lr=0.1, verbose=0, random_state=0)
    net.fit(X, y)
    assert net.module_(torch.as_tensor(X[:3])).shape == (3,)
    assert net.predict(X).shape == (120,) and net.predict_proba(X).shape == (120, 2)
    assert (net.predict(X) == y).mean() > 0.7

    multi = NeuralNetClassifier(make_classifier(input_units=20, output_units=3,
                                                hidden_units=16),
                                max_epochs=2, verbose=0, random_state=0)
    y3 = np.arange(120) % 3
    proba = multi.fit(X, y3).predict_proba(X)
    assert proba.shape == (120, 3)
    np.testing.assert_allclose(proba.sum(axis=1), 1, rtol=1e-5)

    reg = NeuralNetRegressor(make_regressor(input_units=20, num_hidden=2), max_epochs=2,
                             verbose=0, random_state=0)
    assert reg.fit(X, X[:, :1]).predict(X).shape == (120, 1)
    assert len([m for m in reg.module_.modules() if isinstance(m, nn.Linear)]) == 3


def test_mlp_module_signature_matches_skorch():
    params = inspect.signature(MLPModule).parameters
    assert list(params) == ["input_units", "output_units", "hidden_units", "num_hidden",
                            "nonlin", "output_nonlin", "dropout", "squeeze_output"]
    defaults = {name: p.default for name, p in params.items()}
    assert (defaults["input_units"], defaults["output_units"], defaults["hidden_units"],
            defaults["num_hidden"], defaults["output_nonlin"], defaults["dropout"],
            defaults["squeeze_output"]) == (20, 2, 10, 1, None, 0, False)
    assert isinstance(defaults["nonlin"], nn.ReLU)
