"""skorch's documented parameter routing and callback behaviour (issues 9.2-9.4, 13.1-13.5).

Each test is written from what skorch's documentation promises a user, as a small
script would use it.
"""

import os

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV
from torch import nn

from sktorch import NeuralNet, NeuralNetClassifier, NeuralNetRegressor
from sktorch.callbacks import (
    BatchScoring,
    Callback,
    Checkpoint,
    EarlyStopping,
    EpochScoring,
    LoadInitState,
    LRScheduler,
    PrintLog,
)

X = np.random.RandomState(0).randn(100, 3).astype(np.float32)
Y = (X @ np.array([1.0, -2.0, 0.5], dtype=np.float32)).astype(np.float32)


def regressor(**kwargs):
    params = dict(max_epochs=2, lr=0.05, verbose=0, random_state=0, batch_size=16)
    params.update(kwargs)
    return NeuralNetRegressor(**params)


def by_name(net, name):
    return dict(net.callbacks_)[name]


# ---------------------------------------------------------------- 9.2 re-binding
TRAIN_BEGIN_LENGTHS: list = []


class RecordResumedEpochs(Callback):
    """Runs after LoadInitState: how many epochs the history had when training began."""

    def on_train_begin(self, net, **kwargs):
        TRAIN_BEGIN_LENGTHS.append(len(net.history))


def checkpointed(dirname, **kwargs):
    cp = Checkpoint(monitor=None, dirname=str(dirname))
    return regressor(callbacks=[("checkpoint", cp), ("load", LoadInitState(cp)),
                                ("record", RecordResumedEpochs())], **kwargs)


def test_clone_links_load_init_state_to_the_clones_own_checkpoint(tmp_path):
    net = checkpointed(tmp_path / "original")
    copy = clone(net)
    cp, load = copy.callbacks[0][1], copy.callbacks[1][1]
    assert load.checkpoint is cp
    assert cp is not net.callbacks[0][1]


def test_load_init_state_follows_a_routed_dirname(tmp_path):
    original = checkpointed(tmp_path / "original").fit(X, Y)  # 2 epochs saved there
    assert len(original.history) == 2
    candidate = clone(original).set_params(callbacks__checkpoint__dirname=str(tmp_path / "new"))
    candidate.fit(X, Y)
    # Resuming from the original directory would give epochs [1, 2, 3, 4].
    assert candidate.history[:, "epoch"] == [1, 2]
    assert os.path.exists(tmp_path / "new" / "params.pt")
    cp, load = by_name(candidate, "checkpoint"), by_name(candidate, "load")
    assert load.checkpoint is cp and cp.dirname == str(tmp_path / "new")


def test_grid_search_over_checkpoint_dirname_resumes_per_candidate(tmp_path):
    checkpointed(tmp_path / "original", max_epochs=3).fit(X, Y)
    TRAIN_BEGIN_LENGTHS.clear()
    dirs = [str(tmp_path / "a"), str(tmp_path / "b")]
    search = GridSearchCV(checkpointed(tmp_path / "original"),
                          {"callbacks__checkpoint__dirname": dirs}, cv=2, refit=False,
                          scoring="neg_mean_squared_error", error_score="raise")
    search.fit(X, Y)
    # Each candidate's first fold starts from scratch in its own directory; its second
    # fold resumes from the first (the original directory holds 3 epochs).
    assert TRAIN_BEGIN_LENGTHS == [0, 2, 0, 2]
    assert all(os.path.exists(os.path.join(d, "manifest.json")) for d in dirs)


# ----------------------------------------------------- 9.3 names and class callbacks
def test_misspelled_callback_name_raises_with_a_hint():
    net = regressor(callbacks=[("es", EarlyStopping())])
    with pytest.raises(ValueError, match=r"no callback named 'ess'.*Did you mean 'es'"):
        net.set_params(callbacks__ess__patience=3)
    assert "callbacks__ess__patience" not in net.get_params()  # the net is unchanged


def test_misspelled_callback_name_in_the_constructor_fails_at_fit_and_clones():
    net = regressor(callbacks=[("es", EarlyStopping())], callbacks__ess__patience=3)
    assert clone(net).get_params()["callbacks__ess__patience"] == 3
    with pytest.raises(ValueError, match="Did you mean 'es'"):
        net.fit(X, Y)


def test_misspelled_callback_parameter_raises_with_a_hint():
    net = regressor(callbacks=[("es", EarlyStopping())])
    with pytest.raises(ValueError, match="Did you mean 'patience'"):
        net.set_params(callbacks__es__patiance=3)


