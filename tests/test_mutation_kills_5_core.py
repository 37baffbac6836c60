"""Tests that kill the core modules' mutants the fifth mutation run found surviving.

Grouped by the module whose mutants they kill; each test names the behaviour a user
relies on. Equivalent mutants are listed in MUTATION.md.
"""

import fractions
import json
import re

import numpy as np
import pytest
import torch

from tests._exact import exactly, raises_exactly

X3 = np.random.RandomState(0).randn(40, 3).astype(np.float32)
Y3 = X3.sum(axis=1)


# ------------------------------------------------------------ _checkpoint_store.py
def _fit_with_checkpoint(tmp_path, **checkpoint_kw):
    from sktorch import NeuralNetRegressor
    from sktorch.callbacks import Checkpoint

    cp = Checkpoint(dirname=str(tmp_path), monitor=None, **checkpoint_kw)
    net = NeuralNetRegressor(max_epochs=3, verbose=0, random_state=0, callbacks=[cp])
    return cp, net.fit(X3, Y3)


def test_history_of_a_prefixed_checkpoint_loads_from_its_store(tmp_path):
    from sktorch import NeuralNetRegressor

    _, net = _fit_with_checkpoint(tmp_path, fn_prefix="a_")
    (tmp_path / "a_history.json").unlink()  # the plain copy is gone; the store keeps it
    fresh = NeuralNetRegressor(max_epochs=3, verbose=0, random_state=0).fit(X3, Y3)
    fresh.load_params(f_history=tmp_path / "a_history.json")
    assert fresh.history[:, "train_loss"] == net.history[:, "train_loss"]


def test_checkpoint_history_loads_although_its_weights_file_is_damaged(tmp_path):
    from sktorch import NeuralNetRegressor

    _, net = _fit_with_checkpoint(tmp_path)
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    newest = manifest["entries"][0]
    params = tmp_path / ".sktorch" / "default" / newest["dir"] / "params.pt"
    params.write_bytes(b"damaged")  # only the history is asked for
    fresh = NeuralNetRegressor(max_epochs=3, verbose=0, random_state=0).fit(X3, Y3)
    fresh.load_params(f_history=tmp_path / "history.json")
    assert len(fresh.history) == 3
    assert fresh.history[:, "train_loss"] == net.history[:, "train_loss"]


class _TaggedModule(torch.nn.Module):
    """A module whose extra state is an object weights_only loading refuses."""

    def __init__(self):
        super().__init__()
        self.lin = torch.nn.Linear(3, 1)
        self.tag = fractions.Fraction(1, 3)

    def forward(self, X):
        return self.lin(X)

    def get_extra_state(self):
        return {"tag": self.tag}

    def set_extra_state(self, state):
        self.tag = state["tag"]


def test_refused_checkpoint_weights_name_the_stored_file(tmp_path):
    from sktorch import NeuralNetRegressor
    from sktorch.callbacks import Checkpoint
    from sktorch.exceptions import CheckpointError

    cp = Checkpoint(dirname=str(tmp_path), monitor=None, f_optimizer=None,
                    f_criterion=None, f_history=None)
    NeuralNetRegressor(_TaggedModule, max_epochs=2, verbose=0, random_state=0,
                       callbacks=[cp]).fit(X3, Y3)
    newest = json.loads((tmp_path / "manifest.json").read_text())["entries"][0]
    stored = str(tmp_path / ".sktorch" / "default" / newest["dir"] / "params.pt")
    fresh = NeuralNetRegressor(_TaggedModule, verbose=0).initialize()
    with pytest.raises(CheckpointError, match="^" + re.escape(
            f"{stored!r} was refused as module weights: with weights_only=True it may hold "
            "only tensors and plain containers")):
        fresh.load_params(checkpoint=cp)


