"""A careful user's sweep for silent wrong results and lost models (issue #9, second pass).

Each test names the wrong result (or lost model) it guards against.
"""

import os
import pickle

import numpy as np
import pytest
import torch
import torch.distributed as dist
from sklearn.datasets import make_classification
from torch import nn

from sktorch import NeuralNetClassifier
from sktorch.callbacks import Checkpoint, LoadInitState
from sktorch.history import DistributedHistory
from sktorch.persistence import atomic_write
from sktorch.toy import MLPModule

X, Y = make_classification(150, 5, n_informative=3, n_redundant=0, n_classes=3,
                           random_state=0)
X = X.astype(np.float32)
LABELS = np.array(["c", "a", "b"])[Y]  # strings, not 0..n-1: indices would be wrong


def mlp_classifier(n_out=3, **kwargs):
    """A classifier whose module is a class (so that ``initialize()`` builds it)."""
    params = dict(module__input_units=5, module__output_units=n_out,
                  module__output_nonlin=nn.Softmax(dim=-1), max_epochs=4, lr=0.2,
                  verbose=0, random_state=0)
    params.update(kwargs)
    return NeuralNetClassifier(MLPModule, **params)


# ------------------------------------------------------- labels after load_params
def test_initialize_load_params_restores_the_labels(tmp_path):
    # Was: predict returned class indices [0, 1, ...] instead of 'a', 'b', ... .
    net = mlp_classifier().fit(X, LABELS)
    net.save_params(f_params=tmp_path / "params.pt")
    restored = mlp_classifier().initialize()
    restored.load_params(f_params=tmp_path / "params.pt")
    np.testing.assert_array_equal(restored.classes_, ["a", "b", "c"])
    np.testing.assert_array_equal(restored.predict(X), net.predict(X))
    assert restored.score(X, LABELS) == net.score(X, LABELS)


def test_labels_of_other_types_survive_load_params(tmp_path):
    labels = np.array([10, 20, 30])[Y]  # ints, but not the column indices
    net = mlp_classifier().fit(X, labels)
    net.save_params(f_params=tmp_path / "params.pt")
    restored = mlp_classifier().initialize()
    restored.load_params(f_params=tmp_path / "params.pt")
    assert restored.classes_.dtype == net.classes_.dtype
    np.testing.assert_array_equal(restored.predict(X), net.predict(X))


def test_weights_without_recorded_labels_refuse_to_predict_indices(tmp_path):
    # A safetensors file written by another tool (or skorch's) does not say which label
    # each column is (sktorch's own safetensors files record them).
    save_file = pytest.importorskip("safetensors.torch").save_file
    net = mlp_classifier().fit(X, LABELS)
    save_file(net.module_.state_dict(), str(tmp_path / "params.safetensors"))
    restored = mlp_classifier().initialize()
    restored.load_params(f_params=tmp_path / "params.safetensors", use_safetensors=True)
    np.testing.assert_allclose(restored.predict_proba(X), net.predict_proba(X), rtol=1e-6)
    with pytest.raises(ValueError, match=r"classes=\[\.\.\.\]"):
        restored.predict(X)
    with pytest.raises(ValueError, match="does not record the labels"):
        restored.score(X, LABELS)
    restored.classes_ = np.array(["a", "b", "c"])  # what the message says to do
    np.testing.assert_array_equal(restored.predict(X), net.predict(X))


def test_classes_given_to_the_constructor_make_unrecorded_weights_usable(tmp_path):
    pytest.importorskip("safetensors")
    net = mlp_classifier().fit(X, LABELS)
    net.save_params(f_params=tmp_path / "params.safetensors", use_safetensors=True)
    restored = mlp_classifier(classes=["c", "b", "a"]).initialize()
    restored.load_params(f_params=tmp_path / "params.safetensors", use_safetensors=True)
    np.testing.assert_array_equal(restored.predict(X), net.predict(X))


def test_a_net_that_never_saw_labels_still_predicts_indices_after_loading(tmp_path):
    # skorch's behaviour for a net trained on a torch Dataset without labels.
    data = torch.utils.data.TensorDataset(torch.tensor(X), torch.tensor(Y))
    net = mlp_classifier(train_split=None).fit(data, None)
    assert getattr(net, "classes_", None) is None
    net.save_params(f_params=tmp_path / "params.pt")
    restored = mlp_classifier(train_split=None).initialize()
    restored.load_params(f_params=tmp_path / "params.pt")
    np.testing.assert_array_equal(restored.predict(X), net.predict(X))


