"""Checkpoints and saved files a user can trust: atomic sets, checksums, damage, LBFGS."""

import hashlib
import io
import json
import os
import pickle
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
from sklearn.base import clone

import sktorch._checkpoint_store as store_module
from sktorch import NeuralNetClassifier, NeuralNetRegressor
from sktorch._checkpoint_store import CheckpointError
from sktorch.callbacks import Callback, Checkpoint, LoadInitState, TrainEndCheckpoint
from tests.conftest import RegressorModule

RNG = np.random.RandomState(0)
X = RNG.randn(80, 8).astype(np.float32)
Y = (X[:, :1] + 0.3 * RNG.randn(80, 1)).astype(np.float32)


def make_net(callbacks=(), **kwargs):
    params = dict(module=RegressorModule, max_epochs=4, lr=0.05, verbose=0, random_state=0,
                  optimizer=torch.optim.Adam)
    params.update(kwargs)
    return NeuralNetRegressor(callbacks=list(callbacks), **params)


def weights(net):
    return {k: v.clone() for k, v in net.module_.state_dict().items()}


def same(a, b):
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


class Record(Callback):
    """Records ``value`` in every epoch's row (before the checkpoint saves)."""

    def __init__(self, key="x", value=None):
        self.key = key
        self.value = value

    def on_epoch_end(self, net, **kwargs):
        net.history.record(self.key, self.value)


# --------------------------------------------------------------- 9.11 LBFGS
def lbfgs_net(**kwargs):
    return NeuralNetRegressor(hidden_units=5, optimizer=torch.optim.LBFGS, lr=0.1,
                              max_epochs=3, verbose=0, random_state=0, train_split=None,
                              **kwargs)


def test_unpickled_lbfgs_net_trains_on_to_the_same_weights():
    net = lbfgs_net().fit(X, Y)
    copy = pickle.loads(pickle.dumps(net))
    net.partial_fit(X, Y)
    copy.partial_fit(X, Y)  # failed with "'LBFGS' object has no attribute '_params'"
    assert same(weights(copy), weights(net))
    assert copy.history[:, "train_loss"] == net.history[:, "train_loss"]


def test_lbfgs_pickle_holds_no_more_than_its_curvature_pairs():
    sgd = NeuralNetRegressor(hidden_units=5, lr=0.1, max_epochs=3, verbose=0, random_state=0,
                             train_split=None).fit(X, Y)
    net = lbfgs_net().fit(X, Y)
    state = net.optimizer_.state_dict()["state"][0]
    curvature = sum(t.numel() * t.element_size() for key in ("old_dirs", "old_stps")
                    for t in state[key])
    # before: each of ~300 small tensors cost a record of its own (about 10x an SGD net)
    assert len(pickle.dumps(net)) <= len(pickle.dumps(sgd)) + curvature + 8_000


def test_lbfgs_optimizer_file_resumes_to_the_same_weights(tmp_path):
    net = lbfgs_net().fit(X, Y)
    net.save_params(f_params=tmp_path / "p.pt", f_optimizer=tmp_path / "o.pt")
    fresh = lbfgs_net().initialize_like(net)
    fresh.load_params(f_params=tmp_path / "p.pt", f_optimizer=tmp_path / "o.pt")
    fresh._random_state = pickle.loads(pickle.dumps(net._random_state))
    net.partial_fit(X, Y)
    fresh.partial_fit(X, Y)
    assert same(weights(fresh), weights(net))


# ---------------------------------------------------- 9.12 trim_for_prediction
def test_trimmed_net_refuses_partial_fit_and_optimizer_saving_by_name(tmp_path):
    net = make_net().fit(X, Y).trim_for_prediction()
    with pytest.raises(ValueError, match="trim_for_prediction.*fit\\(\\)"):
        net.partial_fit(X, Y)
    with pytest.raises(ValueError, match="trim_for_prediction"):
        net.save_params(f_params=tmp_path / "p.pt", f_optimizer=tmp_path / "o.pt")
    assert os.listdir(tmp_path) == []  # refused before anything was written
    net.save_params(f_params=tmp_path / "p.pt")  # the weights still save
    assert net.fit(X, Y).optimizer_ is not None  # fit rebuilds what was dropped