def test_checkpoint_file_names_before_any_save_are_the_names_it_will_write(tmp_path):
    from sktorch import NeuralNetRegressor
    from sktorch.callbacks import Checkpoint

    cp = Checkpoint(dirname=str(tmp_path))
    net = NeuralNetRegressor(max_epochs=1, verbose=0, callbacks=[cp]).initialize()
    assert cp.get_formatted_files(net) == {
        "f_params": str(tmp_path / "params.pt"),
        "f_optimizer": str(tmp_path / "optimizer.pt"),
        "f_criterion": str(tmp_path / "criterion.pt"),
        "f_history": str(tmp_path / "history.json"),
        "f_pickle": None,
    }


def test_a_history_value_json_cannot_hold_is_named_with_its_key_and_type(tmp_path):
    from sktorch import NeuralNetRegressor

    net = NeuralNetRegressor(max_epochs=1, verbose=0, random_state=0).fit(X3, Y3)
    net.history.record("tags", ["ok", fractions.Fraction(1, 3)])
    message = ("the history['tags'] holds Fraction(1, 3) of type Fraction, which cannot be "
               "saved as JSON. Record plain numbers, strings, bools, lists or dicts (numpy "
               "and torch values are converted), e.g. history.record(key, float(value)).")
    with raises_exactly(TypeError, message):
        net.save_params(f_history=tmp_path / "h.json")


def test_a_second_fresh_fit_checkpoints_only_its_own_history(tmp_path):
    from sktorch import NeuralNetRegressor
    from sktorch.callbacks import Checkpoint

    cp = Checkpoint(dirname=str(tmp_path), monitor=None)
    net = NeuralNetRegressor(max_epochs=2, verbose=0, random_state=0, callbacks=[cp])
    net.fit(X3, Y3)
    net.fit(X3, Y3)  # not warm_start: a new history, in a new log
    fresh = NeuralNetRegressor(verbose=0).initialize()
    fresh.load_params(checkpoint=cp)
    assert fresh.history[:, "epoch"] == [1, 2]
    assert fresh.history[:, "train_loss"] == net.history[:, "train_loss"]


def test_a_checkpoint_whose_history_log_was_removed_mid_fit_writes_a_whole_new_one(tmp_path):
    from sktorch import NeuralNetRegressor
    from sktorch.callbacks import Callback, Checkpoint

    class RemoveLogAfterEpoch2(Callback):  # e.g. another writer cleaned the store
        def on_epoch_end(self, net, **kwargs):
            if len(net.history) == 2:
                for log in (tmp_path / ".sktorch" / "default").glob("history-*.jsonl"):
                    log.unlink()

    cp = Checkpoint(dirname=str(tmp_path), monitor=None)
    net = NeuralNetRegressor(max_epochs=3, verbose=0, random_state=0,
                             callbacks=[cp, RemoveLogAfterEpoch2()]).fit(X3, Y3)
    fresh = NeuralNetRegressor(verbose=0).initialize()
    fresh.load_params(checkpoint=cp)
    assert fresh.history[:, "epoch"] == [1, 2, 3]
    assert fresh.history[:, "train_loss"] == net.history[:, "train_loss"]


def test_checkpoint_files_are_copied_where_hard_links_fail(tmp_path, monkeypatch):
    import os

    from sktorch import NeuralNetRegressor

    def no_links(src, dst):
        raise OSError("hard links are not supported here")

    monkeypatch.setattr(os, "link", no_links)
    cp, net = _fit_with_checkpoint(tmp_path)
    newest = json.loads((tmp_path / "manifest.json").read_text())["entries"][0]
    stored = tmp_path / ".sktorch" / "default" / newest["dir"] / "params.pt"
    assert (tmp_path / "params.pt").read_bytes() == stored.read_bytes()
    assert (tmp_path / "params.pt").stat().st_ino != stored.stat().st_ino  # a copy
    fresh = NeuralNetRegressor(verbose=0).initialize()
    fresh.load_params(f_params=tmp_path / "params.pt", checkpoint=cp)
    np.testing.assert_array_equal(fresh.predict(X3), net.predict(X3))