def test_misspelled_name_makes_a_grid_search_fail_rather_than_score_the_same():
    search = GridSearchCV(regressor(callbacks=[("es", EarlyStopping())]),
                          {"callbacks__e__patience": [1, 3]}, cv=2, error_score="raise",
                          scoring="neg_mean_squared_error")
    with pytest.raises(ValueError, match="no callback named 'e'"):
        search.fit(X, Y)


def test_a_callback_class_gets_its_routed_parameters():
    net = regressor(max_epochs=20, lr=0.0, callbacks=[("es", EarlyStopping)])
    net.set_params(callbacks__es__patience=1)
    net.fit(X, Y)
    assert by_name(net, "es").patience == 1
    assert len(net.history) == 2  # lr=0: no improvement; patience 5 would run 6 epochs


# ---------------------------------------------------- 9.4 the user's object is kept
def test_routed_parameter_configures_a_copy_not_the_users_callback():
    es = EarlyStopping(patience=5)
    net = regressor(max_epochs=20, lr=0.0, callbacks=[("es", es)])
    net.set_params(callbacks__es__patience=1).fit(X, Y)
    assert es.patience == 5
    assert by_name(net, "es").patience == 1 and by_name(net, "es") is not es
    assert len(net.history) == 2


def test_two_nets_sharing_one_callback_keep_their_own_settings():
    es = EarlyStopping()
    net_a = regressor(max_epochs=20, lr=0.0, callbacks=[("es", es)])
    net_b = regressor(max_epochs=20, lr=0.0, callbacks=[("es", es)])
    net_a.set_params(callbacks__es__patience=1)
    net_b.set_params(callbacks__es__patience=3)
    assert len(net_a.fit(X, Y).history) == 2
    assert len(net_b.fit(X, Y).history) == 4
    assert len(net_a.fit(X, Y).history) == 2


def test_an_unconfigured_callback_is_used_as_given():
    es = EarlyStopping(patience=2)
    net = regressor(max_epochs=20, lr=0.0, callbacks=[es]).fit(X, Y)
    assert by_name(net, "EarlyStopping") is es and es.misses_ == 2


# ------------------------------------------------------------- 13.1 train_split
def test_train_split_false_means_no_split():
    net = regressor(train_split=False).fit(X, Y)
    assert "valid_loss" not in net.history[-1]
    assert net.history[-1, "train_batch_count"] == 7  # all 100 rows in batches of 16


# ----------------------------------------------------------- 13.2 *args subclasses
class MyNet(NeuralNetRegressor):
    def __init__(self, *args, extra=1, **kwargs):
        super().__init__(*args, **kwargs)
        self.extra = extra


def test_varargs_subclass_round_trips_get_params_set_params_clone():
    net = MyNet(nn.Linear, extra=5, module__in_features=3, module__out_features=1,
                max_epochs=1, verbose=0)
    params = net.get_params()
    assert params["extra"] == 5 and params["module"] is nn.Linear
    copy = clone(net)
    assert copy.extra == 5 and copy.get_params(deep=False).keys() == net.get_params(
        deep=False).keys()
    assert copy.set_params(extra=7).extra == 7
    assert "extra=7" in repr(copy)
    assert copy.fit(X, Y.reshape(-1, 1)).predict(X).shape == (100, 1)


def test_varargs_subclass_in_a_grid_search():
    search = GridSearchCV(MyNet(max_epochs=1, verbose=0), {"extra": [1, 2]}, cv=2,
                          scoring="neg_mean_squared_error", error_score="raise")
    assert search.fit(X, Y).best_params_["extra"] in (1, 2)


# ------------------------------------------- 13.3 removing and re-setting callbacks
def test_setting_a_default_callback_to_none_removes_it(capsys):
    net = regressor(verbose=1)
    net.set_params(callbacks__print_log=None, callbacks__train_loss=None).fit(X, Y)
    assert "print_log" not in dict(net.callbacks_)
    assert "train_loss" not in net.history[-1]
    assert capsys.readouterr().out == ""


def test_setting_a_user_callback_to_none_removes_it():
    net = regressor(max_epochs=4, lr=0.0, callbacks=[("es", EarlyStopping(patience=1))])
    net.set_params(callbacks__es=None).fit(X, Y)
    assert len(net.history) == 4


def test_set_params_overrides_a_value_given_in_the_constructor():
    net = regressor(max_epochs=20, lr=0.0, callbacks=[("es", EarlyStopping())],
                    callbacks__es__patience=3)
    net.set_params(callbacks__es__patience=1).fit(X, Y)
    assert len(net.history) == 2
    assert net.get_params()["callbacks__es__patience"] == 1


