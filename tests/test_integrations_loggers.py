"""WandbLogger, NeptuneLogger and SacredLogger against their libraries' offline modes.

The tests that need a library are marked ``integrations`` (``make test-integrations``)
and skipped where the library is not installed.
"""

import glob
import json
import os
import struct
import time

import numpy as np
import pytest
import torch

from sktorch import NeuralNetRegressor
from sktorch.callbacks import NeptuneLogger, SacredLogger, WandbLogger


def _data():
    rng = np.random.RandomState(0)
    X = rng.randn(60, 3).astype("float32")
    return X, (X @ np.array([1.0, -2.0, 0.5], dtype="float32"))


def _fit(callback, max_epochs=3):
    X, y = _data()
    net = NeuralNetRegressor(max_epochs=max_epochs, lr=0.05, verbose=0, random_state=0,
                             callbacks=[callback])
    return net.fit(X, y)


def _wandb_offline_records(run_dir, kind):
    """The ``kind`` records ('history', 'summary', 'files') of an offline run's .wandb file.

    The file is a LevelDB-style log (32 KiB blocks of chunks with a 7-byte header)
    of wandb's protobuf ``Record`` messages, after a 7-byte W&B header.
    """
    from wandb.proto import wandb_internal_pb2

    (path,) = glob.glob(os.path.join(run_dir, "run-*.wandb"))
    with open(path, "rb") as f:
        raw = f.read()
    assert raw[:4] == b":W&B"
    pos, block, buf, records = 7, 32768, b"", []
    while pos + 7 <= len(raw):
        if block - pos % block < 7:  # a block's tail too short for a header is padding
            pos += block - pos % block
            continue
        _, length, chunk_type = struct.unpack("<IHB", raw[pos:pos + 7])
        buf += raw[pos + 7:pos + 7 + length]
        pos += 7 + length
        if chunk_type in (1, 4):  # a full record, or the last chunk of one
            record = wandb_internal_pb2.Record()
            record.ParseFromString(buf)
            buf = b""
            if record.WhichOneof("record_type") == kind:
                records.append(getattr(record, kind))
    return records


def _wandb_rows(run_dir, n_rows):
    """The logged rows; wandb's service may still be writing the file after finish()."""
    for _ in range(120):
        rows = [{item.key or "/".join(item.nested_key): json.loads(item.value_json)
                 for item in history.item}
                for history in _wandb_offline_records(run_dir, "history")]
        if len(rows) >= n_rows:
            return rows
        time.sleep(0.5)
    return rows


@pytest.mark.integrations
def test_wandb_offline_run_file_holds_each_epoch(tmp_path, monkeypatch):
    wandb = pytest.importorskip("wandb")
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    run = wandb.init(project="sktorch-test", dir=str(tmp_path))
    try:
        net = _fit(WandbLogger(run, save_model=False, keys_ignored="dur"))
        summary = dict(run.summary)
        run_dir = os.path.dirname(run.dir)
    finally:
        run.finish()
    history = net.history
    rows = _wandb_rows(run_dir, len(history))
    assert [row["epoch"] for row in rows] == [1, 2, 3]
    assert [row["train_loss"] for row in rows] == pytest.approx(list(history[:, "train_loss"]))
    assert [row["valid_loss"] for row in rows] == pytest.approx(list(history[:, "valid_loss"]))
    for row in rows:  # bookkeeping and ignored keys stay out
        assert not {"dur", "batches", "valid_loss_best", "train_loss_best"} & set(row)
    assert summary["valid_loss"] == pytest.approx(history[-1, "valid_loss"])
    assert not os.path.exists(os.path.join(run_dir, "files", "best_model.pth"))


@pytest.mark.integrations
def test_wandb_saves_the_best_model_into_the_run(tmp_path, monkeypatch):
    wandb = pytest.importorskip("wandb")
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    run = wandb.init(project="sktorch-test", dir=str(tmp_path))
    from sktorch.callbacks import Callback

    class KeepWeights(Callback):  # each epoch's weights, to compare with the file
        def initialize(self):
            self.weights_ = []
            return self

        def on_epoch_end(self, net, **kwargs):
            self.weights_.append({k: v.clone() for k, v in net.module_.state_dict().items()})

    keep = KeepWeights()
    try:
        X, y = _data()
        net = NeuralNetRegressor(max_epochs=3, lr=0.05, verbose=0, random_state=0,
                                 callbacks=[keep, WandbLogger(run)]).fit(X, y)
        best_path = os.path.join(run.dir, "best_model.pth")
        run_dir = os.path.dirname(run.dir)
    finally:
        run.finish()
    # The file holds the weights of the last epoch with a new best validation loss.
    best = max(i for i, row in enumerate(net.history) if row["valid_loss_best"])
    saved = torch.load(best_path)
    for key, value in keep.weights_[best].items():
        torch.testing.assert_close(saved[key], value)
    # In the run's files directory: `wandb sync` uploads it with the run.
    assert os.path.dirname(best_path) == os.path.join(run_dir, "files")


@pytest.mark.integrations
def test_sacred_file_observer_records_each_epoch(tmp_path):
    sacred = pytest.importorskip("sacred")
    from sacred.observers import FileStorageObserver

    ex = sacred.Experiment("sktorch_test", save_git_info=False)
    ex.observers.append(FileStorageObserver(str(tmp_path)))
    nets = []

    @ex.main
    def main(_run):
        nets.append(_fit(SacredLogger(_run, log_on_batch_end=True, keys_ignored="dur")))

    ex.run()
    (metrics_file,) = glob.glob(str(tmp_path / "*" / "metrics.json"))
    with open(metrics_file) as f:
        metrics = json.load(f)
    history = nets[0].history
    # Both per epoch and per batch: the suffixes tell them apart.
    assert metrics["valid_loss_epoch"]["values"] == pytest.approx(
        list(history[:, "valid_loss"]))
    assert metrics["train_loss_epoch"]["steps"] == [1, 2, 3]
    # One training and one validation batch per epoch, counted together.
    batches = [b for row in history for b in row["batches"]]
    assert metrics["train_loss_batch"]["steps"] == [1, 3, 5]
    assert metrics["valid_loss_batch"]["steps"] == [2, 4, 6]
    assert metrics["train_loss_batch"]["values"] == pytest.approx(
        [b["train_loss"] for b in batches if "train_loss" in b])
    assert "dur_epoch" not in metrics


@pytest.mark.integrations
def test_neptune_debug_run_holds_each_epoch():
    neptune = pytest.importorskip("neptune")
    run = neptune.init_run(mode="debug")
    net = _fit(NeptuneLogger(run, close_after_train=False, keys_ignored="dur"))
    values = run["training/epoch_metrics/valid_loss"].fetch_values()
    run.stop()
    assert list(values["value"]) == pytest.approx(list(net.history[:, "valid_loss"]))
    assert not run.exists("training/epoch_metrics/dur")


@pytest.mark.parametrize("cls", [WandbLogger, NeptuneLogger, SacredLogger])
def test_loggers_clone_and_need_no_package_to_import(cls):
    from sklearn.base import clone

    logger = cls(object(), keys_ignored=["dur"])
    assert clone(logger).get_params()["keys_ignored"] == ["dur"]
