"""skorch parity of the scoring callbacks, callback names, ``use_caching``, ``PrintLog``
and history lookups (items 2, 3, 8, 12, 13a, 13d of the 2026-11 parity review)."""

from functools import partial

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.metrics import (
    accuracy_score,
    f1_score,
    fbeta_score,
    make_scorer,
    precision_score,
    roc_auc_score,
)
from torch import nn

from sktorch import History, NeuralNetClassifier
from sktorch.callbacks import BatchScoring, EpochScoring, PassthroughScoring, PrintLog
from sktorch.dataset import Dataset
from sktorch.helper import predefined_split

RNG = np.random.RandomState(0)
X = RNG.randn(200, 4).astype("float32")
y = (X[:, 0] + 0.5 * RNG.randn(200) > 0).astype("int64")
X_VALID, Y_VALID = X[150:], y[150:]


def _net(callbacks, **kwargs):
    """A classifier that validates on X_VALID (one epoch: its scores are the final net's)."""
    kwargs = {"max_epochs": 1, "lr": 0.1, "verbose": 0, "random_state": 0,
              "train_split": predefined_split(Dataset(X_VALID, Y_VALID)), **kwargs}
    with torch.random.fork_rng():  # a module instance: its weights come from torch's
        torch.manual_seed(0)        # global generator, not random_state; fixed here
        module = nn.Sequential(nn.Linear(4, 2), nn.Softmax(-1))
    return NeuralNetClassifier(module, callbacks=callbacks, **kwargs)


class CountingModule(nn.Module):
    """Counts forward passes and the training modes they ran in."""

    def __init__(self):
        super().__init__()
        self.dense = nn.Linear(4, 2)
        self.modes = []

    def forward(self, x):
        self.modes.append(self.training)
        return torch.softmax(self.dense(x), -1)


# ----------------------------------------------------------------- item 2: names
def test_two_make_scorer_scorers_keep_two_keys_named_for_their_metrics():
    net = _net([EpochScoring(make_scorer(accuracy_score), lower_is_better=False),
                EpochScoring(make_scorer(f1_score), lower_is_better=False)]).fit(X[:150],
                                                                                  y[:150])
    pred = net.predict(X_VALID)
    row = net.history[-1]
    assert "_Scorer" not in row
    assert row["accuracy_score"] == pytest.approx(accuracy_score(Y_VALID, pred))
    assert row["f1_score"] == pytest.approx(f1_score(Y_VALID, pred))
    assert row["accuracy_score"] != row["f1_score"]  # two values, not one written twice


def test_partial_scorers_are_named_for_the_wrapped_function():
    beta2 = partial(fbeta_score, beta=2)
    net = _net([EpochScoring(beta2, lower_is_better=False),
                EpochScoring(make_scorer(partial(precision_score, zero_division=0)),
                             lower_is_better=False)]).fit(X[:150], y[:150])
    pred = net.predict(X_VALID)
    assert "partial" not in net.history[-1]
    assert net.history[-1, "fbeta_score"] == pytest.approx(fbeta_score(Y_VALID, pred, beta=2))
    assert net.history[-1, "precision_score"] == pytest.approx(
        precision_score(Y_VALID, pred, zero_division=0))


def test_given_names_and_string_scorings_keep_their_names():
    net = _net([EpochScoring(make_scorer(f1_score), name="my_f1", lower_is_better=False),
                EpochScoring("recall", lower_is_better=False)]).fit(X[:150], y[:150])
    assert {"my_f1", "recall"} <= set(net.history[-1])
    assert "f1_score" not in net.history[-1]


# ----------------------------------------------------- item 3: metric functions
def test_metric_function_as_epoch_scoring():
    net = _net([EpochScoring(f1_score, lower_is_better=False)]).fit(X[:150], y[:150])
    assert net.history[-1, "f1_score"] == pytest.approx(f1_score(Y_VALID, net.predict(X_VALID)))
    assert net.history[-1, "f1_score_best"] is True


def test_metric_function_as_batch_scoring_averages_over_batches():
    net = _net([BatchScoring(accuracy_score, lower_is_better=False)],
               batch_size=20).fit(X[:150], y[:150])
    expected = accuracy_score(Y_VALID, net.predict(X_VALID))
    batches = net.history[-1, "batches", :, "accuracy_score"]
    assert len(batches) == 3  # the 50 validation rows in batches of 20, 20, 10
    assert net.history[-1, "accuracy_score"] == pytest.approx(expected)