def test_a_damaged_checkpoint_manifest_says_how_to_start_afresh(tmp_path):
    from sktorch import NeuralNetRegressor
    from sktorch.exceptions import CheckpointError

    cp, _ = _fit_with_checkpoint(tmp_path)
    (tmp_path / "manifest.json").write_text("not json")
    message = (f"The checkpoint manifest {tmp_path / 'manifest.json'} is damaged or not a "
               "sktorch manifest. Delete it (and the .sktorch folder beside it) to start "
               "afresh.")
    with raises_exactly(CheckpointError, message):
        NeuralNetRegressor(verbose=0).initialize().load_params(checkpoint=cp)


def test_the_checkpoint_manifest_is_indented_for_people_to_read(tmp_path):
    _fit_with_checkpoint(tmp_path)
    text = (tmp_path / "manifest.json").read_text()
    assert text == json.dumps(json.loads(text), indent=1)
    assert '\n "entries": [' in text


# ------------------------------------------------------------ _net_data.py
def test_a_one_row_torch_dataset_sizes_the_builtin_mlp():
    from torch.utils.data import TensorDataset

    from sktorch import NeuralNetRegressor

    dataset = TensorDataset(torch.ones(1, 3), torch.ones(1, 1))
    net = NeuralNetRegressor(max_epochs=1, verbose=0, train_split=None, random_state=0)
    net.fit(dataset)
    assert (net.module_.input_units, net.module_.output_units) == (3, 1)


def test_a_split_too_fine_for_the_data_says_how_to_fix_it():
    from sktorch import NeuralNetRegressor
    from sktorch.dataset import ValidSplit

    message = ("train_split=ValidSplit(cv=5, stratified=False, random_state=None) cannot "
               "split 3 samples into training and validation data: Cannot have number of "
               "splits n_splits=5 greater than the number of samples: n_samples=3. Pass "
               "train_split=None to train on all samples without validation, or a smaller "
               "cv, e.g. train_split=ValidSplit(2) or ValidSplit(0.5).")
    net = NeuralNetRegressor(max_epochs=1, verbose=0, train_split=ValidSplit(5))
    with raises_exactly(ValueError, message):
        net.fit(X3[:3], Y3[:3])


def test_a_class_index_loss_on_the_builtin_mlp_names_the_loss_to_use():
    from sktorch import NeuralNet

    net = NeuralNet(None, criterion=torch.nn.CrossEntropyLoss, max_epochs=1, verbose=0)
    message = ("NeuralNet(module=None) gives the built-in MLP one output per column of y, "
               "here 1, but CrossEntropyLoss takes class indices as y and needs one output "
               "per class. Use NeuralNetClassifier(criterion=torch.nn.CrossEntropyLoss) (or "
               "NeuralNetClassifier() with its default loss), which sizes the outputs from "
               "the classes and predicts labels; or pass module__output_units=<number of "
               "classes>.")
    with raises_exactly(ValueError, message):
        net.fit(X3, (Y3 > 0).astype(np.int64))


def test_a_plain_net_validates_on_a_stratified_split_of_its_labels():
    from sktorch import NeuralNet
    from sktorch.dataset import ValidSplit

    labels = np.arange(40) % 2
    net = NeuralNet(torch.nn.Linear, module__in_features=3, module__out_features=2,
                    criterion=torch.nn.CrossEntropyLoss, max_epochs=1, verbose=0,
                    train_split=ValidSplit(5, stratified=True))
    net.fit(X3, labels)
    assert [row.get("valid_batch_size") for row in net.history[-1, "batches"]] == [None, 8]


def test_a_rare_class_in_a_stratified_split_warns_once():
    from sktorch import NeuralNetClassifier
    from sktorch.dataset import ValidSplit

    y = np.array([0] * 9 + [1] + [0] * 2)
    net = NeuralNetClassifier(classes=[0, 1, 2], max_epochs=1, verbose=0,
                              train_split=ValidSplit(5, stratified=True))
    with pytest.warns(UserWarning) as record:
        net.fit(X3[:12], y)
    messages = [str(w.message) for w in record if "least populated" in str(w.message)]
    assert messages == [
        "The least populated class in y has only 1 members, which is less than n_splits=5."]


class _SplitRecorder:
    """A user's train_split: records the y it is given, then validates on nothing."""

    def __init__(self):
        self.ys = []

    def __call__(self, dataset, y=None):
        self.ys.append(y)
        return dataset, None