def test_a_callback_can_be_replaced_by_name(capsys):
    lines = []
    net = regressor(verbose=1).set_params(callbacks__print_log=PrintLog(sink=lines.append))
    net.fit(X, Y)
    assert lines and capsys.readouterr().out == ""


# ------------------------------------------------------------- 13.4 the printed log
def table(lines):
    header = lines[0].split()
    rows = [dict(zip(header, line.split())) for line in lines[2:] if not line.startswith("Stop")]
    return header, rows


class RecordsAValue(Callback):
    def on_epoch_end(self, net, **kwargs):
        net.history.record("my_value", 0.25)


def test_print_log_runs_last_and_shows_what_others_recorded(tmp_path):
    lines = []
    net = regressor(
        verbose=1, callbacks__print_log__sink=lines.append,
        callbacks=[EpochScoring("r2", lower_is_better=False), RecordsAValue(),
                   BatchScoring("neg_mean_squared_error", name="batch_mse"),
                   Checkpoint(dirname=str(tmp_path)),
                   LRScheduler("StepLR", step_size=1, gamma=0.5)],
    ).fit(X, Y)
    assert isinstance(net.callbacks_[-1][1], PrintLog)
    header, rows = table(lines)
    assert header == ["epoch", "batch_mse", "my_value", "r2", "train_loss", "valid_loss", "cp",
                      "lr", "dur"]
    assert rows[0]["my_value"] == "0.2500"
    assert rows[0]["cp"] == "+"  # the first epoch is always the best so far
    assert [row["lr"] for row in rows] == ["0.0500", "0.0250"]


def test_print_log_keys_ignored_and_classifier_column_order():
    lines = []
    X_clf, y_clf = X, (Y > 0).astype(int)
    NeuralNetClassifier(max_epochs=2, verbose=1, random_state=0,
                        callbacks__print_log__sink=lines.append).fit(X_clf, y_clf)
    assert table(lines)[0] == ["epoch", "train_loss", "valid_acc", "valid_loss", "dur"]
    lines.clear()
    NeuralNetClassifier(max_epochs=2, verbose=1, random_state=0,
                        callbacks__print_log__sink=lines.append,
                        callbacks__print_log__keys_ignored=["valid_acc", "dur"]).fit(X_clf, y_clf)
    assert table(lines)[0] == ["epoch", "train_loss", "valid_loss"]


def test_history_rows_count_batches():
    net = regressor().fit(X, Y)  # 80 training rows and 20 validation rows
    assert net.history[:, "train_batch_count"] == [5, 5]
    assert net.history[:, "valid_batch_count"] == [2, 2]


def test_refit_with_verbose_says_what_is_re_initialized(capsys):
    net = regressor(verbose=1, callbacks__print_log__sink=lambda line: None)
    net.fit(X, Y)
    assert "Re-initializing" not in capsys.readouterr().out
    net.fit(X, Y)
    out = capsys.readouterr().out.splitlines()
    assert out[:3] == ["Re-initializing module.", "Re-initializing criterion.",
                       "Re-initializing optimizer."]
    net.set_params(verbose=0).fit(X, Y)
    assert capsys.readouterr().out == ""


def test_set_params_on_a_fitted_net_says_why_it_re_initializes(capsys):
    net = regressor(verbose=1, callbacks__print_log__sink=lambda line: None,
                    hidden_units=4).fit(X, Y)
    capsys.readouterr()
    net.set_params(module__hidden_units=6)
    out = capsys.readouterr().out.splitlines()
    assert out == ["Re-initializing module because the following parameters were re-set: "
                   "module__hidden_units.", "Re-initializing optimizer."]


# ----------------------------------------------------------- 13.5 extra components
class TwoModuleNet(NeuralNetRegressor):
    """skorch's customization-guide pattern: a second module and its own optimizer."""

    def initialize_module(self, *args, **kwargs):
        super().initialize_module(*args, **kwargs)
        self.module2_ = nn.Linear(**self.get_params_for("module2"))
        return self

    def initialize_criterion(self):
        super().initialize_criterion()
        self.other_criterion_ = nn.L1Loss(**self.get_params_for("other_criterion"))
        return self

    def initialize_optimizer(self):
        args, kwargs = self.get_params_for_optimizer("optimizer", self.module_.named_parameters())
        self.optimizer_ = self.optimizer(*args, **kwargs)
        args, kwargs = self.get_params_for_optimizer(
            "optimizer2", self.module2_.named_parameters())
        self.optimizer2_ = torch.optim.SGD(*args, **kwargs)
        return self

    def get_loss(self, y_pred, y_true, X=None, training=False):
        loss = super().get_loss(y_pred, y_true, X=X, training=training)
        return loss + self.other_criterion_(self.module2_(X), y_true)


