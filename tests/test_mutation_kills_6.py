"""Tests that kill mutants the sixth sample run (an idle ``make mutation``) found surviving
(the estimator's initialize and fit loop, the training engine, the data and iterator code,
the classifier).

Each test names the behaviour a user relies on, and builds everything it uses.
"""

import warnings

import numpy as np
import pytest
import torch
from torch.utils.data import Dataset as TorchDataset

import sktorch.net
from sktorch import NeuralNet, NeuralNetClassifier, NeuralNetRegressor
from sktorch.callbacks import Callback
from sktorch.toy import MLPModule
from tests._exact import raises_exactly


def _regression(n=64, features=4, seed=0):
    rng = np.random.RandomState(seed)
    X = rng.randn(n, features).astype(np.float32)
    y = (X @ rng.randn(features) + 0.1 * rng.randn(n)).astype(np.float32)
    return X, y


def _weights(net):
    return [p.detach().clone() for p in net.module_.parameters()]


# ------------------------------------------------------------------------- net.py
def test_a_net_without_a_loss_says_which_loss_to_pass():
    net = NeuralNet(module=torch.nn.Linear, module__in_features=4, module__out_features=1)
    message = ("NeuralNet needs a loss: pass criterion=torch.nn.MSELoss (or another loss "
               "class), or use NeuralNetClassifier / NeuralNetRegressor, which have "
               "defaults.")
    with raises_exactly(ValueError, message):
        net.initialize()


def test_initialize_forgets_the_features_learned_by_the_last_fit():
    X4, y = _regression(features=4)
    X6, _ = _regression(features=6)
    net = NeuralNetRegressor(MLPModule, module__input_units=4, module__output_units=1,
                             max_epochs=1, train_split=None, verbose=0, random_state=0)
    net.fit(X4, y)
    assert net.n_features_in_ == 4
    net.set_params(module__input_units=6).initialize()
    assert not hasattr(net, "n_features_in_")
    net.partial_fit(X6, y)  # a new model for 6 features: no stale 4-feature check
    assert net.n_features_in_ == 6
    assert net.predict(X6).shape == (len(y),)


def test_without_random_state_torch_manual_seed_makes_fits_repeat():
    # random_state=None leaves the randomness to torch's global generator, as in skorch:
    # torch.manual_seed alone repeats a fit, whatever numpy's global generator did.
    X, y = _regression()

    def fit():
        return NeuralNetRegressor(MLPModule, module__input_units=4, module__output_units=1,
                                  module__dropout=0.3, max_epochs=3, batch_size=16,
                                  train_split=None, verbose=0).fit(X, y)

    torch.manual_seed(0)
    first = fit()
    np.random.rand(3)  # numpy's global generator moves on between the fits
    torch.manual_seed(0)
    second = fit()
    for p, q in zip(_weights(first), _weights(second)):
        assert torch.equal(p, q)
    torch.manual_seed(1)
    third = fit()
    assert not all(torch.equal(p, q) for p, q in zip(_weights(first), _weights(third)))


