"""Every warning sktorch gives names the user's line: the call they made, not sktorch's.

Each test triggers one warning through the public call a user writes and checks the
warning's file and line are that call's (what Python prints before the message).
"""

import contextlib
import importlib.util
import inspect
import os
import pickle
import re
import shutil
import subprocess
import sys
import textwrap
import threading
import types
import warnings

import numpy as np
import pytest
import torch
from sklearn.exceptions import DataConversionWarning
from sklearn.linear_model import LogisticRegression

import sktorch
import sktorch._warnings
import sktorch.persistence
from sktorch import NeuralNetClassifier, NeuralNetRegressor
from sktorch._warnings import warn_user
from sktorch.callbacks import Callback, Checkpoint, TrainEndCheckpoint
from sktorch.exceptions import (
    DeviceWarning,
    SktorchWarning,
    TrainingDivergedError,
    VersionMismatchWarning,
)
from sktorch.model_selection import GridSearchCV
from sktorch.utils import get_map_location

RNG = np.random.RandomState(0)
X = RNG.randn(48, 4).astype(np.float32)
Y_REG = X[:, :2].sum(axis=1).astype(np.float32)
Y_CLF = (X[:, 0] > 0).astype(np.int64)


def next_line():
    """The number of the line after the caller's: put the call to check there."""
    return inspect.currentframe().f_back.f_lineno + 1


def locations(caught, category, pattern):
    """``(file, line)`` of each caught warning of ``category`` whose message has ``pattern``."""
    return [(w.filename, w.lineno) for w in caught
            if issubclass(w.category, category) and re.search(pattern, str(w.message))]


@contextlib.contextmanager
def recording():
    """Record every warning, each time it is given (no once-per-location registry)."""
    with warnings.catch_warnings(record=True) as caught:
        yield caught


def regressor(**kwargs):
    return NeuralNetRegressor(**{"max_epochs": 2, "batch_size": 16, "verbose": 0,
                                 "random_state": 0, "train_split": None, **kwargs})


class PoisonWeights(Callback):
    """Make one weight NaN after training batch ``batch`` of epoch ``epoch``."""

    def __init__(self, epoch, batch):
        self.epoch, self.batch = epoch, batch

    def on_epoch_begin(self, net, **kwargs):
        self.seen_ = 0

    def on_batch_end(self, net, training=None, **kwargs):
        self.seen_ += bool(training)
        if training and len(net.history) == self.epoch and self.seen_ == self.batch:
            with torch.no_grad():
                next(net.module_.parameters()).view(-1)[0] = float("nan")


class InterruptAt(Callback):
    """Ctrl-C during the second training batch."""

    def on_epoch_begin(self, net, **kwargs):
        self.seen_ = 0

    def on_batch_end(self, net, training=None, **kwargs):
        self.seen_ += bool(training)
        if self.seen_ == 2:
            raise KeyboardInterrupt


# ------------------------------------------------------------------ classifier.py
@pytest.mark.parametrize("method", ["fit", "partial_fit"])
def test_the_column_vector_y_warning_names_the_fit_line(method):
    net = NeuralNetClassifier(max_epochs=1, verbose=0, random_state=0)
    with recording() as caught:
        line = next_line()
        getattr(net, method)(X, Y_CLF.reshape(-1, 1))
    assert locations(caught, DataConversionWarning, "column-vector y") == [(__file__, line)]


# ------------------------------------------------------------------ persistence.py
def test_unpickling_a_gpu_net_without_cuda_names_the_load_line(monkeypatch):
    net = regressor(max_epochs=1).fit(X, Y_REG)
    net.device = "cuda"  # as if trained there
    data = pickle.dumps(net)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with recording() as caught:
        line = next_line()
        loaded = pickle.loads(data)
    assert loaded.device == "cpu"
    assert locations(caught, DeviceWarning, "saved on device 'cuda'") == [(__file__, line)]


def test_unpickling_a_net_of_another_version_names_the_load_line(monkeypatch):
    net = regressor(max_epochs=1).fit(X, Y_REG)
    monkeypatch.setattr(sktorch.persistence, "__version__", "0.0.1")
    data = pickle.dumps(net)
    monkeypatch.undo()
    with recording() as caught:
        line = next_line()
        pickle.loads(data)
    assert locations(caught, VersionMismatchWarning, "saved with sktorch 0.0.1") == [
        (__file__, line)]