# --------------------------------------------------------- 9.13 atomic sets
def test_checkpoint_is_one_set_named_by_its_manifest(tmp_path):
    cp = Checkpoint(monitor=None, dirname=str(tmp_path))
    net = make_net([cp]).fit(X, Y)
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    newest, previous = manifest["entries"]  # the newest set and one complete fallback
    assert (newest["epoch"], previous["epoch"]) == (4, 3)
    assert sorted(newest["files"]) == ["f_criterion", "f_optimizer", "f_params"]
    version = tmp_path / ".sktorch" / "default" / newest["dir"]
    assert os.path.samefile(version / "params.pt", tmp_path / "params.pt")  # skorch's name
    assert same(torch.load(tmp_path / "params.pt", weights_only=True), weights(net))
    # old versions are removed: two sets, one history log and the lock remain
    assert len(os.listdir(tmp_path / ".sktorch" / "default")) == 4


def test_an_interrupted_save_leaves_the_previous_set_and_is_cleaned_up(tmp_path, monkeypatch):
    cp = Checkpoint(monitor=None, dirname=str(tmp_path))
    net = make_net([cp], max_epochs=2).fit(X, Y)
    before = weights(net)
    real_write, calls = store_module._write_file, []

    def crash_on_second_file(path, data):
        calls.append(path)
        if len(calls) == 2:
            raise OSError("killed mid-save")
        real_write(path, data)

    monkeypatch.setattr(store_module, "_write_file", crash_on_second_file)
    with pytest.raises(OSError, match="killed mid-save"):
        net.partial_fit(X, Y)
    monkeypatch.undo()
    fresh = make_net().initialize()
    fresh.load_params(checkpoint=cp)
    assert same(weights(fresh), before) and len(fresh.history) == 2
    store = tmp_path / ".sktorch" / "default"
    assert len(os.listdir(store)) == 5  # the half-written version is still there ...
    net.partial_fit(X, Y)
    assert len(os.listdir(store)) == 4  # ... until the next save removes it


KILLED_TRAINING = textwrap.dedent("""
    import json, os, pickle, random, select, signal, sys, time, warnings
    import numpy as np
    import torch
    torch.set_num_threads(1)  # no thread pools across fork()
    from sktorch import NeuralNetRegressor
    from sktorch.callbacks import Callback, Checkpoint, LoadInitState

    dirname, n_kills, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    rng = np.random.RandomState(0)
    X = rng.randn(64, 32).astype("float32"); y = X[:, :1].copy()

    class Counted(torch.nn.Module):  # its weights file says which epoch it is from
        def __init__(self):
            super().__init__()
            self.hidden = torch.nn.Linear(32, 512)
            self.out = torch.nn.Linear(512, 1)
            self.register_buffer("epochs", torch.zeros((), dtype=torch.long))

        def forward(self, X):
            return self.out(torch.relu(self.hidden(X)))

    class CountedLoss(torch.nn.MSELoss):
        def __init__(self):
            super().__init__()
            self.register_buffer("epochs", torch.zeros((), dtype=torch.long))

    class CountEpoch(Callback):
        def on_epoch_end(self, net, **kwargs):
            net.module_.epochs += 1
            net.criterion_.epochs += 1

    def make(callbacks, max_epochs=10**6):
        return NeuralNetRegressor(Counted, criterion=CountedLoss, optimizer=torch.optim.Adam,
                                  max_epochs=max_epochs, batch_size=32, train_split=None,
                                  verbose=0, callbacks=callbacks)

    class Started(Callback):  # tells the parent when training (not loading) has begun
        def __init__(self, fd=None):
            self.fd = fd

        def on_epoch_end(self, net, **kwargs):
            net.history.record("ended", time.perf_counter())

        def on_epoch_begin(self, net, **kwargs):
            if self.fd is not None:
                os.write(self.fd, b"1")
                self.fd = None

    def training(max_epochs=10**6, where=dirname, fd=None):
        cp = Checkpoint(monitor=None, dirname=where, f_pickle="net.pkl")
        return make([CountEpoch(), cp, LoadInitState(cp), Started(fd)], max_epochs).fit(X, y)

    def store_state():
        store = os.path.join(dirname, ".sktorch", "default")
        if not os.path.exists(os.path.join(dirname, "manifest.json")):
            return 0
        with open(os.path.join(dirname, "manifest.json")) as handle:
            entries = json.load(handle)["entries"]
        used = {e["dir"] for e in entries} | {e["history"]["log"] for e in entries} | {"lock"}
        return len(set(os.listdir(store)) - used)

    def check():
        unreferenced = store_state()
        net = make([]).initialize()
        cp = Checkpoint(monitor=None, dirname=dirname, f_pickle="net.pkl")
        try:
            net.load_params(checkpoint=cp)
        except FileNotFoundError:
            return {"epoch": 0, "unreferenced": unreferenced}
        steps = sorted({int(s["step"]) for s in net.optimizer_.state_dict()["state"].values()})
        pickled = pickle.loads(cp.read_checkpoint(net).files["f_pickle"])
        return {"epoch": net.history[-1]["epoch"], "rows": len(net.history),
                "module": int(net.module_.epochs), "criterion": int(net.criterion_.epochs),
                "pickle": int(pickled.module_.epochs), "adam_steps": steps,
                "unreferenced": unreferenced}

    random.seed(seed)
    # the time of an epoch with its save on this machine now: kills land within 3 epochs
    warm = training(max_epochs=6, where=dirname + "-warmup")
    epoch_time = float(np.median(np.diff(warm.history[:, "ended"])))
    warnings.simplefilter("error")  # falling back to an older set would mean a broken commit
    results = []
    for _ in range(n_kills):
        read_end, write_end = os.pipe()
        pid = os.fork()
        if pid == 0:
            try:
                warnings.simplefilter("ignore")
                training(fd=write_end)
            finally:
                os._exit(0)
        select.select([read_end], [], [], 60)  # the child has loaded and begun training
        os.close(read_end)
        os.close(write_end)
        time.sleep(random.uniform(0, 3 * epoch_time))
        os.kill(pid, signal.SIGKILL)  # no cleanup, no finally blocks
        os.waitpid(pid, 0)
        results.append(check())
    final = training(max_epochs=2)
    tmp = [n for n in os.listdir(dirname) if n.endswith("sktorch-tmp")]
    print(json.dumps({"kills": results, "final_epochs": final.history[:, "epoch"],
                      "unreferenced": store_state(), "tmp": tmp}))
""")


