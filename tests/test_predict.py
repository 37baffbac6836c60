"""Prediction over many batches: outputs merged in order, tuple outputs, no lost rows."""

import numpy as np
import torch
from torch import nn

from sktorch import NeuralNet, NeuralNetRegressor

RNG = np.random.RandomState(0)
X = RNG.randn(301, 4).astype(np.float32)
Y = X.sum(axis=1, keepdims=True).astype(np.float32)


class TwoHeads(nn.Module):
    """Returns (prediction, hidden activations), as models with auxiliary outputs do."""

    def __init__(self):
        super().__init__()
        self.hidden = nn.Linear(4, 6)
        self.out = nn.Linear(6, 1)

    def forward(self, X):
        h = torch.relu(self.hidden(X))
        return self.out(h), h


def test_forward_over_many_batches_keeps_every_row_in_order():
    # batch_size=2: 151 batches, more than the outputs merged at a time
    net = NeuralNetRegressor(nn.Linear, module__in_features=4, module__out_features=1,
                             batch_size=2, max_epochs=1, verbose=0, random_state=0)
    net.fit(X, Y)
    with torch.no_grad():
        expected = net.module_(torch.from_numpy(X)).numpy()
    out = net.forward(X)
    assert out.shape == (301, 1)
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(net.predict(X), expected, rtol=1e-6, atol=1e-6)


def test_a_module_with_several_outputs_gives_a_tuple_and_predicts_with_the_first():
    class FirstOutputLoss(nn.MSELoss):
        def forward(self, y_pred, y_true):
            return super().forward(y_pred[0], y_true)

    net = NeuralNet(TwoHeads, criterion=FirstOutputLoss, batch_size=2, max_epochs=1,
                    verbose=0, random_state=0, train_split=None).fit(X, Y)
    y_out, hidden = net.forward(X)
    assert y_out.shape == (301, 1) and hidden.shape == (301, 6)
    with torch.no_grad():
        expected_y, expected_h = net.module_(torch.from_numpy(X))
    np.testing.assert_allclose(hidden.numpy(), expected_h.numpy(), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(net.predict_proba(X), expected_y.numpy(), rtol=1e-6,
                               atol=1e-6)


class WithDropout(nn.Module):
    def __init__(self):
        super().__init__()
        self.hidden = nn.Linear(4, 32)
        self.dropout = nn.Dropout(0.5)
        self.out = nn.Linear(32, 1)

    def forward(self, X):
        return self.out(self.dropout(torch.relu(self.hidden(X))))


def test_prediction_runs_every_submodule_in_eval_mode():
    net = NeuralNetRegressor(WithDropout, max_epochs=1, batch_size=16, verbose=0,
                             random_state=0).fit(X, Y)
    first = net.predict(X)
    net.module_.dropout.train()  # e.g. left in train mode by the user's own code
    np.testing.assert_array_equal(net.predict(X), first)
    assert not any(m.training for m in net.module_.modules())
