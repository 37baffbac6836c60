"""Sharp edges left by earlier sessions: each test fails without its fix."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.model_selection import cross_validate

from sktorch import NeuralNetClassifier, NeuralNetRegressor
from sktorch.history import DistributedHistory
from sktorch.toy import make_classifier, make_regressor


def test_import_sktorch_leaves_sklearn_model_selection_unimported():
    # sklearn.model_selection (and the search classes) are slow to import and a
    # plain fit never needs them; they load on first use.
    code = (
        "import sys, sktorch\n"
        "assert 'sklearn.model_selection' not in sys.modules, 'imported eagerly'\n"
        "from sktorch.model_selection import GridSearchCV\n"
        "assert GridSearchCV.__module__ == 'sktorch.model_selection._search'\n"
        "from sktorch.dataset import ValidSplit\n"
        "import numpy as np\n"
        "train, valid = ValidSplit(4).split_indices(8)\n"
        "assert len(valid) == 2\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


# ---------------------------------------------------------------- precision after fit
def _regression_data():
    X = np.random.RandomState(0).randn(80, 3)
    return X, X @ np.array([1.0, -2.0, 0.5])


@pytest.mark.parametrize("module", [None, "toy"])
def test_set_params_precision_after_fit_casts_the_fitted_weights(module):
    X, y = _regression_data()
    module = make_regressor(input_units=3) if module == "toy" else None
    net = NeuralNetRegressor(module, max_epochs=3, verbose=0, random_state=0,
                             optimizer=torch.optim.Adam, train_split=None).fit(X, y)
    before = net.predict(X)
    net.set_params(precision="64")
    assert {p.dtype for p in net.module_.parameters()} == {torch.float64}
    after = net.predict(X)  # raised torch's "mat1 and mat2 must have the same dtype"
    np.testing.assert_allclose(after, before, atol=1e-5)
    # Training continues in float64: the optimizer's state followed the weights.
    net.partial_fit(X, y)
    state = net.optimizer_.state[next(net.module_.parameters())]
    assert state["exp_avg"].dtype == torch.float64
    # And back.
    net.set_params(precision="32")
    assert {p.dtype for p in net.module_.parameters()} == {torch.float32}
    net.partial_fit(X, y)
    assert np.isfinite(net.predict(X)).all()


def test_set_params_precision_casts_the_criterion_weights_of_a_classifier():
    X, _ = _regression_data()
    y = (X[:, 0] > 0).astype(int)
    net = NeuralNetClassifier(make_classifier(input_units=3), max_epochs=2, verbose=0,
                              random_state=0,
                              criterion__weight=torch.tensor([1.0, 2.0])).fit(X, y)
    proba = net.predict_proba(X)
    net.set_params(precision="64")
    np.testing.assert_allclose(net.predict_proba(X), proba, atol=1e-5)
    net.partial_fit(X, y)  # the criterion's weight buffer is float64 too
    assert net.criterion_.weight.dtype == torch.float64


# ---------------------------------------------------------------- clone and history=
def test_clone_of_a_net_with_a_distributed_history_records_into_one_like_it():
    from torch.distributed import HashStore

    X, y = _regression_data()
    store = HashStore()
    history = DistributedHistory(store=store, rank=0, world_size=1)
    net = NeuralNetRegressor(make_regressor(input_units=3), max_epochs=2, verbose=0,
                             train_split=None, random_state=0, history=history)
    first, second = clone(net), clone(net)
    first.fit(X, y)
    second.fit(X[:40], y[:40])
    for fitted in (first, second):
        assert isinstance(fitted.history, DistributedHistory)
        assert fitted.history.store is store and fitted.history.world_size == 1
    # Each clone keeps its own rows (one shared object would hold the last fit's only).
    assert first.history is not second.history
    assert len(first.history[-1, "batches"]) == 1  # 80 rows, batch_size 128
    assert first.history[:, "epoch"] == second.history[:, "epoch"] == [1, 2]
    assert len(history) == 0
    # The clones' syncs continue one numbering: the second fit used new keys, so a
    # process never reads another fit's rows as this epoch's.
    assert store.check([f"sktorch-history/{i}/0" for i in range(4)])
    # cross_validate clones too (skorch's multi-GPU example runs it this way).
    result = cross_validate(net, X, y, cv=2, return_estimator=True)
    assert all(isinstance(e.history, DistributedHistory) for e in result["estimator"])


# ---------------------------------------------------------------- the loggers' shared skeleton
class _Recorder:
    """A fake tracker: Sacred's log_scalar, Neptune's run[key].append, MLflow's client."""

    def __init__(self):
        self.logged = []

    def log_scalar(self, name, value, step=None):
        self.logged.append((name, value, step))

    def log_metric(self, run_id, name, value, step=None):
        self.logged.append((name, value, step))

    def set_terminated(self, run_id):
        pass

    def __getitem__(self, name):
        recorder = self

        class Series:
            def append(self, value, step=None):
                recorder.logged.append((name, value, step))
        return Series()

    def stop(self):
        pass


