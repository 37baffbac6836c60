"""The built-in model's recipe replaces only the defaults nobody wrote (issue #12).

A value the user writes (constructor, ``set_params``, a search's grid) is used exactly
as written, even when it equals skorch's default; the untouched defaults (markers,
``sktorch._defaults``) survive ``clone``, ``get_params``/``set_params``, pickling
and ``repr``.
"""

import io
import pickle

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.datasets import load_wine
from sklearn.model_selection import GridSearchCV

from sktorch import NeuralNetClassifier, NeuralNetRegressor
from sktorch.model_selection import GridSearchCV as FusedGridSearchCV
from sktorch.toy import MLPModule
from tests.test_fused_core import _only_fused, run_both


def _wine():
    X, y = load_wine(return_X_y=True)
    return X.astype(np.float32), y


def _optimizer_of(net):
    group = net.optimizer_.param_groups[0]
    return type(net.optimizer_), group["lr"]


def _recording_scorer(seen):
    def score(net, X, y):
        seen.append((net.lr, *_optimizer_of(net), len(net.history_)))
        return net.score(X, y)
    return score


@pytest.mark.parametrize("search", [GridSearchCV, FusedGridSearchCV])
def test_grid_over_lr_gives_every_candidate_one_optimizer_class_and_its_own_lr(search):
    """On main the lr=0.01 candidate got the recipe's Adam at 0.003 and lr=0.1 got SGD."""
    X, y = _wine()
    seen = []
    grid = search(NeuralNetClassifier(max_epochs=4, verbose=0, random_state=0),
                  {"lr": [0.01, 0.1]}, cv=2, scoring=_recording_scorer(seen), refit=False)
    grid.fit(X, y)
    assert {row[1] for row in seen} == {torch.optim.SGD}
    assert all(lr == group_lr for lr, _, group_lr, _ in seen)
    assert sorted({row[2] for row in seen}) == [0.01, 0.1]
    assert all(n_epochs == 4 for *_, n_epochs in seen)


def test_explicit_defaults_are_honoured_exactly():
    X, y = _wine()
    net = NeuralNetClassifier(lr=0.01, max_epochs=10, batch_size=128, verbose=0,
                              random_state=0).fit(X, y)
    assert _optimizer_of(net) == (torch.optim.SGD, 0.01)
    assert len(net.history) == 10
    assert "stop_on_plateau" not in dict(net.callbacks_)
    assert net.history[-1, "batches", 0, "train_batch_size"] == 128


def test_explicit_max_epochs_10_alone_trains_10_epochs_with_the_recipes_optimizer():
    X, y = _wine()
    net = NeuralNetClassifier(max_epochs=10, verbose=0, random_state=0).fit(X, y)
    assert len(net.history) == 10
    assert _optimizer_of(net) == (torch.optim.Adam, 0.01)  # optimizer and lr untouched
    assert net.history[-1, "batches", 0, "train_batch_size"] == 142  # batch size untouched


def test_an_explicit_optimizer_is_honoured_with_the_default_lr():
    X, y = _wine()
    for optimizer in (torch.optim.SGD, torch.optim.Adam):
        net = NeuralNetClassifier(optimizer=optimizer, max_epochs=2, verbose=0).fit(X, y)
        assert _optimizer_of(net) == (optimizer, 0.01)


def test_clone_and_pickle_of_a_default_net_keep_the_recipe():
    X, y = _wine()
    net = NeuralNetClassifier(verbose=0, random_state=0)
    copies = [clone(net), pickle.loads(pickle.dumps(net)), clone(clone(net)),
              NeuralNetClassifier().set_params(**net.get_params(deep=False)),
              pickle.loads(pickle.dumps(clone(net)))]
    reference = net.fit(X, y)
    assert _optimizer_of(reference) == (torch.optim.Adam, 0.01)
    assert len(reference.history) > 10
    for twin in copies:
        twin.fit(X, y)
        assert _optimizer_of(twin) == (torch.optim.Adam, 0.01)
        assert len(twin.history) == len(reference.history)
        np.testing.assert_array_equal(twin.predict_proba(X), reference.predict_proba(X))