def test_a_list_y_reaches_a_custom_train_split_as_an_array():
    from sktorch import NeuralNet

    split = _SplitRecorder()
    y = [[float(v)] for v in Y3]
    NeuralNet(torch.nn.Linear, module__in_features=3, module__out_features=1,
              criterion=torch.nn.MSELoss, max_epochs=1, verbose=0,
              train_split=split).fit(X3, y)
    assert isinstance(split.ys[0], np.ndarray)
    np.testing.assert_array_equal(split.ys[0], np.asarray(y))


def test_a_pandas_y_reaches_a_custom_train_split_as_given():
    pd = pytest.importorskip("pandas")
    from sktorch import NeuralNet

    split = _SplitRecorder()
    y = pd.DataFrame({"target": Y3}, index=np.arange(100, 140))
    NeuralNet(torch.nn.Linear, module__in_features=3, module__out_features=1,
              criterion=torch.nn.MSELoss, max_epochs=1, verbose=0,
              train_split=split).fit(X3, y)
    assert split.ys[0] is y  # its index (e.g. for group-wise splits) is intact


def test_validation_score_of_a_torch_dataset_uses_its_targets():
    from torch.utils.data import TensorDataset

    from sktorch import NeuralNetRegressor
    from sktorch.callbacks import EpochScoring
    from sktorch.helper import predefined_split

    Xv = np.random.RandomState(1).randn(10, 3).astype(np.float32)
    yv = Xv.sum(axis=1, keepdims=True)
    valid = TensorDataset(torch.from_numpy(Xv), torch.from_numpy(yv))
    train = TensorDataset(torch.from_numpy(X3), torch.from_numpy(Y3[:, None]))
    net = NeuralNetRegressor(
        max_epochs=1, verbose=0, random_state=0, train_split=predefined_split(valid),
        callbacks=[EpochScoring("neg_mean_squared_error", name="valid_nmse")])
    net.fit(train)
    expected = -np.mean((net.predict(Xv).reshape(-1, 1) - yv) ** 2)
    assert net.history[-1, "valid_nmse"] == pytest.approx(expected, rel=1e-5)


# ------------------------------------------------------------ engine.py
def test_weighted_fit_validates_on_an_unweighted_predefined_dataset():
    from sktorch import NeuralNetRegressor
    from sktorch.dataset import Dataset
    from sktorch.helper import predefined_split

    Xv = np.random.RandomState(1).randn(10, 3).astype(np.float32)
    yv = Xv.sum(axis=1)
    net = NeuralNetRegressor(torch.nn.Linear, module__in_features=3, module__out_features=1,
                             max_epochs=1, verbose=0, random_state=0,
                             train_split=predefined_split(Dataset(Xv, yv[:, None])))
    net.fit(X3, Y3, sample_weight=np.ones(40))
    train_row, valid_row = net.history[-1, "batches"]
    assert train_row["train_batch_weight"] == 40.0
    assert set(valid_row) == {"valid_loss", "valid_batch_size"}
    assert valid_row["valid_loss"] == pytest.approx(
        np.mean((net.predict(Xv) - yv) ** 2), rel=1e-4)


def test_the_first_stop_request_decides_what_fit_raises():
    from sktorch import NeuralNetRegressor
    from sktorch.callbacks import Callback

    class TwoStops(Callback):
        def on_epoch_end(self, net, **kwargs):
            net.request_stop("first", raise_after=RuntimeError("first"))
            net.request_stop("second", raise_after=RuntimeError("second"))

    net = NeuralNetRegressor(max_epochs=3, verbose=0, random_state=0, callbacks=[TwoStops()])
    with pytest.raises(RuntimeError, match="^first$"):
        net.fit(X3, Y3)
    assert net.history[-1, "stop_reason"] == "first"
    assert len(net.history) == 1