def _fit_logged(logger):
    X, y = _regression_data()
    return NeuralNetRegressor(make_regressor(input_units=3), max_epochs=2, batch_size=40,
                              verbose=0, train_split=None, random_state=0,
                              callbacks=[logger]).fit(X, y)


@pytest.mark.parametrize("kind", ["sacred", "mlflow"])
def test_suffixed_loggers_log_batches_and_epochs_under_their_names(kind):
    from types import SimpleNamespace

    from sktorch.callbacks import MlflowLogger, SacredLogger

    recorder = _Recorder()
    logger = SacredLogger(recorder, log_on_batch_end=True, keys_ignored="dur") if (
        kind == "sacred") else MlflowLogger(
            SimpleNamespace(info=SimpleNamespace(run_id="r")), recorder, log_on_batch_end=True,
            create_artifact=False, keys_ignored=["dur", "train_batch_size"])
    net = _fit_logged(logger)
    batches = [b["train_loss"] for row in net.history for b in row["batches"]]
    expected = [("train_loss_batch", v, i + 1) for i, v in enumerate(batches)]
    expected_epochs = [("train_loss_epoch", v, i + 1)
                       for i, v in enumerate(net.history[:, "train_loss"])]
    batch_rows = [r for r in recorder.logged if r[0].endswith("_batch")
                  and r[0] != "train_batch_size_batch"]
    assert batch_rows == expected
    assert [r for r in recorder.logged if r[0].endswith("_epoch")] == expected_epochs


def test_neptune_logger_logs_batches_and_epochs_in_their_namespaces():
    from sktorch.callbacks import NeptuneLogger

    recorder = _Recorder()
    net = _fit_logged(NeptuneLogger(recorder, log_on_batch_end=True, keys_ignored="dur"))
    batches = [b["train_loss"] for row in net.history for b in row["batches"]]
    logged = {}
    for name, value, step in recorder.logged:
        logged.setdefault(name, []).append((value, step))
    assert logged["training/batch_metrics/train_loss"] == [
        (v, i + 1) for i, v in enumerate(batches)]
    assert logged["training/epoch_metrics/train_loss"] == [
        (v, i + 1) for i, v in enumerate(net.history[:, "train_loss"])]


