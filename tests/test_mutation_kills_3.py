"""Tests that kill the mutants the third mutation run (MUTATION.md) found surviving.

Each test names the behaviour a user relies on; the mutants it kills are listed in
MUTATION.md under the third run.
"""

import re

import numpy as np
import pytest
import torch

from sktorch.classifier import _check_class_indices

CLASSES = np.array(["a", "b", "c"])


@pytest.mark.parametrize("targets", [
    torch.tensor([0.0, 1.0, 2.0]),
    torch.tensor([2.0, 0.0], dtype=torch.float64),
    torch.tensor([0, 1, 2]),
    torch.tensor([0]),
])
def test_class_indices_from_0_to_n_minus_1_are_accepted(targets):
    _check_class_indices(targets, CLASSES)


@pytest.mark.parametrize("targets", [
    torch.tensor([0.0, 3.0]),   # one past the last class
    torch.tensor([-1.0, 1.0]),  # negative
    torch.tensor([0.5, 1.0]),   # not a whole number
    torch.tensor([0, 3]),
    torch.tensor([-1, 2]),
])
def test_targets_outside_the_class_indices_are_rejected(targets):
    with pytest.raises(ValueError, match="holds class indices 0..2"):
        _check_class_indices(targets, CLASSES)


def test_class_index_message_shows_ten_found_targets_and_the_fix():
    targets = torch.arange(3, 15)  # 12 distinct targets, none a class index of 3 classes
    expected = (
        "The validation Dataset (train_split=predefined_split(...)) holds targets "
        "[3, 4, 5, 6, 7, 8, 9, 10, 11, 12], but a Dataset's y holds class indices 0..2: the "
        "positions of the labels in classes_ ['a', 'b', 'c'], as the loss receives them. "
        "Build it with the encoded labels, e.g. Dataset(X_valid, "
        "np.searchsorted(net.classes_, y_valid)), or validate with "
        "train_split=ValidSplit(...) on the labels."
    )
    with pytest.raises(ValueError, match=re.escape(expected) + "$"):
        _check_class_indices(targets, CLASSES)


# ------------------------------------------- classifier: weights files and labels
def _mlp_classifier(**kwargs):
    from torch import nn

    from sktorch import NeuralNetClassifier
    from sktorch.toy import MLPModule

    params = dict(module__input_units=5, module__output_units=3,
                  module__output_nonlin=nn.Softmax(dim=-1), max_epochs=2, lr=0.2,
                  verbose=0, random_state=0)
    params.update(kwargs)
    return NeuralNetClassifier(MLPModule, **params)


def _three_class_data():
    rng = np.random.RandomState(0)
    X = rng.randn(60, 5).astype(np.float32)
    Y = np.arange(60) % 3
    return X, Y


def test_weights_saved_and_loaded_with_positional_paths_keep_weights_and_labels(tmp_path):
    X, Y = _three_class_data()
    labels = np.array(["c", "a", "b"])[Y]
    net = _mlp_classifier().fit(X, labels)
    net.save_params(tmp_path / "params.pt")  # f_params given by position
    restored = _mlp_classifier().initialize()
    restored.load_params(tmp_path / "params.pt")
    np.testing.assert_array_equal(restored.classes_, ["a", "b", "c"])
    np.testing.assert_allclose(restored.predict_proba(X), net.predict_proba(X), rtol=1e-6)
    np.testing.assert_array_equal(restored.predict(X), net.predict(X))


def test_unlabelled_weights_loaded_by_position_refuse_to_predict_indices(tmp_path):
    save_file = pytest.importorskip("safetensors.torch").save_file
    X, Y = _three_class_data()
    net = _mlp_classifier().fit(X, np.array(["c", "a", "b"])[Y])
    # written by another tool (sktorch's own safetensors files record the labels)
    save_file(net.module_.state_dict(), str(tmp_path / "p.safetensors"))
    restored = _mlp_classifier().initialize()
    restored.load_params(tmp_path / "p.safetensors", use_safetensors=True)
    np.testing.assert_allclose(restored.predict_proba(X), net.predict_proba(X), rtol=1e-6)
    with pytest.raises(ValueError, match="does not record the labels"):
        restored.predict(X)