def test_score_metric_gets_probabilities_not_labels():
    net = _net([EpochScoring(roc_auc_score, lower_is_better=False)]).fit(X[:150], y[:150])
    expected = roc_auc_score(Y_VALID, net.predict_proba(X_VALID)[:, 1])
    assert net.history[-1, "roc_auc_score"] == pytest.approx(expected)
    assert expected != pytest.approx(roc_auc_score(Y_VALID, net.predict(X_VALID)))


def test_own_metric_function_and_own_scorer_both_work():
    def hits(y_true, y_pred):
        return float(np.sum(np.asarray(y_true) == np.asarray(y_pred)))

    def scorer(net, X, y):
        return 42.0

    net = _net([EpochScoring(hits, lower_is_better=False),
                EpochScoring(scorer)]).fit(X[:150], y[:150])
    assert net.history[-1, "hits"] == float(np.sum(net.predict(X_VALID) == Y_VALID))
    assert net.history[-1, "scorer"] == 42.0


# -------------------------------------------------------- item 8: callback names
def test_repeated_unnamed_callbacks_are_numbered_from_one():
    net = _net([EpochScoring("f1"), EpochScoring("accuracy"), EpochScoring("recall")])
    net.initialize()
    names = [n for n, _ in net.callbacks_]
    assert names[-3:] == ["EpochScoring_1", "EpochScoring_2", "EpochScoring_3"]
    assert "EpochScoring" not in names


def test_numbered_name_configures_the_callback_skorch_does():
    net = _net([EpochScoring("f1", lower_is_better=False),
                EpochScoring("accuracy", lower_is_better=False)])
    net.set_params(callbacks__EpochScoring_1__name="first")
    net.fit(X[:150], y[:150])
    pred = net.predict(X_VALID)
    assert net.history[-1, "first"] == pytest.approx(f1_score(Y_VALID, pred))
    assert net.history[-1, "accuracy"] == pytest.approx(accuracy_score(Y_VALID, pred))
    assert "f1" not in net.history[-1]


def test_a_single_unnamed_callback_keeps_its_class_name():
    net = _net([EpochScoring("f1"), PassthroughScoring("train_loss", on_train=True)])
    net.initialize()
    assert [n for n, _ in net.callbacks_][-2:] == ["EpochScoring", "PassthroughScoring"]


def test_a_given_name_equal_to_an_unnamed_callbacks_name_is_refused():
    net = _net([("EpochScoring", EpochScoring("f1")), EpochScoring("recall")])
    with pytest.raises(ValueError, match="duplicate callback name 'EpochScoring'"):
        net.initialize()


def test_a_number_that_is_already_a_name_is_refused():
    net = _net([EpochScoring("f1"), EpochScoring("recall"),
                ("EpochScoring_2", EpochScoring("accuracy"))])
    with pytest.raises(ValueError, match="'EpochScoring_2' is the name of another callback"):
        net.initialize()


# -------------------------------------------------------- item 12: use_caching
def _scoring_flags(net):
    return {name: cb.use_caching for name, cb in net.callbacks_ if hasattr(cb, "use_caching")}


def test_net_use_caching_false_turns_caching_off_for_every_scoring_callback():
    user = BatchScoring("accuracy", lower_is_better=False, name="bacc")
    net = NeuralNetClassifier(CountingModule, max_epochs=1, batch_size=50, verbose=0,
                              train_split=predefined_split(Dataset(X_VALID, Y_VALID)),
                              use_caching=False, callbacks=[user]).fit(X[:150], y[:150])
    assert _scoring_flags(net) == {"valid_acc": False, "BatchScoring": False}
    assert user.use_caching is True  # the user's object is not changed; a copy is
    # 3 training + 1 validation batch, valid_acc predicts again (1), bacc too (1).
    assert len(net.module_.modes) == 6
    assert net.history[-1, "bacc"] == pytest.approx(net.history[-1, "valid_acc"])