# ------------------------------------------------------------ persistence.py
def test_resuming_a_checkpoint_on_y_of_other_dimensions_is_refused(tmp_path):
    from sktorch import NeuralNetRegressor
    from sktorch.callbacks import Checkpoint, LoadInitState

    def make():
        cp = Checkpoint(dirname=str(tmp_path), monitor=None)
        return NeuralNetRegressor(max_epochs=1, verbose=0, random_state=0,
                                  callbacks=[cp, LoadInitState(cp)])

    make().fit(X3, Y3)
    message = (f"The checkpoint in {str(tmp_path)!r} was saved by a net trained on other "
               "data (y dimensions: 1 there, 2 in this fit). Resuming would give each "
               "output (or input) another meaning. Use another checkpoint directory "
               "(dirname=...) for this data, or fit the data the checkpoint was trained on.")
    with raises_exactly(ValueError, message):
        make().fit(X3, Y3[:, None])


def test_loading_weights_into_an_unsized_builtin_mlp_says_how_to_size_it(tmp_path):
    from sktorch import NeuralNetRegressor
    from sktorch.exceptions import NotInitializedError

    NeuralNetRegressor(max_epochs=1, verbose=0, random_state=0).fit(X3, Y3).save_params(
        f_params=tmp_path / "w.pt")
    net = NeuralNetRegressor(verbose=0).initialize()
    message = ("This NeuralNetRegressor has no module to load the weights into yet: with "
               "module=None the built-in MLP is sized from the training data (features "
               "and outputs), so initialize() cannot build it. Call "
               "net.initialize_like(fitted_net) with the net the weights come from, or fit "
               "the net first (e.g. net.fit(X, y) on data of the same shape), or load a "
               "Checkpoint (load_params(checkpoint=cp)), which records the sizes.")
    with raises_exactly(NotInitializedError, message):
        net.load_params(f_params=tmp_path / "w.pt")


def test_loading_an_optimizer_into_a_trimmed_net_says_what_to_do(tmp_path):
    from sktorch import NeuralNetRegressor

    net = NeuralNetRegressor(max_epochs=1, verbose=0, random_state=0).fit(X3, Y3)
    net.save_params(f_optimizer=tmp_path / "o.pt")
    net.trim_for_prediction()
    message = ("This net has no optimizer to load into: trim_for_prediction() dropped it. "
               "Call initialize_optimizer() first, or load only the weights.")
    with raises_exactly(ValueError, message):
        net.load_params(f_optimizer=tmp_path / "o.pt")


def test_weights_load_into_a_net_without_a_device(tmp_path):
    from sktorch import NeuralNetRegressor

    net = NeuralNetRegressor(max_epochs=1, verbose=0, random_state=0, device=None)
    net.fit(X3, Y3).save_params(f_params=tmp_path / "w.pt")
    other = NeuralNetRegressor(max_epochs=1, verbose=0, random_state=1, device=None)
    other.fit(X3, Y3).load_params(f_params=tmp_path / "w.pt")
    np.testing.assert_array_equal(other.predict(X3), net.predict(X3))


def test_saving_the_optimizer_with_safetensors_is_refused_with_the_way_out(tmp_path):
    pytest.importorskip("safetensors")
    from sktorch import NeuralNetRegressor

    net = NeuralNetRegressor(max_epochs=1, verbose=0, random_state=0).fit(X3, Y3)
    message = ("The optimizer's state cannot be saved with safetensors; save it with "
               "use_safetensors=False (torch format, loaded with weights_only=True).")
    with raises_exactly(ValueError, message):
        net.save_params(f_optimizer=tmp_path / "o.st", use_safetensors=True)


def test_the_doctor_on_a_trimmed_net_says_it_cannot_train():
    from sktorch import NeuralNetRegressor
    from sktorch.helper import SktorchDoctor

    net = NeuralNetRegressor(max_epochs=1, verbose=0, random_state=0).fit(X3, Y3)
    net.trim_for_prediction()
    before = net.predict(X3)
    message = ("This net was trimmed with trim_for_prediction(), which dropped its "
               "optimizer, callbacks and history, so it cannot partial_fit. Call fit() to "
               "train anew (it rebuilds them), or keep an untrimmed copy to continue "
               "training (e.g. copy.deepcopy(net) before trimming).")
    with raises_exactly(ValueError, message):
        SktorchDoctor(net).fit(X3, Y3)
    np.testing.assert_array_equal(net.predict(X3), before)  # untouched: it still predicts