@pytest.mark.skipif(not hasattr(os, "fork"), reason="forks a process per kill")
def test_checkpoints_survive_30_sigkills_as_whole_sets(tmp_path):
    """30 SIGKILLs at random moments of checkpointed training; after each, the directory
    loads as one epoch's set: weights, criterion, optimizer and history agree."""
    script, dirname = tmp_path / "train.py", tmp_path / "cp"
    script.write_text(KILLED_TRAINING)
    env = {**os.environ, "PYTHONPATH": os.getcwd()}
    done = subprocess.run([sys.executable, str(script), str(dirname), "30", "0"], env=env,
                          capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout.strip().splitlines()[-1])
    kills = out["kills"]
    assert len(kills) == 30
    epochs = [k["epoch"] for k in kills]
    assert epochs == sorted(epochs) and epochs[-1] > 5  # never lost a completed set
    for k in kills:
        if k["epoch"]:
            assert k["rows"] == k["module"] == k["criterion"] == k["pickle"] == k["epoch"], k
            assert k["adam_steps"] == [2 * k["epoch"]], k  # two batches per epoch
    assert any(k["unreferenced"] for k in kills)  # some kills did land mid-save
    assert out["final_epochs"] == list(range(1, epochs[-1] + 3))
    assert out["unreferenced"] == 0 and out["tmp"] == []  # leftovers were cleaned up


# ------------------------------------------------- 9.14 numpy values in history
@pytest.mark.parametrize("value", [np.float32(1.5), torch.tensor(1.5), np.array([1.5])])
def test_numpy_and_torch_values_in_the_history_are_saved(tmp_path, value):
    cp = Checkpoint(monitor=None, dirname=str(tmp_path))
    make_net([Record("x", value), cp], max_epochs=2).fit(X, Y)
    fresh = make_net().initialize()
    fresh.load_params(checkpoint=cp)
    assert fresh.history[:, "x"] in ([1.5, 1.5], [[1.5], [1.5]])
    h = tmp_path / "h.json"
    fresh.history.record("y", np.int64(3))
    fresh.save_params(f_history=h)
    assert json.loads(h.read_text())[-1]["y"] == 3