def test_clone_and_pickle_of_explicit_values_keep_them_explicit():
    X, y = _wine()
    net = NeuralNetClassifier(optimizer=torch.optim.SGD, lr=0.01, max_epochs=3, verbose=0)
    for twin in (clone(net), pickle.loads(pickle.dumps(net)), clone(pickle.loads(
            pickle.dumps(net)))):
        twin.fit(X, y)
        assert _optimizer_of(twin) == (torch.optim.SGD, 0.01)
        assert len(twin.history) == 3
    explicit_ten = clone(NeuralNetClassifier(max_epochs=10, verbose=0)).fit(X, y)
    assert len(explicit_ten.history) == 10


def test_set_params_with_a_value_equal_to_the_default_turns_the_recipe_off():
    X, y = _wine()
    net = NeuralNetClassifier(verbose=0, random_state=0).fit(X, y)
    assert type(net.optimizer_) is torch.optim.Adam
    net.set_params(lr=0.01, max_epochs=10)
    assert _optimizer_of(net) == (torch.optim.SGD, 0.01)  # rebuilt at once
    assert "stop_on_plateau" not in dict(net.callbacks_)
    net.fit(X, y)
    assert _optimizer_of(net) == (torch.optim.SGD, 0.01) and len(net.history) == 10


def test_repr_hides_the_untouched_defaults_and_shows_written_ones():
    assert repr(NeuralNetClassifier()) == "NeuralNetClassifier()"
    assert repr(clone(NeuralNetRegressor())) == "NeuralNetRegressor()"
    written = repr(NeuralNetClassifier(lr=0.01, max_epochs=10))
    assert "lr=0.01" in written and "max_epochs=10" in written
    assert "lr=0.01" in repr(clone(NeuralNetClassifier(lr=0.01)))


def test_untouched_defaults_equal_skorchs_values():
    params = NeuralNetClassifier().get_params()
    assert params["lr"] == 0.01 and params["max_epochs"] == 10 and params["batch_size"] == 128
    assert params["optimizer"] == torch.optim.SGD and torch.optim.SGD == params["optimizer"]
    assert issubclass(params["optimizer"], torch.optim.SGD)
    assert repr(params["optimizer"]) == repr(torch.optim.SGD)
    assert repr(params["lr"]) == "0.01" and params["lr"] * 2 == 0.02


def test_user_module_gets_plain_sgd_whose_state_loads_with_weights_only(tmp_path):
    X, y = _wine()
    net = NeuralNetClassifier(MLPModule, module__input_units=13, module__output_units=3,
                              module__output_nonlin=torch.nn.Softmax(dim=-1), verbose=0,
                              max_epochs=2).fit(X, y)
    assert type(net.optimizer_) is torch.optim.SGD
    assert type(net.optimizer_.param_groups[0]["lr"]) is float
    buffer = io.BytesIO()
    torch.save(net.optimizer_.state_dict(), buffer)
    buffer.seek(0)
    state = torch.load(buffer, weights_only=True)
    assert state["param_groups"][0]["lr"] == 0.01


def test_fused_members_with_explicit_default_values_equal_their_sequential_fits():
    X, y = _wine()
    data = [(X[:150], y[:150]), (X[20:], y[20:])]

    def nets():
        return [NeuralNetClassifier(lr=lr, max_epochs=10, verbose=0, random_state=i,
                                    hidden_units=8) for i, lr in enumerate((0.01, 0.1))]

    seq, fused, reports = run_both(nets, data)
    _only_fused(reports, 2)
    for net, lr in zip(fused, (0.01, 0.1)):
        assert _optimizer_of(net) == (torch.optim.SGD, lr)
        assert len(net.history_) == 10