def test_a_checkpoint_restores_the_float64_predictions_of_a_float64_fit(tmp_path):
    from sktorch import NeuralNetRegressor
    from sktorch.callbacks import Checkpoint

    cp = Checkpoint(dirname=str(tmp_path), monitor=None)
    y64 = Y3.astype(np.float64)
    net = NeuralNetRegressor(max_epochs=1, verbose=0, random_state=0, callbacks=[cp])
    net.fit(X3, y64)
    fresh = NeuralNetRegressor(verbose=0).initialize()
    fresh.load_params(checkpoint=cp)
    assert fresh.predict(X3).dtype == np.float64
    np.testing.assert_array_equal(fresh.predict(X3), net.predict(X3))


def _net_with_extra_part():
    from sktorch import NeuralNetRegressor

    net = NeuralNetRegressor(max_epochs=1, verbose=0, random_state=0).fit(X3, Y3)
    net.extra_ = torch.nn.Linear(2, 2)  # a part saved as f_extra
    return net


def test_an_empty_file_of_an_extra_part_names_the_part(tmp_path):
    from sktorch.exceptions import CheckpointError

    net = _net_with_extra_part()
    path = tmp_path / "extra.pt"
    path.write_bytes(b"")
    message = (f"{str(path)!r} is empty (0 bytes), so it holds no extra_ state. It was "
               "probably written by a process that was killed, or truncated; save it again "
               "(or load a checkpoint through net.load_params(checkpoint=cp), which "
               "verifies files).")
    with raises_exactly(CheckpointError, message):
        net.load_params(f_extra=path)


def test_an_unreadable_file_of_an_extra_part_names_the_part(tmp_path):
    from sktorch.exceptions import CheckpointError

    net = _net_with_extra_part()
    path = tmp_path / "extra.pt"
    path.write_bytes(b"this is not a torch file")
    with pytest.raises(CheckpointError, match="^" + re.escape(
            f"{str(path)!r} is not a readable torch file of extra_ state: ")):
        net.load_params(f_extra=path)


def test_saving_the_optimizer_of_a_trimmed_net_says_what_to_save(tmp_path):
    from sktorch import NeuralNetRegressor

    net = NeuralNetRegressor(max_epochs=1, verbose=0, random_state=0).fit(X3, Y3)
    net.trim_for_prediction()
    message = ("This net has no optimizer to save: trim_for_prediction() dropped it. Save "
               "only what predicting needs (f_params=...), or save before trimming.")
    with raises_exactly(ValueError, message):
        net.save_params(f_optimizer=tmp_path / "o.pt")


def test_saving_an_unknown_part_lists_the_parts_that_can_be_saved(tmp_path):
    from sktorch import NeuralNetRegressor

    net = NeuralNetRegressor(max_epochs=1, verbose=0, random_state=0).fit(X3, Y3)
    message = ("f_foo=... saves the net's attribute 'foo_', but the net has no such "
               "attribute. Attributes that can be saved: ['criterion_', 'module_', "
               "'optimizer_']; name them f_<name> without the trailing underscore (f_params "
               "is module_, e.g. f_module2 for module2_).")
    with raises_exactly(ValueError, message):
        net.save_params(f_foo=tmp_path / "foo.pt")


def test_a_weights_file_of_other_bytes_is_named_as_damaged(tmp_path):
    from sktorch import NeuralNetRegressor
    from sktorch.exceptions import CheckpointError

    net = NeuralNetRegressor(max_epochs=1, verbose=0, random_state=0).fit(X3, Y3)
    path = tmp_path / "w.pt"
    path.write_bytes(b"this is not a torch file")  # torch's unpickler: IndexError
    with pytest.raises(CheckpointError, match="^" + re.escape(
            f"{str(path)!r} is not a readable torch file of module weights: ")):
        net.load_params(f_params=path)


