"""Tensors in torch's reduced float types as X, y and sample weights.

bfloat16 has no numpy dtype, so every place that hands a tensor to numpy or scikit-learn
(the validation split, label handling, weights, ``utils.to_numpy``) reads it as float32,
which holds every bfloat16 value exactly. float8 tensors cannot be summed or compared on
the CPU: they are refused with an error that says what to do.
"""

import numpy as np
import pytest
import torch

from sktorch import NeuralNetClassifier, NeuralNetRegressor
from sktorch.utils import to_numpy
from tests._exact import raises_exactly

rng = np.random.RandomState(0)
X = torch.as_tensor(rng.randn(80, 3), dtype=torch.float32)
# values that bfloat16 holds exactly, so a bfloat16 fit and a float32 fit see the same data
Y = torch.as_tensor(np.round(rng.randn(80) * 8) / 8, dtype=torch.float32)
LABELS = (X[:, 0] > 0).to(torch.float32)


def _reg():
    return NeuralNetRegressor(max_epochs=3, verbose=0, random_state=0)


def test_bfloat16_targets_train_as_their_float32_values_with_a_validation_split():
    as_bf16 = _reg().fit(X, Y.bfloat16())
    as_f32 = _reg().fit(X, Y)
    np.testing.assert_allclose(as_bf16.history[:, "valid_loss"],
                               as_f32.history[:, "valid_loss"], rtol=1e-5)
    np.testing.assert_allclose(as_bf16.predict(X), as_f32.predict(X), rtol=1e-5, atol=1e-6)


def test_bfloat16_class_labels_are_the_classes():
    net = NeuralNetClassifier(max_epochs=3, verbose=0, random_state=0)
    net.fit(X, LABELS.bfloat16())
    np.testing.assert_array_equal(net.classes_, [0.0, 1.0])
    ref = NeuralNetClassifier(max_epochs=3, verbose=0, random_state=0).fit(X, LABELS)
    np.testing.assert_array_equal(net.predict(X), ref.predict(X))
    assert set(np.unique(net.predict(X))) <= {0.0, 1.0}


def test_bfloat16_sample_weights_weigh_as_their_float32_values():
    weights = torch.as_tensor(rng.randint(1, 5, 80) / 4, dtype=torch.float32)
    labels = LABELS.long()

    def fit(w):
        return NeuralNetClassifier(max_epochs=3, verbose=0, random_state=0,
                                   class_weight="balanced").fit(X, labels, sample_weight=w)

    bf16, f32 = fit(weights.bfloat16()), fit(weights)
    np.testing.assert_allclose(bf16.history[:, "train_loss"], f32.history[:, "train_loss"],
                               rtol=1e-6)
    unweighted = fit(None)
    assert abs(unweighted.history[-1, "train_loss"] - f32.history[-1, "train_loss"]) > 1e-4


def test_to_numpy_reads_bfloat16_as_float32():
    values = torch.tensor([0.5, -1.25, 3.0], dtype=torch.bfloat16)
    out = to_numpy(values)
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, [0.5, -1.25, 3.0])


def test_float16_targets_still_train():
    net = _reg().fit(X, Y.half())
    assert np.isfinite(net.history[:, "valid_loss"]).all()


@pytest.mark.parametrize("dtype", [torch.float8_e4m3fn, torch.float8_e5m2])
def test_float8_x_and_y_are_refused_with_what_to_do(dtype):
    message = ("{what} is a {dtype} tensor; sktorch cannot check or train on float8 data. "
               "Convert it first, e.g. {what}.float() (set the training precision with "
               "precision='bf16' or '16-mixed').")
    with raises_exactly(TypeError, message.format(what="X", dtype=dtype)):
        _reg().fit(X.to(dtype), Y)
    with raises_exactly(TypeError, message.format(what="y", dtype=dtype)):
        _reg().fit(X, Y.to(dtype))


def test_a_binary_classifier_scores_a_validation_dataset_with_bfloat16_targets():
    from sktorch import NeuralNetBinaryClassifier
    from sktorch.dataset import Dataset
    from sktorch.helper import predefined_split

    def fit(valid_targets):
        split = predefined_split(Dataset(X[:30], valid_targets))
        return NeuralNetBinaryClassifier(max_epochs=3, verbose=0, random_state=0,
                                         train_split=split).fit(X, LABELS)

    bf16, f32 = fit(LABELS[:30].bfloat16()), fit(LABELS[:30])
    np.testing.assert_array_equal(bf16.history[:, "valid_acc"], f32.history[:, "valid_acc"])
    np.testing.assert_allclose(bf16.history[:, "valid_loss"], f32.history[:, "valid_loss"],
                               rtol=1e-6)