def test_loading_only_the_history_keeps_a_net_without_labels_predicting_indices(tmp_path):
    X, Y = _three_class_data()
    data = torch.utils.data.TensorDataset(torch.tensor(X), torch.tensor(Y))
    net = _mlp_classifier(train_split=None).fit(data, None)
    net.save_params(f_params=tmp_path / "p.pt", f_history=tmp_path / "h.json")
    restored = _mlp_classifier(train_split=None).initialize()
    restored.load_params(tmp_path / "p.pt")
    restored.load_params(f_history=tmp_path / "h.json")
    np.testing.assert_array_equal(restored.predict(X), net.predict(X))
    assert set(restored.predict(X)) <= {0, 1, 2}


def test_weights_that_record_no_labels_lift_an_earlier_unlabelled_load(tmp_path):
    # A net that never saw labels records "no labels" in its torch weights file; loading
    # it after a safetensors file written by another tool (which records nothing) makes
    # predict return indices.
    save_file = pytest.importorskip("safetensors.torch").save_file
    X, Y = _three_class_data()
    data = torch.utils.data.TensorDataset(torch.tensor(X), torch.tensor(Y))
    net = _mlp_classifier(train_split=None).fit(data, None)
    save_file(net.module_.state_dict(), str(tmp_path / "p.safetensors"))
    net.save_params(f_params=tmp_path / "p.pt")
    restored = _mlp_classifier(train_split=None).initialize()
    restored.load_params(f_params=tmp_path / "p.safetensors", use_safetensors=True)
    with pytest.raises(ValueError, match="does not record the labels"):
        restored.predict(X)
    restored.load_params(f_params=tmp_path / "p.pt")
    np.testing.assert_array_equal(restored.predict(X), net.predict(X))


def test_an_unfitted_classifier_saving_or_loading_weights_says_it_is_not_initialized(tmp_path):
    from sktorch.exceptions import NotInitializedError

    X, Y = _three_class_data()
    _mlp_classifier().fit(X, Y).save_params(f_params=tmp_path / "p.pt")
    with pytest.raises(NotInitializedError):
        _mlp_classifier().save_params(f_params=tmp_path / "q.pt")
    with pytest.raises(NotInitializedError):
        _mlp_classifier().load_params(tmp_path / "p.pt")


def test_labels_json_cannot_hold_are_not_recorded_and_loading_asks_for_them(tmp_path):
    from decimal import Decimal

    X, Y = _three_class_data()
    net = _mlp_classifier().fit(X, Y)
    net.classes_ = np.array([Decimal(1), Decimal(2), Decimal(3)], dtype=object)
    net.save_params(tmp_path / "by_position.pt")
    net.save_params(f_params=tmp_path / "by_name.pt")
    for name in ("by_position.pt", "by_name.pt"):
        restored = _mlp_classifier().initialize()
        restored.load_params(f_params=tmp_path / name)
        np.testing.assert_allclose(restored.predict_proba(X), net.predict_proba(X), rtol=1e-6)
        with pytest.raises(ValueError, match="does not record the labels"):
            restored.predict(X)


def test_classes_from_json_reads_only_recorded_text():
    from sktorch.classifier import _classes_from_json

    assert _classes_from_json(None) is None
    assert _classes_from_json(3) is None
    assert _classes_from_json("null") is None
    np.testing.assert_array_equal(
        _classes_from_json('{"array": ["a", "b"], "dtype": "<U1"}'), ["a", "b"])


def test_binary_classifier_says_how_to_fix_a_module_with_several_outputs():
    from sktorch import NeuralNetBinaryClassifier

    expected = (
        "NeuralNetBinaryClassifier expects the module to output one logit per sample, "
        "shape (n,) or (n, 1); got shape (4, 3). Give the module a single output, or use "
        "NeuralNetClassifier (e.g. with criterion=torch.nn.CrossEntropyLoss) for one "
        "output per class."
    )
    with pytest.raises(ValueError, match=re.escape(expected) + "$"):
        NeuralNetBinaryClassifier._check_one_logit((4, 3))


# ------------------------------------------------ callbacks: monitors and thresholds
def test_monitoring_a_validation_score_without_a_split_says_what_to_monitor_instead():
    from types import SimpleNamespace

    from sktorch.callbacks.training import check_monitor_has_data

    expected = (
        "EarlyStopping monitors 'valid_f1_of_valid_rows', but train_split=None, so there is "
        "no validation data and no validation score. Set a train_split (e.g. "
        "train_split=ValidSplit(5) or predefined_split(valid_ds)), or monitor the training "
        "loss instead: EarlyStopping(monitor='train_f1_of_valid_rows')."
    )
    for split in (None, False):
        with pytest.raises(ValueError, match=re.escape(expected) + "$"):
            check_monitor_has_data(SimpleNamespace(train_split=split),
                                   "valid_f1_of_valid_rows", "EarlyStopping")
    check_monitor_has_data(SimpleNamespace(train_split=True), "valid_loss", "EarlyStopping")