def test_a_value_that_cannot_be_saved_writes_nothing(tmp_path):
    cp = Checkpoint(monitor=None, dirname=str(tmp_path))
    net = make_net([Record("x", 1.0), cp], max_epochs=1).fit(X, Y)
    saved = weights(net)
    net.set_params(callbacks__Record__value=object())
    with pytest.raises(TypeError, match="'x'.*cannot be saved as JSON"):
        net.partial_fit(X, Y)
    fresh = make_net().initialize()
    fresh.load_params(checkpoint=cp)
    assert same(weights(fresh), saved) and len(fresh.history) == 1
    with pytest.raises(TypeError, match="JSON"):
        net.save_params(f_params=tmp_path / "p.pt", f_history=tmp_path / "h.json")
    assert not (tmp_path / "p.pt").exists()  # the weights were not written first


# ------------------------------------------- 9.15 saving costs O(new epochs)
def test_bytes_written_per_save_stay_bounded_as_epochs_grow(tmp_path, monkeypatch):
    written = []
    real_write, real_log = store_module._write_file, store_module.CheckpointStore._write_history

    def count_file(path, data):
        written[-1] += len(data)
        real_write(path, data)

    def count_log(self, plan, history):
        written[-1] += sum(len(line) + 1 for line in plan["lines"])
        return real_log(self, plan, history)

    class NewSave(Callback):
        def on_epoch_begin(self, net, **kwargs):
            written.append(0)

    monkeypatch.setattr(store_module, "_write_file", count_file)
    monkeypatch.setattr(store_module.CheckpointStore, "_write_history", count_log)
    cp = Checkpoint(monitor=None, dirname=str(tmp_path), f_optimizer=None, f_criterion=None)
    make_net([NewSave(), cp], max_epochs=60, optimizer=torch.optim.SGD).fit(X, Y)
    early, late = max(written[2:10]), max(written[50:])
    # the weights, one history row and the manifest: the same at epoch 60 as at epoch 5
    assert late <= early * 1.1, (early, late)


def test_rows_changed_after_the_save_are_saved_at_the_next_one(tmp_path):
    cp = Checkpoint(monitor=None, dirname=str(tmp_path))
    make_net([cp, Record("late", 1)], max_epochs=3).fit(X, Y)  # recorded after saving
    fresh = make_net().initialize()
    fresh.load_params(checkpoint=cp)
    assert [row.get("late") for row in fresh.history] == [1, 1, None]


def test_a_checkpoint_history_loads_by_its_plain_name(tmp_path):
    cp = Checkpoint(monitor=None, dirname=str(tmp_path))
    net = make_net([cp], max_epochs=3).fit(X, Y)
    fresh = make_net().initialize()
    fresh.load_params(f_params=tmp_path / "params.pt", f_history=tmp_path / "history.json")
    assert fresh.history[:, "train_loss"] == net.history[:, "train_loss"]


# ------------------------------------------------------ 9.16 file objects
def test_file_objects_hold_only_the_latest_save(tmp_path):
    f_params, f_opt = io.BytesIO(), io.BytesIO()
    cp = Checkpoint(monitor=None, f_params=f_params, f_optimizer=f_opt, f_criterion=None,
                    f_history=None)
    net = make_net([cp], max_epochs=1).fit(X, Y)
    size = len(f_params.getvalue())
    net.partial_fit(X, Y)
    assert len(f_params.getvalue()) == size  # overwritten, not appended
    fresh = make_net().initialize()
    fresh.load_params(checkpoint=cp)
    assert same(weights(fresh), weights(net))


def test_load_best_with_file_objects_restores_the_best_weights():
    rng = np.random.RandomState(1)
    Xv, yv = rng.randn(30, 8).astype(np.float32), rng.randn(30, 1).astype(np.float32)
    from sktorch.dataset import Dataset
    from sktorch.helper import predefined_split

    cp = Checkpoint(f_params=io.BytesIO(), f_optimizer=None, f_criterion=None, f_history=None,
                    load_best=True)
    net = make_net([cp], max_epochs=12, lr=0.2,
                   train_split=predefined_split(Dataset(Xv, yv))).fit(X, Y)
    mse = float(((net.predict(Xv).reshape(-1, 1) - yv) ** 2).mean())
    assert mse == pytest.approx(min(net.history[:, "valid_loss"]), rel=1e-5)


