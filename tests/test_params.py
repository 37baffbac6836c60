"""Parameter routing, get_params/set_params, and the did-you-mean errors."""

import numpy as np
import pytest
import torch
from sklearn.base import clone
from torch import nn

from sktorch import NeuralNetClassifier, NeuralNetRegressor
from tests.conftest import SimpleClassifier


def test_deep_params_list_component_arguments_with_defaults():
    params = NeuralNetClassifier(SimpleClassifier, optimizer=torch.optim.SGD).get_params()
    assert params["module__hidden_units"] == 10
    assert params["optimizer__weight_decay"] == 0
    assert params["optimizer__momentum"] == 0
    assert params["criterion__reduction"] == "mean"
    assert "optimizer__params" not in params and "optimizer__lr" not in params
    shallow = NeuralNetClassifier(SimpleClassifier).get_params(deep=False)
    assert set(shallow) <= set(params)


def test_deep_params_show_set_values():
    net = NeuralNetClassifier(SimpleClassifier, module__hidden_units=30)
    assert net.get_params()["module__hidden_units"] == 30


def test_bare_module_argument_is_routed_in_constructor_and_set_params(clf_data):
    X, y = clf_data
    net = NeuralNetClassifier(SimpleClassifier, hidden_units=12, criterion=nn.BCELoss,
                              max_epochs=1, verbose=0)
    assert net.get_params()["hidden_units"] == 12
    net.fit(X, y)
    assert net.module_.hidden.out_features == 12
    net.set_params(hidden_units=5)  # re-initializes the module of a fitted net
    assert net.module_.hidden.out_features == 5
    assert clone(net).hidden_units == 5


def test_bare_name_and_prefixed_name_last_one_wins():
    net = NeuralNetClassifier(SimpleClassifier, hidden_units=12)
    net.set_params(module__hidden_units=3)
    params = net.get_params(deep=False)
    assert params["module__hidden_units"] == 3 and "hidden_units" not in params


def test_unknown_parameter_lists_close_matches():
    with pytest.raises(ValueError, match="'max_epocs'.*did you mean 'max_epochs'"):
        NeuralNetClassifier(SimpleClassifier, max_epocs=3)
    net = NeuralNetClassifier(SimpleClassifier)
    with pytest.raises(ValueError, match="hiden_units.*hidden_units"):
        net.set_params(hiden_units=3)


def test_lr_change_updates_optimizer_in_place(clf_data):
    X, y = clf_data
    net = NeuralNetClassifier(lr=0.1, max_epochs=1, verbose=0).fit(X, y)
    optimizer = net.optimizer_
    net.set_params(lr=0.5)
    assert net.optimizer_ is optimizer
    assert all(group["lr"] == 0.5 for group in optimizer.param_groups)


def test_optimizer_parameters_rebuild_optimizer(clf_data):
    X, y = clf_data
    net = NeuralNetClassifier(max_epochs=1, verbose=0).fit(X, y)
    net.set_params(optimizer__momentum=0.9)
    assert net.optimizer_.param_groups[0]["momentum"] == 0.9


def test_loss_function_is_an_alias_of_criterion(reg_data):
    X, y = reg_data
    net = NeuralNetRegressor(loss_function=nn.L1Loss, max_epochs=1, verbose=0).fit(X, y)
    assert isinstance(net.criterion_, nn.L1Loss)
    conflict = NeuralNetRegressor(criterion=nn.HuberLoss, loss_function=nn.L1Loss, verbose=0)
    with pytest.raises(ValueError, match="pass only one"):
        conflict.fit(X, y)


def test_criterion_parameters_are_routed(reg_data):
    X, y = reg_data
    net = NeuralNetRegressor(criterion=nn.HuberLoss, criterion__delta=0.5, max_epochs=1,
                             verbose=0).fit(X, y)
    assert net.criterion_.delta == 0.5


def test_module_arguments_for_an_instance_rebuild_it_from_its_class(clf_data):
    # skorch's rule: an instance with module__* arguments is built again from its class.
    X, y = clf_data
    net = NeuralNetClassifier(SimpleClassifier(), module__hidden_units=3, verbose=0)
    net.fit(X, y)
    assert net.module_.hidden.out_features == 3


def test_repr_shows_only_changed_parameters():
    text = repr(NeuralNetClassifier(lr=0.3, max_epochs=4))
    assert text == "NeuralNetClassifier(lr=0.3, max_epochs=4)"


def test_default_callback_parameters_are_routed(clf_data):
    X, y = clf_data
    lines = []
    net = NeuralNetClassifier(max_epochs=2, callbacks__print_log__sink=lines.append)
    net.fit(X, y)
    assert len(lines) == 4 and "valid_acc" in lines[0]


def test_iterator_and_dataset_parameters_are_routed(clf_data):
    from sktorch.dataset import Dataset

    X, y = clf_data
    created = []

    class TaggedDataset(Dataset):
        def __init__(self, X, y=None, tag=None):
            super().__init__(X, y)
            created.append(tag)

    net = NeuralNetClassifier(
        max_epochs=5, lr=0.1, verbose=0, random_state=0, dataset=TaggedDataset,
        dataset__tag="mine",
        iterator_valid__batch_size=7, train_split=None, criterion=nn.CrossEntropyLoss,
    ).fit(X, np.array(["a", "b"])[y])  # the dataset receives class indices
    assert created and set(created) == {"mine"}
    assert net.score(X, np.array(["a", "b"])[y]) > 0.7
    seen = []
    net.module_.register_forward_hook(lambda m, i, o: seen.append(len(i[0])))
    net.predict(X[:20])
    assert seen == [7, 7, 6]