Y2 = Y.reshape(-1, 1)


def two_module_net(**kwargs):
    params = dict(module=nn.Linear, module__in_features=3, module__out_features=1,
                  module2__in_features=3, module2__out_features=1,
                  other_criterion__reduction="sum", optimizer2__lr=0.01,
                  max_epochs=2, lr=0.05, verbose=0, random_state=0)
    params.update(kwargs)
    return TwoModuleNet(**params)


def test_custom_prefixes_are_routed_and_the_extra_optimizer_steps():
    net = two_module_net().initialize()
    assert isinstance(net.module2_, nn.Linear) and net.module2_.in_features == 3
    assert net.other_criterion_.reduction == "sum"
    assert net.optimizer2_.param_groups[0]["lr"] == 0.01
    built = net.module2_.weight.detach().clone()
    assert not torch.allclose(net.partial_fit(X, Y2).module2_.weight, built)
    frozen = two_module_net(optimizer2__lr=0.0).initialize()
    built = frozen.module2_.weight.detach().clone()
    # optimizer2_ alone updates module2_ here: with its lr at 0 the weights stay as built.
    torch.testing.assert_close(frozen.partial_fit(X, Y2).module2_.weight.detach(), built)


def test_set_params_of_a_custom_prefix_rebuilds_that_component():
    net = two_module_net().fit(X, Y2)
    net.set_params(module2__out_features=2, optimizer2__lr=0.5)
    assert net.module2_.out_features == 2
    assert net.optimizer2_.param_groups[0]["lr"] == 0.5
    assert net.optimizer2_.param_groups[0]["params"][0] is net.module2_.weight


def test_a_misspelled_custom_prefix_fails_at_initialize_with_a_hint():
    net = two_module_net(modul2__bias=False)
    with pytest.raises(ValueError, match=r"'modul2__bias' \(did you mean 'module2__bias'"):
        net.initialize()


def test_misspelled_prefix_on_a_plain_net_still_fails_at_construction():
    with pytest.raises(ValueError, match="did you mean 'optimizer__momentum'"):
        NeuralNetRegressor(optimzer__momentum=0.9)


def test_get_all_learnable_params_covers_modules_and_criteria_once():
    net = two_module_net().initialize()
    names = [name for name, _ in net.get_all_learnable_params()]
    assert len(names) == 4  # module_'s weight and bias, then module2_'s
    params = list(dict(net.get_all_learnable_params()).values())
    assert params[-1] is net.module2_.bias


def test_default_optimizer_learns_a_criterion_with_parameters():
    class ScaledLoss(nn.Module):
        def __init__(self):
            super().__init__()
            self.scale = nn.Parameter(torch.ones(()))

        def forward(self, y_pred, y_true):
            return ((y_pred.squeeze(-1) - y_true) ** 2).mean() * self.scale

    net = regressor(criterion=ScaledLoss).fit(X, Y)
    assert net.criterion_.scale.item() != 1.0


def test_param_groups_with_patterns():
    module = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 1))
    net = NeuralNet(module, criterion=nn.MSELoss, max_epochs=2, lr=0.05, verbose=0,
                    random_state=0, optimizer__param_groups=[("0.*", {"lr": 0.0})])
    net.fit(X, Y.reshape(-1, 1))
    groups = net.optimizer_.param_groups
    assert [g["lr"] for g in groups] == [0.0, 0.05]
    torch.testing.assert_close(net.module_[0].weight, module[0].weight)  # lr 0: unchanged
    assert not torch.allclose(net.module_[2].weight, module[2].weight)


def test_param_groups_must_be_pattern_option_pairs():
    net = regressor(optimizer__param_groups=["0.*"])
    with pytest.raises(ValueError, match=r"list of \(pattern, options\) pairs"):
        net.fit(X, Y)


def test_module_instance_with_module_arguments_is_rebuilt_from_its_class():
    instance = nn.Linear(3, 5)
    net = NeuralNet(instance, criterion=nn.MSELoss, module__in_features=3,
                    module__out_features=1, max_epochs=1, verbose=0)
    net.fit(X, Y.reshape(-1, 1))
    assert net.module_.out_features == 1 and instance.out_features == 5