# ---------------------------------------------------------------- checkpoint directories
@pytest.mark.parametrize("where", ["dirname", "below", "f_params"])
def test_checkpoint_into_a_file_fails_before_training_naming_the_path(tmp_path, where):
    from sktorch.callbacks import Checkpoint

    blocker = tmp_path / "results.txt"
    blocker.write_text("not a directory")
    kwargs = {"dirname": str(blocker)} if where == "dirname" else (
        {"dirname": str(blocker / "run1")} if where == "below" else
        {"dirname": str(tmp_path), "f_params": "results.txt/params_{last_epoch[epoch]}.pt"})
    from sktorch.callbacks import Callback

    epochs = []

    class CountEpochs(Callback):
        def on_epoch_begin(self, net, **kwargs):
            epochs.append(1)

    X, y = _regression_data()
    net = NeuralNetRegressor(make_regressor(input_units=3), max_epochs=2, verbose=0,
                             callbacks=[Checkpoint(monitor=None, **kwargs), CountEpochs()])
    with pytest.raises(NotADirectoryError, match="is a file, not a directory") as info:
        net.fit(X, y)
    assert str(blocker) in str(info.value)
    assert "Pass the name of a directory" in str(info.value)
    assert epochs == []  # raised before the first epoch
    assert blocker.read_text() == "not a directory"


def test_train_end_checkpoint_into_a_file_fails_before_training(tmp_path):
    from sktorch.callbacks import TrainEndCheckpoint

    blocker = tmp_path / "model"
    blocker.write_text("")
    X, y = _regression_data()
    net = NeuralNetRegressor(make_regressor(input_units=3), max_epochs=1, verbose=0,
                             callbacks=[TrainEndCheckpoint(dirname=str(blocker))])
    with pytest.raises(NotADirectoryError, match="TrainEndCheckpoint.*is a file"):
        net.fit(X, y)
    assert not hasattr(net, "history_") or len(net.history) == 0


# ---------------------------------------------------------------- checkpoints sharing a place
def _classifier_data():
    rng = np.random.RandomState(0)
    X = rng.randn(120, 4).astype("float32")
    return X, (X[:, 0] + 0.5 * rng.randn(120) > 0).astype(int)


def _saved_epoch(cp, net):
    loaded = cp.read_checkpoint(net)
    return loaded.epoch


def test_two_checkpoints_with_other_weight_files_keep_their_own_sets(tmp_path):
    from sktorch.callbacks import Checkpoint, EpochScoring

    rng = np.random.RandomState(0)  # random labels: the validation loss rises
    X, y = rng.randn(100, 20).astype("float32"), rng.randint(0, 2, 100)
    best = Checkpoint(dirname=str(tmp_path), f_params="best.pt", load_best=True)
    every = Checkpoint(monitor=None, dirname=str(tmp_path), f_params="last.pt",
                       f_optimizer="last_optimizer.pt", f_criterion="last_criterion.pt",
                       f_history="last_history.json", event_name="event_every")
    net = NeuralNetClassifier(make_classifier(input_units=20), max_epochs=6, lr=0.1,
                              optimizer=torch.optim.Adam, verbose=0, random_state=0,
                              callbacks=[
                                  ("acc", EpochScoring("accuracy", lower_is_better=False)),
                                  ("best", best), ("every", every)])
    net.fit(X, y)
    losses = net.history[:, "valid_loss"]
    best_epoch = int(np.argmin(losses)) + 1
    assert best_epoch < 6, "the data should make a later epoch worse"  # test premise
    # Each reads its own newest set from the one manifest they share.
    assert _saved_epoch(best, net) == best_epoch
    assert _saved_epoch(every, net) == 6
    # load_best loaded the best epoch's weights, not the every-epoch checkpoint's.
    reloaded = NeuralNetClassifier(make_classifier(input_units=20), verbose=0).initialize()
    reloaded.load_params(checkpoint=best)
    for a, b in zip(net.module_.parameters(), reloaded.module_.parameters()):
        assert torch.equal(a, b)
    later = NeuralNetClassifier(make_classifier(input_units=20), verbose=0).initialize()
    later.load_params(checkpoint=every)
    assert not all(torch.equal(a, b) for a, b in zip(
        later.module_.parameters(), reloaded.module_.parameters()))
    assert {p.name for p in tmp_path.iterdir()} >= {"best.pt", "last.pt", "manifest.json"}