def test_early_stopping_higher_is_better_needs_the_score_to_beat_best_plus_threshold():
    from sktorch.callbacks import EarlyStopping

    es = EarlyStopping(monitor="valid_acc", lower_is_better=False, threshold=0.1,
                       threshold_mode="abs")
    es.best_score_ = 0.5
    assert not es._improved(0.45)  # worse, though within the threshold of best
    assert not es._improved(0.55)  # better by less than the threshold
    assert es._improved(0.65)


# ------------------------------------------ sampled survivors: core and #10.3 modules
def test_scoring_without_a_name_is_named_for_its_type():
    from sktorch.callbacks.scoring import _default_name

    class MarginScore:
        def __call__(self, net, X, y):
            return 0.0

    assert _default_name(MarginScore()) == "MarginScore"
    assert _default_name(None) == "score"
    assert _default_name("f1") == "f1"


def test_non_numeric_targets_of_a_plain_net_are_named_y_in_the_error():
    from sktorch import NeuralNet

    X = np.zeros((4, 3), dtype=np.float32)
    net = NeuralNet(torch.nn.Linear, module__in_features=3, module__out_features=1,
                    criterion=torch.nn.MSELoss, max_epochs=1, train_split=None, verbose=0)
    with pytest.raises(ValueError, match=r"^y has dtype"):
        net.fit(X, np.array(["a", "b", "c", "d"], dtype=object))


def test_a_pickled_net_records_the_sktorch_and_torch_versions():
    from sktorch import NeuralNetRegressor, __version__

    X = np.zeros((8, 3), dtype=np.float32)
    net = NeuralNetRegressor(torch.nn.Linear, module__in_features=3, module__out_features=1,
                             max_epochs=1, train_split=None, verbose=0).fit(X, X[:, :1])
    assert net.__getstate__()["_versions"] == {"sktorch": __version__,
                                               "torch": torch.__version__}


def test_an_optimizer_without_a_vectorized_step_is_named_in_the_reason():
    from sktorch.model_selection._fused._optim import optimizer_reason

    params = [torch.nn.Parameter(torch.zeros(2))]
    assert optimizer_reason(torch.optim.Adamax(params)) == (
        "optimizer Adamax has no vectorized step (supported: Adagrad, Adam, AdamW, "
        "RMSprop, SGD)")
    assert optimizer_reason(torch.optim.SGD(params, lr=0.1)) == ""


def test_stacked_parameters_are_one_differentiable_leaf_shared_with_the_modules():
    from sktorch.model_selection._fused._stack import FlatStack

    torch.manual_seed(0)
    modules = [torch.nn.Linear(3, 2), torch.nn.Linear(3, 2)]
    stack = FlatStack(modules)
    assert stack.flat.is_leaf and stack.flat.requires_grad
    views = stack.views()
    (views["weight"].sum() + 2 * views["bias"].sum()).backward()
    expected = torch.cat([torch.ones(6), 2 * torch.ones(2)]).expand(2, 8)
    torch.testing.assert_close(stack.flat.grad, expected)
    with torch.no_grad():
        stack.flat[1].zero_()
    assert float(modules[1].weight.detach().abs().sum()) == 0.0


def test_an_unknown_file_argument_names_the_method_and_the_fix():
    from sktorch import NeuralNetRegressor

    net = NeuralNetRegressor(torch.nn.Linear, module__in_features=3, module__out_features=1,
                             verbose=0).initialize()
    with pytest.raises(TypeError, match=re.escape(
            "load_params() got an unexpected argument 'params'; files are given as "
            "f_<name>=..., e.g. f_params=... for the attribute params_.")):
        net.load_params(params="weights.pt")


def test_checkpoint_file_names_are_made_unique_inside_a_version():
    from sktorch._checkpoint_store import _version_names

    files = {"f_params": ("a/params.pt", None), "f_optimizer": ("b/params.pt", None),
             "f_history": ("lock", None)}
    assert _version_names(files) == {"f_params": "params.pt",
                                     "f_optimizer": "f_optimizer-params.pt",
                                     "f_history": "f_history-lock"}