class SharedOptimizerNet(TwoModuleNet):
    """module2_ learned by the default optimizer (skorch's get_all_learnable_params)."""

    def initialize_optimizer(self):
        return NeuralNetRegressor.initialize_optimizer(self)


def test_pickled_net_with_extra_components_keeps_training_them():
    import pickle

    # One epoch: with its L1 "sum" loss, module2_ may jump between two points, and an
    # even number of steps would bring it back exactly (tests/test_extra_module_seeding.py).
    net = two_module_net(optimizer2__lr=0.1, max_epochs=1).fit(X, Y2)
    loaded = pickle.loads(pickle.dumps(net))
    before = loaded.module2_.weight.detach().clone()
    loaded.partial_fit(X, Y2)
    assert not torch.allclose(loaded.module2_.weight, before)
    params = two_module_net().get_params(deep=False)
    del params["optimizer2__lr"]  # no optimizer2 here: the prefix would be rejected
    shared = SharedOptimizerNet(**params).fit(X, Y2)
    loaded = pickle.loads(pickle.dumps(shared))
    learned = {id(p) for g in loaded.optimizer_.param_groups for p in g["params"]}
    assert id(loaded.module2_.weight) in learned


def test_a_subclass_may_list_more_prefixes():
    class ListsItsPrefix(NeuralNet):
        prefixes_ = NeuralNet.prefixes_ + ("module2",)

    net = ListsItsPrefix(nn.Linear, criterion=nn.MSELoss, module2__units=4)
    assert net.get_params_for("module2") == {"units": 4}


class DropoutTwinNet(TwoModuleNet):
    def initialize_module(self, *args, **kwargs):
        super().initialize_module(*args, **kwargs)
        self.module2_ = nn.Sequential(nn.Dropout(0.5), nn.Linear(3, 1))
        return self


def test_extra_modules_follow_train_and_eval_mode():
    net = DropoutTwinNet(**two_module_net().get_params(deep=False)).fit(X, Y2)
    assert not net.module2_.training  # the last pass was the validation pass
    net.predict(X)
    assert not net.module2_.training
    net._set_training(True)
    assert net.module2_.training and net.module_.training


class RecordsAShrinkingValue(Callback):
    def on_epoch_end(self, net, **kwargs):
        net.history.record("shrinking", 10.0 ** (6 - 3 * len(net.history)))


def test_print_log_rows_line_up_under_the_header():
    lines = []
    regressor(max_epochs=3, verbose=1, callbacks__print_log__sink=lines.append,
              callbacks=[RecordsAShrinkingValue()]).fit(X, Y)
    assert "shrinking" in lines[0].split()
    assert len({len(line) for line in lines}) == 1  # 1000.0000, then 1.0000, then 0.0010


def test_optimizer_hyperparameters_change_in_place_and_keep_the_state():
    net = regressor(optimizer=torch.optim.SGD, optimizer__momentum=0.9).fit(X, Y)
    optimizer = net.optimizer_
    net.set_params(optimizer__momentum=0.5)
    assert net.optimizer_ is optimizer and optimizer.param_groups[0]["momentum"] == 0.5
    assert any("momentum_buffer" in s for s in optimizer.state.values())
    net.set_params(optimizer__dampening=0.1, optimizer__weight_decay=0.1)
    assert net.optimizer_ is optimizer and optimizer.param_groups[0]["weight_decay"] == 0.1
    net.set_params(optimizer=torch.optim.SGD)  # the optimizer itself: a new one
    assert net.optimizer_ is not optimizer
    assert net.optimizer_.param_groups[0]["dampening"] == 0.1


def test_param_groups_by_index():
    module = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 1))
    net = NeuralNet(module, criterion=nn.MSELoss, max_epochs=1, lr=0.05, verbose=0,
                    optimizer__param_groups=[("0.*", {"lr": 0.0})],
                    optimizer__param_groups__1__lr=0.2)
    net.fit(X, Y.reshape(-1, 1))
    assert [g["lr"] for g in net.optimizer_.param_groups] == [0.0, 0.2]
    optimizer = net.optimizer_
    net.set_params(optimizer__param_groups__0__lr=0.3)
    assert net.optimizer_ is optimizer
    assert [g["lr"] for g in optimizer.param_groups] == [0.3, 0.2]
    with pytest.raises(ValueError, match="names parameter group 5"):
        net.set_params(optimizer__param_groups__5__lr=0.1, max_epochs=1).initialize()
