"""Pickling, save_params/load_params, atomic writes and trim_for_prediction."""

import io
import json
import os
import pickle
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest
import torch

import sktorch.persistence
from sktorch import NeuralNetClassifier, NeuralNetRegressor
from sktorch._checkpoint_store import CheckpointStore
from sktorch.exceptions import DeviceWarning, NotInitializedError, VersionMismatchWarning
from sktorch.persistence import atomic_write

RNG = np.random.RandomState(0)
X = RNG.randn(80, 5).astype(np.float32)
Y = np.where(X[:, 0] > 0, "yes", "no")
Y_REG = X.sum(axis=1)


@pytest.fixture(scope="module")
def clf():
    return NeuralNetClassifier(optimizer=torch.optim.Adam, criterion__weight=torch.tensor(
        [1.0, 2.0]), max_epochs=3, verbose=0, random_state=0).fit(X, Y)


def new_like(net):
    fresh = type(net)(**net.get_params(deep=False))
    return fresh.initialize_like(net)


# ------------------------------------------------------------------------ pickle
@pytest.mark.parametrize("make, y", [(NeuralNetClassifier, Y), (NeuralNetRegressor, Y_REG)])
def test_pickle_round_trip_gives_identical_predictions(make, y):
    net = make(max_epochs=2, verbose=0, random_state=0).fit(X, y)
    loaded = pickle.loads(pickle.dumps(net))
    np.testing.assert_array_equal(loaded.predict(X), net.predict(X))
    assert loaded.history[:, "train_loss"] == net.history[:, "train_loss"]
    loaded.partial_fit(X, y)  # and it trains on, max_epochs more
    assert len(loaded.history) == 4