def test_unpickling_a_net_of_another_sktorch_version_warns_what_to_do():
    from sktorch import NeuralNetRegressor
    from sktorch._version import __version__
    from sktorch.exceptions import VersionMismatchWarning

    net = NeuralNetRegressor(max_epochs=1, verbose=0, random_state=0).fit(X3, Y3)
    state = net.__getstate__()  # what pickle stores
    state["_versions"] = {"sktorch": "0.0.1", "torch": torch.__version__}
    message = (f"This net was saved with sktorch 0.0.1 and is loaded with sktorch "
               f"{__version__}; if it misbehaves, re-train it or load its weights with "
               "load_params.")
    restored = NeuralNetRegressor.__new__(NeuralNetRegressor)
    with pytest.warns(VersionMismatchWarning, match=exactly(message)):
        restored.__setstate__(state)
    np.testing.assert_array_equal(restored.predict(X3), net.predict(X3))


def test_a_net_without_a_device_pickled_on_an_accelerator_unpickles_on_the_cpu():
    from sktorch import NeuralNetRegressor

    net = NeuralNetRegressor(max_epochs=1, verbose=0, random_state=0, device=None)
    net.fit(X3, Y3)
    state = net.__getstate__()  # what pickle stores
    raw = state["_torch_state"]
    assert raw.count(b"cpu") == 1  # the location tag of its tensors (pickled once)
    state["_torch_state"] = raw.replace(b"cpu", b"mps")  # as saved on an Apple GPU
    restored = NeuralNetRegressor.__new__(NeuralNetRegressor)
    restored.__setstate__(state)
    assert next(restored.module_.parameters()).device.type == "cpu"
    np.testing.assert_array_equal(restored.predict(X3), net.predict(X3))


# ------------------------------------------------------------ regressor.py
def test_builtin_regressor_predicts_a_float64_fit_in_float64_arithmetic():
    import copy

    from sktorch import NeuralNetRegressor

    net = NeuralNetRegressor(max_epochs=1, verbose=0, random_state=0)
    net.fit(X3, Y3.astype(np.float64))
    with torch.no_grad():  # float32 arithmetic would differ by ~1e-7
        expected = copy.deepcopy(net.module_).double().eval()(torch.from_numpy(X3))
    prediction = net.predict(X3)
    assert prediction.dtype == np.float64
    np.testing.assert_allclose(prediction, expected.numpy()[:, 0], rtol=1e-13, atol=0)


def test_a_nan_in_y_is_named_as_y():
    from sktorch import NeuralNetRegressor

    y = Y3.copy()
    y[3] = np.nan
    with pytest.raises(ValueError, match=r"^Input y contains NaN\.$"):
        NeuralNetRegressor(max_epochs=1, verbose=0).fit(X3, y)


def test_a_bfloat16_tensor_y_gives_float32_predictions():
    from sktorch import NeuralNetRegressor

    y = torch.from_numpy(Y3).to(torch.bfloat16)
    net = NeuralNetRegressor(max_epochs=1, verbose=0, random_state=0, train_split=None)
    assert net.fit(X3, y).predict(X3).dtype == np.float32


def test_a_torch_dataset_of_2d_rows_is_refused_by_the_builtin_mlp():
    from torch.utils.data import TensorDataset

    from sktorch import NeuralNetRegressor

    dataset = TensorDataset(torch.ones(10, 2, 3), torch.ones(10, 1))
    net = NeuralNetRegressor(max_epochs=1, verbose=0, train_split=None)
    with pytest.raises(ValueError, match=re.escape(
            "The built-in MLP (module=None) takes 2-D X of shape (n_samples, n_features); "
            "got X of shape (2, 3). Flatten X (e.g. X.reshape(len(X), -1)) or pass your own "
            "module (e.g. a CNN) with module=...")):
        net.fit(dataset)


# ------------------------------------------------------------ net.py
def test_predicting_before_fit_says_to_fit_first():
    from sktorch import NeuralNetRegressor
    from sktorch.exceptions import NotInitializedError

    message = ("This NeuralNetRegressor is not initialized yet; call fit (or initialize) "
               "before using it.")
    with raises_exactly(NotInitializedError, message):
        NeuralNetRegressor(verbose=0).predict(X3)