def test_net_use_caching_true_overrides_a_callback_without_caching():
    net = NeuralNetClassifier(CountingModule, max_epochs=1, batch_size=50, verbose=0,
                              train_split=predefined_split(Dataset(X_VALID, Y_VALID)),
                              use_caching=True,
                              callbacks=[BatchScoring("accuracy", use_caching=False,
                                                      name="bacc")],
                              callbacks__valid_acc__use_caching=False).fit(X[:150], y[:150])
    assert _scoring_flags(net) == {"valid_acc": True, "BatchScoring": True}
    assert len(net.module_.modes) == 4  # no extra forward pass


def test_net_use_caching_auto_leaves_each_callback_as_set():
    net = _net([BatchScoring("accuracy", use_caching=False, name="bacc")])
    assert net.get_params()["use_caching"] == "auto"
    net.initialize()
    assert _scoring_flags(net) == {"valid_acc": True, "BatchScoring": False}
    assert clone(net.set_params(use_caching=False)).use_caching is False


def test_net_use_caching_rejects_other_values():
    with pytest.raises(ValueError, match="use_caching.*True, False or 'auto'"):
        _net([], use_caching="yes").fit(X, y)


def test_batch_scoring_without_caching_predicts_again_and_keeps_training_mode():
    net = NeuralNetClassifier(CountingModule, max_epochs=2, batch_size=50, verbose=0,
                              train_split=predefined_split(Dataset(X_VALID, Y_VALID)),
                              callbacks=[BatchScoring("accuracy", on_train=True,
                                                      use_caching=False, name="tacc")],
                              callbacks__valid_acc=None).fit(X[:150], y[:150])
    # Per epoch: a training batch, then its scoring in eval mode, three times;
    # then one validation batch.
    assert net.module_.modes == [True, False] * 3 + [False] + [True, False] * 3 + [False]
    assert len(net.history[-1, "batches", :, "tacc"]) == 3


# ------------------------------------------------------ item 12: PrintLog tablefmt
def test_printlog_simple_tablefmt_is_the_default_table():
    lines = {}
    for fmt in (None, "simple"):
        kwargs = {} if fmt is None else {"tablefmt": fmt}
        out = []
        torch.manual_seed(0)  # the same initial weights for both
        _net([], verbose=1, callbacks__print_log=PrintLog(sink=out.append, keys_ignored="dur",
                                                          **kwargs)).fit(X[:150], y[:150])
        lines[fmt] = out
    assert lines["simple"] == lines[None]
    assert lines[None][0].split() == ["epoch", "train_loss", "valid_acc", "valid_loss"]
    assert set(lines[None][1].replace(" ", "")) == {"-"}
    assert PrintLog().get_params()["tablefmt"] == "simple"


def test_printlog_other_tablefmt_is_refused_naming_the_formats():
    net = _net([], verbose=1, callbacks__print_log__tablefmt="grid")
    with pytest.raises(ValueError, match=r"tablefmt='grid'.*\['simple'\]"):
        net.fit(X[:150], y[:150])


# ------------------------------------------------ item 13a: lower_is_better=None
def test_lower_is_better_none_records_the_score_without_a_best_key():
    net = _net([EpochScoring("f1", lower_is_better=None),
                BatchScoring("accuracy", lower_is_better=None, name="bacc")],
               callbacks__valid_loss__lower_is_better=None, max_epochs=2).fit(X[:150], y[:150])
    pred = net.predict(X_VALID)
    assert net.history[-1, "f1"] == pytest.approx(f1_score(Y_VALID, pred))
    assert net.history[-1, "bacc"] == pytest.approx(accuracy_score(Y_VALID, pred))
    assert len(net.history[:, "valid_loss"]) == 2
    for key in ("f1", "bacc", "valid_loss"):
        assert all(f"{key}_best" not in row for row in net.history)
    assert net.history[:, "train_loss_best"][0] is True  # the others keep theirs


# ------------------------------------------------ item 13d: missing nested keys
def test_missing_batch_key_is_named_in_the_error():
    h = History()
    h.new_epoch()
    h.record("train_loss", 0.5)
    h.new_batch()
    h.record_batch("train_loss", 0.6)
    with pytest.raises(KeyError, match="'nope' was not found"):
        h[:, "batches", :, "nope"]
    with pytest.raises(KeyError, match="'nope' was not found"):
        h[:, "batches", -1, "nope"]
    with pytest.raises(KeyError, match="'nope' was not found"):
        h[:, "nope"]
    assert h[:, "batches", :, "train_loss"] == [[0.6]]