def test_pickled_gpu_net_loads_on_a_machine_without_one(clf, monkeypatch):
    """A net saved with device='cuda' loads onto the CPU, with a warning."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    clf_on_gpu = pickle.loads(pickle.dumps(clf))
    clf_on_gpu.device = "cuda"  # as if trained there; its tensors are torch-serialized
    data = pickle.dumps(clf_on_gpu)
    with pytest.warns(DeviceWarning, match="saved on device 'cuda'.*loaded onto the CPU"):
        loaded = pickle.loads(data)
    assert loaded.device == "cpu"
    assert all(p.device.type == "cpu" for p in loaded.module_.parameters())
    np.testing.assert_array_equal(loaded.predict_proba(X), clf.predict_proba(X))


def test_torch_state_is_stored_as_bytes_and_mapped_on_load(clf, monkeypatch):
    state = clf.__getstate__()
    assert isinstance(state["_torch_state"], bytes)
    assert not {"module_", "optimizer_", "criterion_"} & set(state)
    seen = {}
    real_load = torch.load

    def spy(*args, **kwargs):
        seen["map_location"] = kwargs.get("map_location")
        return real_load(*args, **kwargs)

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch, "load", spy)
    state["device"] = "cuda:1"
    restored = object.__new__(type(clf))
    with pytest.warns(DeviceWarning):
        restored.__setstate__(state)
    assert seen["map_location"] == "cpu"


def test_version_mismatch_warns_clearly(clf):
    state = clf.__getstate__()
    state["_versions"] = {"sktorch": "0.0.1", "torch": "1.0"}
    restored = object.__new__(type(clf))
    with pytest.warns(VersionMismatchWarning, match="saved with sktorch 0.0.1 and is loaded "
                                                   "with sktorch"):
        restored.__setstate__(state)
    np.testing.assert_array_equal(restored.predict(X), clf.predict(X))


def test_same_version_does_not_warn(clf, recwarn):
    pickle.loads(pickle.dumps(clf))
    assert not [w for w in recwarn if issubclass(w.category, VersionMismatchWarning)]


# ------------------------------------------------------------- save/load params
FILES = ("f_params", "f_optimizer", "f_criterion", "f_history")


def assert_same_state(a, b):
    for x, y in zip(a.module_.state_dict().values(), b.module_.state_dict().values()):
        assert torch.equal(x, y)
    for x, y in zip(a.criterion_.state_dict().values(), b.criterion_.state_dict().values()):
        assert torch.equal(x, y)
    opt_a, opt_b = a.optimizer_.state_dict()["state"], b.optimizer_.state_dict()["state"]
    assert opt_a.keys() == opt_b.keys()
    for key in opt_a:
        for name in opt_a[key]:
            assert torch.equal(torch.as_tensor(opt_a[key][name]),
                               torch.as_tensor(opt_b[key][name]))
    assert a.history.to_list() == b.history.to_list()


def test_save_and_load_params_round_trip_in_torch_format(clf, tmp_path):
    paths = {name: tmp_path / f"{name}.pt" for name in FILES}
    clf.save_params(**paths)
    loaded = new_like(clf)
    loaded.load_params(**paths)
    assert_same_state(clf, loaded)
    np.testing.assert_array_equal(loaded.predict_proba(X), clf.predict_proba(X))
    assert list(loaded.classes_) == ["no", "yes"]


def test_save_and_load_params_round_trip_with_safetensors(clf, tmp_path):
    paths = {"f_params": tmp_path / "p.safetensors", "f_criterion": tmp_path / "c.safetensors"}
    clf.save_params(**paths, use_safetensors=True)
    clf.save_params(f_optimizer=tmp_path / "o.pt", f_history=tmp_path / "h.json")
    loaded = new_like(clf)
    loaded.load_params(**paths, use_safetensors=True)
    loaded.load_params(f_optimizer=tmp_path / "o.pt", f_history=tmp_path / "h.json")
    assert_same_state(clf, loaded)
    with pytest.raises(ValueError, match="optimizer's state cannot be saved with safetensors"):
        clf.save_params(f_optimizer=tmp_path / "x", use_safetensors=True)


def test_save_and_load_params_with_file_objects(clf):
    buffers = {name: io.BytesIO() for name in FILES}
    clf.save_params(**buffers)
    for buffer in buffers.values():
        buffer.seek(0)
    loaded = new_like(clf)
    loaded.load_params(**buffers)
    assert_same_state(clf, loaded)


def test_load_params_before_initialize_says_so(clf, tmp_path):
    clf.save_params(f_params=tmp_path / "p.pt")
    with pytest.raises(NotInitializedError):
        NeuralNetClassifier().load_params(f_params=tmp_path / "p.pt")


class Malicious:
    """Unpickling this would create ``path``."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
@pytest.mark.parametrize("which", ["f_params", "f_optimizer", "f_criterion", "f_history"])
@pytest.mark.parametrize("writer", ["torch.save", "pickle.dump"])
def test_load_params_never_runs_code_from_a_crafted_pickle(clf, tmp_path, which, writer):
    marker = tmp_path / "pwned"
    payload = {"weight": Malicious(marker)}
    path = tmp_path / "evil.pt"
    with open(path, "wb") as handle:
        torch.save(payload, handle) if writer == "torch.save" else pickle.dump(payload, handle)
    assert not marker.exists()
    target = new_like(clf)
    with pytest.raises((pickle.UnpicklingError, ValueError)):  # ValueError: not JSON
        target.load_params(**{which: path})
    assert not marker.exists()