def test_fit_validates_x_and_y_once(monkeypatch):
    calls = []
    real = sktorch.net.check_fit_data

    def counting(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(sktorch.net, "check_fit_data", counting)
    X, y = _regression()
    NeuralNetRegressor(max_epochs=1, train_split=None, verbose=0, random_state=0).fit(X, y)
    assert len(calls) == 1


class _NoisyRows(TorchDataset):
    """Rows with noise drawn from torch's global generator (data augmentation)."""

    def __init__(self, X, y):
        self.X, self.y = torch.as_tensor(X), torch.as_tensor(y)

    def __len__(self):
        return len(self.X)

    def __getitem__(self, i):
        return self.X[i] + 0.5 * torch.randn(self.X.shape[1]), self.y[i]


def test_random_state_repeats_a_fit_whose_dataset_augments_with_torch_randomness():
    X, y = _regression()
    data = _NoisyRows(X, y)

    def fit():
        return NeuralNetRegressor(torch.nn.Linear, module__in_features=4,
                                  module__out_features=1, max_epochs=2, batch_size=16,
                                  train_split=None, verbose=0, random_state=0).fit(data, None)

    torch.manual_seed(0)
    first = fit()
    torch.manual_seed(123)  # the user's global state differs; random_state decides
    second = fit()
    for p, q in zip(_weights(first), _weights(second)):
        assert torch.equal(p, q)


def test_device_none_fits_are_deterministic_in_the_tags():
    assert NeuralNetClassifier(device=None).__sklearn_tags__().non_deterministic is False
    assert NeuralNetClassifier(device="cpu").__sklearn_tags__().non_deterministic is False
    assert NeuralNetClassifier(device="cuda").__sklearn_tags__().non_deterministic is True


# ---------------------------------------------------------------------- engine.py
class _InterruptAt(Callback):
    """Raises KeyboardInterrupt at one training batch; records what on_train_end gets."""

    def __init__(self, epoch, batch):
        self.epoch, self.batch = epoch, batch

    def initialize(self):
        self.seen_, self.end_kwargs_ = 0, None
        return self

    def on_batch_end(self, net, training=None, **kwargs):
        if training:
            self.seen_ += 1
            if len(net.history) == self.epoch and self.seen_ == self.batch:
                raise KeyboardInterrupt

    def on_epoch_begin(self, net, **kwargs):
        self.seen_ = 0

    def on_train_end(self, net, **kwargs):
        self.end_kwargs_ = kwargs


def test_a_keyboard_interrupt_in_the_loop_keeps_the_net_and_records_why():
    X, y = _regression()
    stopper = _InterruptAt(epoch=2, batch=2)
    net = NeuralNetRegressor(max_epochs=5, batch_size=16, train_split=None, verbose=0,
                             random_state=0, callbacks=[stopper])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        net.fit(X, y)
    assert len(net.history) == 2
    assert net.history[-1, "stop_reason"] == "interrupted by the user (KeyboardInterrupt)"
    assert "stop_reason" not in net.history[0]
    messages = [str(w.message) for w in caught if "interrupted" in str(w.message)]
    assert messages == [
        "Training was interrupted (KeyboardInterrupt); the net keeps the weights of the "
        "last completed batch and can be used or trained further."]
    assert np.isfinite(net.predict(X)).all()


def test_on_train_end_receives_the_fit_data():
    X, y = _regression()
    record = _InterruptAt(epoch=-1, batch=-1)  # never interrupts
    NeuralNetRegressor(max_epochs=1, train_split=None, verbose=0, random_state=0,
                       callbacks=[record]).fit(X, y)
    np.testing.assert_array_equal(np.asarray(record.end_kwargs_["X"]), X)
    np.testing.assert_array_equal(np.asarray(record.end_kwargs_["y"]).ravel(), y)


# -------------------------------------------------------------------- _net_data.py
def test_the_builtin_model_rejects_a_list_of_arrays_with_a_clear_message():
    X, y = _regression()
    net = NeuralNetRegressor(max_epochs=1, verbose=0)
    message = ("The built-in MLP (module=None) takes one array of features, but X is a "
               "list of 2 arrays. Pass module=YourModule whose forward takes that list, or "
               "give X as one 2-d array (e.g. np.hstack of the arrays).")
    with raises_exactly(TypeError, message):
        net.fit([X[:, :2], X[:, 2:]], y)


class _BatchOrder(Callback):
    """Records the first target of each training batch, per epoch."""

    def initialize(self):
        self.epochs_ = []
        return self

    def on_epoch_begin(self, net, **kwargs):
        self.epochs_.append([])

    def on_batch_begin(self, net, batch=None, training=None, **kwargs):
        if training:
            self.epochs_[-1].append(float(batch[1].reshape(-1)[0]))


def _loader_fit(seed_before, **kwargs):
    X, _ = _regression(n=48)
    y = np.arange(48, dtype=np.float32)  # each row's target names it
    order = _BatchOrder()
    params = dict(max_epochs=2, batch_size=8, train_split=None, verbose=0, random_state=0,
                  lr=0.0, callbacks=[order], iterator_train__num_workers=0)
    params.update(kwargs)
    torch.manual_seed(seed_before)
    NeuralNetRegressor(**params).fit(X, y)
    return order.epochs_


def test_the_dataloader_path_shuffles_training_batches():
    epochs = _loader_fit(0)
    sequential = [float(8 * i) for i in range(6)]
    assert epochs[0] != sequential and epochs[1] != sequential
    assert epochs[0] != epochs[1]  # a new order each epoch


def test_random_state_decides_the_dataloader_paths_shuffle():
    # torch's global generator differs before the two fits; the order must not
    assert _loader_fit(0) == _loader_fit(99)
    assert _loader_fit(0) != _loader_fit(0, random_state=1)


# ------------------------------------------------------------------- classifier.py
def test_classes_given_up_front_are_known_after_initialize():
    net = NeuralNetClassifier(MLPModule, module__input_units=4, module__output_units=3,
                              classes=["c", "a", "b"], verbose=0).initialize()
    np.testing.assert_array_equal(net.classes_, ["a", "b", "c"])
    X, _ = _regression(n=10)
    with torch.no_grad():
        expected = net.module_(torch.as_tensor(X)).argmax(1).numpy()
    np.testing.assert_array_equal(net.predict(X), np.array(["a", "b", "c"])[expected])


# --------------------------------------------------------------------- _weights.py
def test_sample_weights_given_as_numeric_strings_weigh_as_numbers_as_in_scikit_learn():
    from sklearn.utils.validation import _check_sample_weight

    X, y = _regression()
    numbers = np.tile([1.0, 2.0, 0.5, 3.0], 16)
    text = numbers.astype(str)  # e.g. a weight column read from a text file
    np.testing.assert_array_equal(_check_sample_weight(text, X), numbers)

    def fit(w):
        return NeuralNetRegressor(max_epochs=2, train_split=None, verbose=0,
                                  random_state=0).fit(X, y, sample_weight=w)

    np.testing.assert_array_equal(fit(text).history[:, "train_loss"],
                                  fit(numbers).history[:, "train_loss"])


def test_targets_with_nan_are_refused_with_what_to_do():
    X, y = _regression()
    y[3] = np.nan
    message = "Input y contains NaN or infinity; drop or impute those rows."
    net = NeuralNet(torch.nn.Linear, module__in_features=4, module__out_features=1,
                    criterion=torch.nn.MSELoss, max_epochs=1, verbose=0)
    with raises_exactly(ValueError, message):
        net.fit(X, y.reshape(-1, 1))


# ------------------------------------------------------------ persistence / checkpoints
def test_a_net_saved_on_a_missing_gpu_loads_on_the_cpu_saying_so(monkeypatch):
    import pickle

    from sktorch.exceptions import DeviceWarning

    X, y = _regression()
    net = NeuralNetRegressor(max_epochs=1, train_split=None, verbose=0).fit(X, y)
    before = net.predict(X)
    net.device = "cuda"  # as if trained there
    data = pickle.dumps(net)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.warns(DeviceWarning) as caught:
        loaded = pickle.loads(data)
    assert [str(w.message) for w in caught if w.category is DeviceWarning] == [
        "This net was saved on device 'cuda', which this machine does not have; it was "
        "loaded onto the CPU and its device set to 'cpu'."]
    assert loaded.device == "cpu"
    np.testing.assert_array_equal(loaded.predict(X), before)


def test_no_complete_checkpoint_says_how_to_start_afresh(tmp_path):
    from sktorch.callbacks import Checkpoint
    from sktorch.exceptions import CheckpointError

    X, y = _regression()
    cp = Checkpoint(monitor=None, dirname=str(tmp_path))
    NeuralNetRegressor(max_epochs=1, train_split=None, verbose=0, callbacks=[cp]).fit(X, y)
    for path in (tmp_path / ".sktorch").rglob("params.pt"):
        path.unlink()  # the only set loses its weights
    net = NeuralNetRegressor(max_epochs=1, train_split=None, verbose=0).initialize()
    with pytest.raises(CheckpointError) as error:
        net.load_params(checkpoint=cp)
    text = str(error.value)
    assert text.startswith(f"No complete checkpoint in {tmp_path}: epoch 1: ")
    assert text.endswith(
        ". Delete the manifest to start afresh, or restore the files from a backup.")