def test_file_objects_with_a_dirname_are_refused():
    cp = Checkpoint(dirname="somewhere", f_params=io.BytesIO())
    with pytest.raises(ValueError, match="dirname.*file object.*f_params"):
        make_net([cp]).fit(X, Y)


# ----------------------------------------------------------- 9.17 damage
def test_empty_params_file_names_the_file(tmp_path):
    (tmp_path / "params.pt").write_bytes(b"")
    with pytest.raises(CheckpointError, match="params.pt.*empty"):
        make_net().initialize().load_params(f_params=tmp_path / "params.pt")


def flip_a_bit_in(path: Path, needle: bytes) -> None:
    data = bytearray(path.read_bytes())
    at = data.find(needle)
    assert at >= 0
    data[at + len(needle) // 2] ^= 0x04
    with open(path, "r+b") as handle:  # in place, as a disk would (the links see it too)
        handle.write(bytes(data))


@pytest.mark.parametrize("use_safetensors", [False, True])
def test_a_flipped_bit_falls_back_to_the_previous_set(tmp_path, use_safetensors):
    cp = Checkpoint(monitor=None, dirname=str(tmp_path), use_safetensors=use_safetensors)
    net = make_net([cp], max_epochs=1).fit(X, Y)
    first = weights(net)
    net.partial_fit(X, Y)
    bias = net.module_.net[0].weight.detach().numpy().tobytes()
    flip_a_bit_in(tmp_path / "params.pt", bias)
    fresh = make_net().initialize()
    with pytest.warns(UserWarning, match="damaged.*epoch 1"):
        fresh.load_params(checkpoint=cp)
    assert same(weights(fresh), first) and len(fresh.history) == 1  # never a mix
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    older = tmp_path / ".sktorch" / "default" / manifest["entries"][1]["dir"] / "params.pt"
    flip_a_bit_in(older, first["net.0.weight"].numpy().tobytes())
    with pytest.raises(CheckpointError, match="No complete checkpoint.*checksum"):
        make_net().initialize().load_params(checkpoint=cp)


@pytest.mark.parametrize("content", ['{"epoch": 1}', "[1, 2]", '[{"batches": 3}]', "text"])
def test_a_history_that_is_not_a_list_of_epoch_rows_is_refused(tmp_path, content):
    path = tmp_path / "history.json"
    path.write_text(content)
    net = make_net().fit(X, Y)
    rows = list(net.history)
    with pytest.raises(CheckpointError, match="not a history"):
        net.load_params(f_history=path)
    assert list(net.history) == rows


@pytest.mark.parametrize("bad", [b"", b"garbage", b"PK\x03\x04 damaged zip"])
def test_load_params_assigns_nothing_when_one_file_is_damaged(tmp_path, bad):
    net = make_net(max_epochs=2).fit(X, Y)
    net.save_params(f_history=tmp_path / "h.json")
    target = make_net(max_epochs=1).fit(X, Y)
    before, rows = weights(target), list(target.history)
    (tmp_path / "bad.pt").write_bytes(bad)
    with pytest.raises(CheckpointError, match="bad.pt"):
        target.load_params(f_params=tmp_path / "bad.pt", f_history=tmp_path / "h.json")
    assert same(weights(target), before) and list(target.history) == rows


def test_load_params_rolls_back_when_a_later_state_does_not_fit(tmp_path):
    net = make_net(max_epochs=2).fit(X, Y)
    net.save_params(f_params=tmp_path / "p.pt", f_history=tmp_path / "h.json")
    target = make_net(max_epochs=1).fit(X, Y)
    before, rows = weights(target), list(target.history)
    with pytest.raises(RuntimeError, match="Unexpected key"):  # weights loaded, then this
        target.load_params(f_params=tmp_path / "p.pt", f_criterion=tmp_path / "p.pt",
                           f_history=tmp_path / "h.json")
    assert same(weights(target), before) and list(target.history) == rows


# ---------------------------------------------------------- 13.8 skorch usage
@pytest.mark.parametrize("module", [None, "class"])
def test_initialize_then_load_checkpoint_predicts_like_the_fitted_classifier(tmp_path, module):
    from tests.conftest import MultiClassModule

    y = np.array(["cat", "dog", "eel"])[(X[:, 0] > 0).astype(int) + (X[:, 1] > 0.5)]
    params = dict(max_epochs=3, lr=0.1, verbose=0, random_state=0)
    if module:
        params.update(module=MultiClassModule, module__n_features=8,
                      criterion=torch.nn.CrossEntropyLoss)
    cp = Checkpoint(monitor=None, dirname=str(tmp_path))
    net = NeuralNetClassifier(callbacks=[cp], **params).fit(X, y)
    fresh = NeuralNetClassifier(**params)
    fresh.initialize()
    fresh.load_params(checkpoint=cp)
    assert list(fresh.predict(X)) == list(net.predict(X))
    assert list(fresh.classes_) == ["cat", "dog", "eel"]


class TwoModules(NeuralNetRegressor):
    def initialize_module(self, *args, **kwargs):
        super().initialize_module(*args, **kwargs)
        self.mymodule_ = torch.nn.Linear(3, 2)
        return self


def test_checkpoint_saves_any_fitted_attribute_named_f_attribute(tmp_path):
    cp = Checkpoint(monitor=None, dirname=str(tmp_path), f_mymodule="mymodule.pt")
    assert clone(cp).get_params()["f_mymodule"] == "mymodule.pt"
    net = TwoModules(RegressorModule, max_epochs=1, verbose=0, callbacks=[cp]).fit(X, Y)
    saved = torch.load(tmp_path / "mymodule.pt", weights_only=True)
    assert same(saved, net.mymodule_.state_dict())
    fresh = TwoModules(RegressorModule, verbose=0).initialize()
    fresh.load_params(checkpoint=cp)
    assert same(fresh.mymodule_.state_dict(), net.mymodule_.state_dict())
    end = TrainEndCheckpoint(dirname=str(tmp_path), f_mymodule="mm.pt")
    TwoModules(RegressorModule, max_epochs=1, verbose=0, callbacks=[end]).fit(X, Y)
    assert (tmp_path / "train_end_mm.pt").exists()


def test_checkpoint_argument_checks_say_what_to_write():
    with pytest.raises(TypeError, match="unexpected argument 'mymodule'.*f_mymodule"):
        Checkpoint(mymodule="m.pt")
    with pytest.raises(ValueError, match="'unknown_'.*module_"):
        make_net([Checkpoint(monitor=None, f_unknown="u.pt")]).fit(X, Y)
    with pytest.raises(TypeError, match="monitor=3.*history key"):
        make_net([Checkpoint(monitor=3)]).fit(X, Y)
    with pytest.raises(TypeError, match="f_params=1.*file name"):
        make_net([Checkpoint(f_params=1)]).fit(X, Y)


class Malicious:
    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
def test_a_crafted_pickle_with_a_matching_checksum_is_still_refused(tmp_path):
    cp = Checkpoint(monitor=None, dirname=str(tmp_path), f_pickle="net.pkl")
    make_net([cp], max_epochs=1).fit(X, Y)
    marker = tmp_path / "pwned"
    evil = pickle.dumps({"net.0.weight": Malicious(marker)})

    def plant(key, name):  # as an attacker who also rewrites the manifest would
        manifest = json.loads((tmp_path / "manifest.json").read_text())
        entry = manifest["entries"][0]
        (tmp_path / ".sktorch" / "default" / entry["dir"] / name).write_bytes(evil)
        entry["files"][key].update(bytes=len(evil), sha256=hashlib.sha256(evil).hexdigest())
        (tmp_path / "manifest.json").write_text(json.dumps(manifest))

    plant("f_pickle", "net.pkl")
    make_net().initialize().load_params(checkpoint=cp)  # load_params never unpickles it
    plant("f_params", "params.pt")
    with pytest.raises(CheckpointError, match="refused"):
        make_net().initialize().load_params(checkpoint=cp)
    with pytest.raises(CheckpointError, match="refused"):
        make_net([LoadInitState(cp)], max_epochs=1).fit(X, Y)
    assert not marker.exists()