def test_crafted_pickle_given_as_safetensors_is_refused(clf, tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.safetensors"
    with open(path, "wb") as handle:
        pickle.dump({"weight": Malicious(marker)}, handle)
    with pytest.raises(Exception, match="[Hh]eader|[Ee]rror"):  # noqa: B017 - safetensors' own
        new_like(clf).load_params(f_params=path, use_safetensors=True)
    assert not marker.exists()


# ------------------------------------------------------------------ atomic writes
def test_atomic_write_leaves_the_old_file_when_writing_fails(tmp_path):
    path = tmp_path / "file.bin"
    path.write_bytes(b"old")
    with pytest.raises(RuntimeError):
        with atomic_write(path) as handle:
            handle.write(b"half of the new")
            raise RuntimeError("crash mid-write")
    assert path.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["file.bin"]


def test_save_params_failing_mid_write_keeps_the_previous_file(clf, tmp_path, monkeypatch):
    path = tmp_path / "params.pt"
    clf.save_params(f_params=path)
    before = path.read_bytes()

    def broken_save(obj, handle):
        handle.write(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr(sktorch.persistence.torch, "save", broken_save)
    with pytest.raises(OSError, match="disk full"):
        clf.save_params(f_params=path)
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["params.pt"]


# -------------------------------------------------------------- trim for prediction
def test_trim_for_prediction_drops_training_state_and_still_predicts(clf):
    net = pickle.loads(pickle.dumps(clf))
    expected = net.predict_proba(X)
    size_before = len(pickle.dumps(net))
    net.trim_for_prediction()
    assert net.optimizer_ is None and net.callbacks_ == [] and len(net.history) == 0
    np.testing.assert_array_equal(net.predict_proba(X), expected)
    assert len(pickle.dumps(net)) < size_before
    reloaded = pickle.loads(pickle.dumps(net))
    np.testing.assert_array_equal(reloaded.predict_proba(X), expected)
    assert reloaded.score(X, Y) == clf.score(X, Y)
    reloaded.fit(X, Y)  # fit builds the dropped parts again
    assert reloaded.optimizer_ is not None and len(reloaded.history) == 3


def test_trim_before_fit_raises(clf):
    with pytest.raises(NotInitializedError):
        NeuralNetClassifier().trim_for_prediction()


# ------------------------------------------------- kill -9 mid-training, then resume
RESUMABLE = textwrap.dedent("""
    import json, sys, time
    import numpy as np
    from sktorch import NeuralNetRegressor
    from sktorch.callbacks import Callback, Checkpoint, LoadInitState

    dirname, total, delay = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])

    class Slow(Callback):
        def on_batch_end(self, net, **kwargs):
            time.sleep(delay)

    class StopAtTotal(Callback):
        def on_epoch_end(self, net, **kwargs):
            if len(net.history) >= total:
                net.request_stop("the planned number of epochs is reached")

    rng = np.random.RandomState(0)
    X = rng.randn(64, 4).astype("float32"); y = X.sum(axis=1)
    cp = Checkpoint(monitor=None, dirname=dirname)  # every epoch
    net = NeuralNetRegressor(max_epochs=total, batch_size=8, verbose=0, random_state=0,
                             callbacks=[cp, LoadInitState(cp), Slow(), StopAtTotal()])
    net.fit(X, y)
    print(json.dumps({"epoch": net.history[:, "epoch"],
                      "train_loss": net.history[:, "train_loss"],
                      "finite": bool(np.isfinite(net.predict(X)).all())}))
""")


def test_resume_after_sigkill_loses_no_checkpointed_epoch(tmp_path):
    script, dirname, total = tmp_path / "train.py", tmp_path / "checkpoints", 25
    script.write_text(RESUMABLE)
    env = {**os.environ, "PYTHONPATH": os.getcwd()}
    run = [sys.executable, str(script), str(dirname), str(total)]
    child = subprocess.Popen(run + ["0.03"], env=env, stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE)
    manifest = dirname / "manifest.json"
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline and child.poll() is None:
            if manifest.exists() and json.loads(manifest.read_text())["entries"][0][
                    "epoch"] >= 3:
                break
            time.sleep(0.05)
        assert child.poll() is None, child.stderr.read()
        child.send_signal(signal.SIGKILL)  # no cleanup, no finally blocks
        child.wait(timeout=30)
    finally:
        child.kill()
    saved = CheckpointStore(dirname).load().history  # one verified set
    torch.load(dirname / "params.pt", weights_only=True)
    torch.load(dirname / "optimizer.pt", weights_only=True)
    assert 3 <= len(saved) < total

    done = subprocess.run(run + ["0"], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    resumed = json.loads(done.stdout.strip().splitlines()[-1])
    assert resumed["epoch"] == list(range(1, total + 1))  # no epoch lost or repeated
    assert resumed["train_loss"][: len(saved)] == [row["train_loss"] for row in saved]
    assert resumed["finite"]