# ------------------------------------------------------------------ utils.py
def test_get_map_location_without_cuda_names_the_callers_line(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with recording() as caught:
        line = next_line()
        location = get_map_location("cuda")
    assert location == torch.device("cpu")
    assert locations(caught, DeviceWarning, "no CUDA device") == [(__file__, line)]


# ------------------------------------------------------------------ _checkpoint_store.py
def test_loading_past_a_damaged_checkpoint_names_the_load_params_line(tmp_path):
    cp = Checkpoint(monitor=None, dirname=str(tmp_path), f_optimizer=None, f_criterion=None)
    net = regressor(max_epochs=1, callbacks=[cp]).fit(X, Y_REG)
    net.partial_fit(X, Y_REG)  # a second set: the newest, which is damaged next
    (tmp_path / "params.pt").write_bytes(b"damaged")  # a link into the newest set
    fresh = regressor().initialize()
    with recording() as caught:
        line = next_line()
        fresh.load_params(checkpoint=cp)
    assert len(fresh.history) == 1  # the previous set, of epoch 1, was loaded
    assert locations(caught, SktorchWarning, "damaged") == [(__file__, line)]


# ------------------------------------------------------------------ engine.py
@pytest.mark.parametrize("method", ["fit", "partial_fit"])
def test_a_keyboard_interrupt_names_the_fit_line(method):
    net = regressor(callbacks=[InterruptAt()])
    with recording() as caught:
        line = next_line()
        getattr(net, method)(X, Y_REG)
    assert locations(caught, UserWarning, r"interrupted \(KeyboardInterrupt\)") == [
        (__file__, line)]


# ------------------------------------------------------------------ _divergence.py
@pytest.mark.parametrize("method", ["fit", "partial_fit"])
def test_on_nan_stop_names_the_fit_line(method):
    net = regressor(on_nan="stop", callbacks=[PoisonWeights(epoch=2, batch=1)],
                    max_epochs=3)
    with recording() as caught:
        line = next_line()
        getattr(net, method)(X, Y_REG)
    assert len(net.history) == 1  # epoch 2 diverged: back to epoch 1's weights
    assert locations(caught, SktorchWarning, "Training diverged") == [(__file__, line)]


# ------------------------------------------------------------------ callbacks/_file_saver.py
def test_checkpoints_that_refuse_nan_weights_name_the_fit_line(tmp_path):
    cp = Checkpoint(monitor=None, dirname=str(tmp_path), f_optimizer=None, f_criterion=None)
    end = TrainEndCheckpoint(dirname=str(tmp_path))
    net = regressor(max_epochs=2, callbacks=[PoisonWeights(epoch=2, batch=3), cp, end])
    with recording() as caught:
        with pytest.raises(TrainingDivergedError):
            line = next_line()
            net.fit(X, Y_REG)
    assert locations(caught, SktorchWarning, "^Checkpoint did not save") == [(__file__, line)]
    assert locations(caught, SktorchWarning, "TrainEndCheckpoint did not save") == [
        (__file__, line)]


def _a_fit_inside_another(tmp_path, hook, monitor):
    """Net A checkpoints into the same place as net B, which fits at A's ``hook``."""
    # At A's second epoch's end, after A saved once; at A's training end, enough
    # epochs to replace all of A's sets.
    net_b = regressor(max_epochs=1 if hook == "on_epoch_end" else 3, random_state=1,
                      callbacks=[Checkpoint(monitor=None, dirname=str(tmp_path))])

    def fit_b(self, net, **kwargs):
        if hook == "on_train_end" or len(net.history) == 2:
            net_b.fit(X, Y_REG)

    other = type("FitsAnotherNet", (Callback,), {hook: fit_b})()
    cp = Checkpoint(monitor=monitor, dirname=str(tmp_path), load_best=True)
    return regressor(max_epochs=2, callbacks=[("other", other), ("cp", cp)])


def test_another_fit_saving_into_the_same_files_names_the_fit_line(tmp_path):
    net = _a_fit_inside_another(tmp_path, "on_epoch_end", monitor=None)
    with recording() as caught:
        line = next_line()
        net.fit(X, Y_REG)
    assert locations(caught, SktorchWarning, "another fit saved into the same") == [
        (__file__, line)]


# ------------------------------------------------------------------ callbacks/checkpoint.py
def test_load_best_that_finds_its_sets_replaced_names_the_fit_line(tmp_path):
    net = _a_fit_inside_another(tmp_path, "on_train_end", monitor="train_loss_best")
    with recording() as caught:
        line = next_line()
        net.fit(X, Y_REG)
    assert locations(caught, SktorchWarning, "did not load the best weights") == [
        (__file__, line)]


# ------------------------------------------------------------------ model_selection/_search.py
def test_a_search_that_does_not_fuse_names_the_search_fit_line():
    search = GridSearchCV(LogisticRegression(), {"C": [0.1, 1.0]}, cv=2)
    with recording() as caught:
        line = next_line()
        search.fit(X, Y_CLF)
    assert locations(caught, UserWarning, "not an sktorch net") == [(__file__, line)]


# ------------------------------------------------------------------ llm/_base.py
@pytest.mark.integrations
@pytest.mark.skipif(importlib.util.find_spec("transformers") is None,
                    reason="transformers is not installed")
def test_a_low_label_probability_names_the_predict_line():
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

    from sktorch.llm import ZeroShotClassifier

    words = ["[UNK]", "[PAD]", "great", "awful", "movie", "food", "positive", "negative"]
    tok = Tokenizer(models.WordLevel(vocab={w: i for i, w in enumerate(words)},
                                     unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]",
                                        pad_token="[PAD]")
    torch.manual_seed(0)  # a tiny GPT-2 built here: nothing is downloaded
    model = GPT2LMHeadModel(GPT2Config(vocab_size=len(words), n_positions=64, n_embd=16,
                                       n_layer=1, n_head=2)).eval()
    clf = ZeroShotClassifier(model=model, tokenizer=tokenizer, prompt="{text} {labels}",
                             threshold_low_prob=0.99, error_low_prob="warn")
    clf.fit(["great movie", "awful food"], ["positive", "negative"])
    with recording() as caught:
        line = next_line()
        clf.predict(["great movie", "awful food"])
    assert locations(caught, UserWarning, "threshold_low_prob") == [(__file__, line)]


# ------------------------------------------------------------------ _warnings.py itself
def _function_in(path, source, name, namespace=None):
    """A function compiled as if it were defined in the file ``path`` (need not exist)."""
    namespace = {} if namespace is None else namespace
    exec(compile(textwrap.dedent(source), str(path), "exec"), namespace)
    return namespace[name]


def test_frames_of_a_tool_that_wraps_sktorchs_functions_are_looked_past(tmp_path, monkeypatch):
    # mutmut's copy calls each function through a trampoline in mutmut's own package:
    # user line -> trampoline (mutmut) -> sktorch -> warning.
    tool = types.ModuleType("mutmut")
    tool.__file__ = str(tmp_path / "mutmut" / "__init__.py")
    monkeypatch.setitem(sys.modules, "mutmut", tool)
    trampoline = _function_in(tmp_path / "mutmut" / "trampoline.py",
                              "def trampoline(f, *args):\n    return f(*args)\n", "trampoline")
    inner = _function_in(os.path.join(sktorch._warnings.PACKAGE_DIR, "_fake_module.py"),
                         "def inner(message):\n    warn_user(message, UserWarning)\n",
                         "inner", {"warn_user": warn_user})
    with recording() as caught:
        line = next_line()
        trampoline(inner, "through a trampoline")
    assert locations(caught, UserWarning, "through a trampoline") == [(__file__, line)]


def test_without_a_frame_outside_sktorch_the_outermost_frame_is_named(monkeypatch):
    # Every file counts as sktorch's; a thread's stack has files only (no <frozen runpy>).
    monkeypatch.setattr(sktorch._warnings, "PACKAGE_DIR", "")
    found = []
    thread = threading.Thread(target=lambda: found.append(sktorch._warnings.user_frame()))
    thread.start()
    thread.join()
    assert found[0].f_back is None and found[0].f_code.co_name == "_bootstrap"


def test_a_copy_of_the_package_elsewhere_names_the_users_line(tmp_path):
    # As mutation testing runs it: the package imported from another directory.
    shutil.copytree(os.path.dirname(sktorch.__file__), tmp_path / "sktorch",
                    ignore=shutil.ignore_patterns("__pycache__"))
    script = tmp_path / "user_script.py"
    script.write_text(textwrap.dedent(f"""\
        import sys
        import warnings
        sys.path.insert(0, {str(tmp_path)!r})
        import numpy as np
        import sktorch
        from sktorch import NeuralNetClassifier
        X = np.random.RandomState(0).randn(20, 3).astype(np.float32)
        y = (np.arange(20) % 2).reshape(-1, 1)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            NeuralNetClassifier(max_epochs=1, verbose=0, train_split=None).fit(X, y)
        print(sktorch.__file__)
        print(*[(w.filename, w.lineno) for w in caught if "column-vector" in str(w.message)])
        """))
    result = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                            cwd=tmp_path, check=True)
    imported, where = result.stdout.splitlines()
    assert imported == str(tmp_path / "sktorch" / "__init__.py")
    assert where == str((str(script), 11))