# ------------------------------------------- module outputs that classes_ lacks
def test_more_output_columns_than_classes_raises_instead_of_index_error():
    # A 3-output module fitted on a chunk with 2 labels: an IndexError inside
    # scoring before, or (when argmax never hit the third column) silent.
    first_two = Y < 2
    net = mlp_classifier()
    with pytest.raises(ValueError, match=r"outputs 3 class columns.*2 classes.*classes=\["):
        net.partial_fit(X[first_two], Y[first_two])
    net = mlp_classifier(train_split=None)
    net.partial_fit(X[first_two], Y[first_two])  # no scoring during the fit
    with pytest.raises(ValueError, match="outputs 3 class columns"):
        net.predict_proba(X)
    # With every label named up front it works, as the message says.
    net = mlp_classifier(classes=[0, 1, 2], train_split=None)
    net.partial_fit(X[first_two], Y[first_two])
    assert net.predict_proba(X).shape == (len(X), 3)


# ------------------------------------------------ resuming from another data's set
def test_load_init_state_refuses_a_checkpoint_of_other_labels(tmp_path):
    # Was: the checkpoint's classes_ replaced the labels this fit's y was encoded
    # with; the net then predicted labels that are not in y.
    cp = Checkpoint(dirname=str(tmp_path), monitor=None)
    mlp_classifier(callbacks=[cp]).fit(X, LABELS)
    other = np.array(["x", "y", "z"])[Y]
    net = mlp_classifier(callbacks=[cp, LoadInitState(cp)])
    with pytest.raises(ValueError, match=r"other data \(classes: \['a', 'b', 'c'\] there, "
                                         r"\['x', 'y', 'z'\] in this fit\)"):
        net.fit(X, other)
    # The same labels resume as before.
    resumed = mlp_classifier(callbacks=[cp, LoadInitState(cp)], max_epochs=1).fit(X, LABELS)
    assert resumed.history[:, "epoch"] == [1, 2, 3, 4, 5]


def test_load_init_state_refuses_a_checkpoint_of_other_feature_columns(tmp_path):
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame(X, columns=list("abcde"))
    cp = Checkpoint(dirname=str(tmp_path), monitor=None)
    mlp_classifier(callbacks=[cp]).fit(frame, LABELS)
    swapped = frame[list("edcba")]  # same shape, the columns in another order
    with pytest.raises(ValueError, match="feature names"):
        mlp_classifier(callbacks=[cp, LoadInitState(cp)]).fit(swapped, LABELS)


# ---------------------------------------------------- trim with a DistributedHistory
def test_trim_for_prediction_with_a_distributed_history():
    history = DistributedHistory(store=dist.HashStore(), rank=0, world_size=1)
    net = mlp_classifier(history=history).fit(X, LABELS)
    expected = net.predict(X)
    net.trim_for_prediction()
    np.testing.assert_array_equal(net.predict(X), expected)
    assert len(net.history) == 0
    assert len(history) == 4  # the user's own history object is left alone
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(net)).predict(X), expected)


# ------------------------------------------------------------ saving to odd paths
def test_saving_through_a_symlink_keeps_the_link(tmp_path):
    # Was: the atomic rename replaced the link itself with a regular file.
    net = mlp_classifier().fit(X, LABELS)
    (tmp_path / "models").mkdir()
    link = tmp_path / "current.pt"
    os.symlink(tmp_path / "models" / "v1.pt", link)
    net.save_params(f_params=link)
    assert link.is_symlink()
    restored = mlp_classifier().initialize()
    restored.load_params(f_params=tmp_path / "models" / "v1.pt")
    np.testing.assert_array_equal(restored.predict(X), net.predict(X))


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs named pipes")
def test_atomic_write_to_a_pipe_writes_into_it(tmp_path):
    # Was: a temporary file was renamed over the pipe (as root, even over /dev/full).
    import threading

    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    received = []
    reader = threading.Thread(target=lambda: received.append(open(fifo, "rb").read()),
                              daemon=True)  # blocks forever if nothing opens the pipe
    reader.start()
    with atomic_write(fifo) as handle:
        handle.write(b"weights")
    reader.join(timeout=30)
    assert received == [b"weights"]
    assert not fifo.is_file() and fifo.exists()