def test_two_checkpoints_saving_the_same_files_fail_before_training(tmp_path):
    from sktorch.callbacks import Checkpoint

    X, y = _classifier_data()
    net = NeuralNetClassifier(make_classifier(input_units=4), max_epochs=2, verbose=0,
                              callbacks=[("loss_cp", Checkpoint(dirname=str(tmp_path))),
                                         ("acc_cp", Checkpoint(dirname=str(tmp_path),
                                                               monitor="train_loss_best"))])
    with pytest.raises(ValueError, match="'loss_cp' and 'acc_cp' both save 'params.pt'.*"
                                         "fn_prefix="):
        net.fit(X, y)
    assert not (tmp_path / "manifest.json").exists()
    # With its own prefix, each keeps its files.
    net.set_params(callbacks__acc_cp__fn_prefix="train_").fit(X, y)
    assert (tmp_path / "manifest.json").exists() and (tmp_path / "train_manifest.json").exists()


def _fit_inside_another(tmp_path, hook, n_epochs_a, monitor_a, n_epochs_b, at_epoch=None,
                        n_fits_b=1):
    """Net A (load_best) and net B checkpoint into one place; B fits at A's ``hook``.

    As clones in a parallel search do. Returns ``(net_a, cp_a, net_b, X, y)``, A unfitted.
    """
    from sktorch.callbacks import Callback, Checkpoint

    X, y = _classifier_data()
    net_b = NeuralNetClassifier(make_classifier(input_units=4), max_epochs=n_epochs_b, verbose=0,
                                random_state=1,
                                callbacks=[Checkpoint(monitor=None, dirname=str(tmp_path))])

    def fit_b(self, net, **kwargs):
        if at_epoch is None or len(net.history) == at_epoch:
            for _ in range(n_fits_b):
                net_b.fit(X, y)

    other = type("OtherFitSaves", (Callback,), {hook: fit_b})()
    cp_a = Checkpoint(monitor=monitor_a, dirname=str(tmp_path), load_best=True)
    net_a = NeuralNetClassifier(make_classifier(input_units=4), max_epochs=n_epochs_a, verbose=0,
                                random_state=0, callbacks=[("other", other), ("cp", cp_a)])
    return net_a, cp_a, net_b, X, y


def test_load_best_never_loads_another_fits_weights(tmp_path):
    # Fit A's load_best must not take fit B's newer set for its own: B saves three
    # times during A's training.
    net_a, cp_a, _, X, y = _fit_inside_another(
        tmp_path, "on_epoch_end", n_epochs_a=3, monitor_a=None, n_epochs_b=1, at_epoch=2,
        n_fits_b=3)
    with pytest.warns(Warning) as record:
        net_a.fit(X, y)
    messages = " ".join(str(w.message) for w in record)
    assert "another fit saved into the same checkpoint files" in messages
    # A's own last set (epoch 3) is the newest: loaded, and it is A's weights.
    loaded = cp_a.read_checkpoint(net_a, owner=cp_a._owner_)
    assert loaded is not None and loaded.epoch == 3


def test_load_best_warns_instead_of_loading_when_its_sets_were_replaced(tmp_path):
    # B's fit replaces A's sets before A's load_best reads them.
    net_a, _, net_b, X, y = _fit_inside_another(
        tmp_path, "on_train_end", n_epochs_a=2, monitor_a="train_loss_best", n_epochs_b=3)
    before = [p.detach().clone() for p in net_a.initialize().module_.parameters()]
    with pytest.warns(Warning, match="did not load the best weights"):
        net_a.fit(X, y)
    b_weights = list(net_b.module_.parameters())
    a_weights = list(net_a.module_.parameters())
    assert not all(torch.equal(a, b) for a, b in zip(a_weights, b_weights))
    assert not all(torch.equal(a, b) for a, b in zip(a_weights, before))