def test_a_checkpoint_manifest_states_its_format_and_version(tmp_path):
    import json

    from sktorch import NeuralNetRegressor
    from sktorch._checkpoint_store import FORMAT
    from sktorch.callbacks import Checkpoint

    X = np.zeros((8, 3), dtype=np.float32)
    NeuralNetRegressor(torch.nn.Linear, module__in_features=3, module__out_features=1,
                       max_epochs=1, train_split=None, verbose=0,
                       callbacks=[Checkpoint(monitor=None, dirname=str(tmp_path))]
                       ).fit(X, X[:, :1])
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert (manifest["format"], manifest["version"]) == (FORMAT, 1)


def test_saving_an_attribute_without_state_dict_says_so(tmp_path):
    from sktorch import NeuralNetRegressor

    X = np.zeros((8, 3), dtype=np.float32)
    net = NeuralNetRegressor(torch.nn.Linear, module__in_features=3, module__out_features=1,
                             max_epochs=1, train_split=None, verbose=0).fit(X, X[:, :1])
    net.scale_ = 2.0
    with pytest.raises(ValueError, match=re.escape(
            "f_scale=... saves the net's attribute 'scale_', but the net has no "
            "state_dict() on it. Attributes that can be saved: ")):
        net.save_params(f_scale=tmp_path / "scale.pt")
    with pytest.raises(ValueError, match="but the net has no such attribute"):
        net.save_params(f_missing=tmp_path / "missing.pt")


def test_accuracy_of_two_dimensional_labels_is_scikit_learns_subset_accuracy():
    from sklearn.base import BaseEstimator

    from sktorch.callbacks.scoring import _accuracy

    y = np.array([[1, 0], [0, 1], [1, 1], [0, 0]])
    y_pred = np.array([[1, 0], [0, 1], [1, 0], [0, 0]])

    class Predicts(BaseEstimator):
        def predict(self, X):
            return y_pred

    assert _accuracy(Predicts(), np.zeros((4, 1)), y) == 0.75


def test_an_unfitted_net_names_its_own_class_in_the_not_initialized_error():
    from sktorch import NeuralNetRegressor
    from sktorch.exceptions import NotInitializedError

    net = NeuralNetRegressor(torch.nn.Linear, module__in_features=3, module__out_features=1)
    with pytest.raises(NotInitializedError, match="^This NeuralNetRegressor is not initialized"):
        net.predict(np.zeros((2, 3), dtype=np.float32))


def test_a_classification_loss_over_one_output_column_says_what_to_use_instead():
    from sktorch import NeuralNetRegressor

    X = np.zeros((8, 3), dtype=np.float32)
    net = NeuralNetRegressor(torch.nn.Linear, module__in_features=3, module__out_features=1,
                             criterion=torch.nn.CrossEntropyLoss, max_epochs=1,
                             train_split=None, verbose=0)
    with pytest.raises(ValueError, match=re.escape(
            "CrossEntropyLoss over a single output column is 0 for every sample (the "
            "softmax of one value is 1), so the net would learn nothing. For regression "
            "use a regression loss, e.g. criterion=torch.nn.MSELoss; to classify, use "
            "NeuralNetClassifier.") + "$"):
        net.fit(X, X[:, :1])


def test_epoch_scoring_without_caching_scores_a_fresh_forward_pass():
    from sktorch import NeuralNetRegressor
    from sktorch.callbacks import EpochScoring

    def mean_prediction(net, X, y):
        return float(np.mean(net.predict(X)))

    rng = np.random.RandomState(0)
    X = rng.randn(32, 3).astype(np.float32)
    y = (X[:, :1] + 3).astype(np.float32)
    scoring = EpochScoring(mean_prediction, on_train=True, use_caching=False,
                           name="fresh_mean")
    net = NeuralNetRegressor(torch.nn.Linear, module__in_features=3, module__out_features=1,
                             max_epochs=1, lr=0.5, batch_size=8, train_split=None,
                             verbose=0, random_state=0, callbacks=[scoring]).fit(X, y)
    # the weights after the epoch's last step, not the outputs seen while training
    assert net.history[-1]["fresh_mean"] == pytest.approx(mean_prediction(net, X, y))