def test_saving_to_a_directory_says_to_pass_a_file(tmp_path):
    net = mlp_classifier().fit(X, LABELS)
    with pytest.raises(IsADirectoryError, match="Pass a file path"):
        net.save_params(f_params=tmp_path)
    assert os.listdir(tmp_path) == []  # no temporary file left behind


# ------------------------------------------------- prediction order, target shapes
def test_a_shuffled_validation_iterator_is_refused():
    # Was: predict returned rows in a shuffled order (accuracy 0.35 instead of 0.72)
    # and valid_acc compared shuffled predictions with unshuffled labels.
    with pytest.raises(ValueError, match=r"iterator_valid__shuffle=True.*another order"):
        mlp_classifier(iterator_valid__shuffle=True).fit(X, LABELS)
    net = mlp_classifier().fit(X, LABELS)
    net.set_params(iterator_valid__shuffle=True)
    with pytest.raises(ValueError, match="iterator_valid__shuffle"):
        net.predict(X)


@pytest.mark.parametrize("y_shape, batch_size", [((40, 1), 128), ((40,), 2)])
def test_regressor_outputs_that_broadcast_against_y_raise(y_shape, batch_size):
    # Was: MSELoss broadcast a 2-output module against a 1-column y (a torch warning,
    # a model fitted to the wrong targets, predict of shape (n, 2)).
    from sktorch import NeuralNetRegressor

    net = NeuralNetRegressor(MLPModule, module__input_units=5, module__output_units=2,
                             max_epochs=1, batch_size=batch_size, train_split=None,
                             verbose=0)
    y = X[:40, 0].reshape(y_shape)
    with pytest.raises(ValueError, match=r"outputs shape \(\d+, 2\).*1 output column"):
        net.fit(X[:40], y)
    with pytest.raises(ValueError, match="1 output column"):
        net.fit(X[:40], y, sample_weight=np.ones(40))


# ------------------------------------------------ validation data of predefined_split
def test_predefined_split_scores_encoded_validation_targets_as_labels():
    # Was: valid_acc compared labels 10/20/30 with the Dataset's indices 0/1/2: 0.0.
    from sktorch.dataset import Dataset
    from sktorch.helper import predefined_split

    labels = np.array([10, 20, 30])[Y]
    valid = Dataset(X[100:], Y[100:])  # class indices, as a Dataset's y holds
    net = mlp_classifier(train_split=predefined_split(valid), max_epochs=10)
    net.fit(X[:100], labels[:100])
    assert net.history[-1, "valid_acc"] == pytest.approx(net.score(X[100:], labels[100:]))
    assert net.history[-1, "valid_acc"] > 0.5


def test_predefined_split_with_labels_instead_of_indices_raises():
    # Was: -1/+1 targets went into BCEWithLogitsLoss as they were: a wrong valid_loss
    # (and early stopping on it) without an error.
    from sktorch import NeuralNetBinaryClassifier
    from sktorch.dataset import Dataset
    from sktorch.helper import predefined_split

    signs = np.where(Y == 1, 1, -1)
    net = NeuralNetBinaryClassifier(
        max_epochs=1, verbose=0, random_state=0,
        train_split=predefined_split(Dataset(X[100:], signs[100:])))
    with pytest.raises(ValueError, match=r"holds targets \[-1, 1\].*class indices 0\.\.1"):
        net.fit(X[:100], signs[:100])
    encoded = Dataset(X[100:], np.searchsorted([-1, 1], signs[100:]))  # as the message says
    net.set_params(train_split=predefined_split(encoded)).fit(X[:100], signs[:100])
    assert net.history[-1, "valid_acc"] == pytest.approx(net.score(X[100:], signs[100:]))


@pytest.mark.parametrize("missing", [None, np.nan])
def test_labels_with_missing_values_say_so(missing):
    labels = np.array(["a", "b", missing], dtype=object)[Y]
    with pytest.raises(ValueError, match=r"mixes labels of types .*None or NaN"):
        mlp_classifier().fit(X, labels)


def test_load_init_state_refuses_a_checkpoint_without_weights(tmp_path):
    # Was: the second fit resumed epochs 1-3's history and optimizer state on freshly
    # initialized weights ("epoch 4" of a model that never trained).
    cp = Checkpoint(dirname=str(tmp_path), f_params=None, monitor=None)
    with pytest.raises(ValueError, match=r"f_params=None.*freshly initialized weights"):
        mlp_classifier(callbacks=[cp, LoadInitState(cp)]).fit(X, LABELS)
