"""The built-in model's plateau stop counts epochs without progress as scikit-learn does.

scikit-learn's MLP stops after ``n_iter_no_change`` epochs in a row that do not
beat the lowest loss so far by ``tol``; a loss that creeps down by less than
``tol`` per epoch therefore ends training. ``EarlyStopping`` (skorch's rule) counts
from the last epoch that beat its best by the threshold, so such creeping gains add
up to "improvements" and training goes on to the epoch budget.
"""

from __future__ import annotations

import numpy as np
import torch

from sktorch import NeuralNetClassifier
from sktorch._builtin import PlateauStop
from sktorch.callbacks import EarlyStopping
from sktorch.history import History


class _Net:
    """What the stopping callbacks read and call on a net."""

    def __init__(self):
        self.history = History()
        self.module_ = torch.nn.Linear(2, 1)
        self.verbose = 0
        self.train_split = object()
        self.module = None  # the built-in model
        self.max_epochs = NeuralNetClassifier().max_epochs  # untouched: the recipe's budget
        self.stopped: str | None = None

    def request_stop(self, reason):
        if self.stopped is None:
            self.stopped = reason


def _run(callback, losses):
    """Feed ``losses`` as valid_loss epoch by epoch; (epochs run, callback)."""
    net = _Net()
    callback.initialize()
    if isinstance(callback, PlateauStop):
        callback.on_train_begin(net)
        assert callback.active_
    for epoch, loss in enumerate(losses, 1):
        net.history.new_epoch()
        net.history.record("epoch", epoch)
        net.history.record("valid_loss", loss)
        with torch.no_grad():
            net.module_.weight.fill_(epoch)  # the weights of this epoch
        callback.on_epoch_end(net)
        if net.stopped:
            return epoch, callback, net
    return len(losses), callback, net


def test_a_loss_creeping_down_by_less_than_tol_stops_after_patience_epochs():
    # 1.0, then gains of 0.6e-4 per epoch: every two epochs beat the best by > 1e-4
    losses = [1.0, 0.5] + [0.5 - 0.6e-4 * i for i in range(1, 60)]
    epochs, plateau, net = _run(PlateauStop(), losses)
    assert epochs == 12  # epoch 2 is the last to beat the lowest loss by 1e-4
    assert net.stopped.startswith("valid_loss did not improve by 0.0001 for 10 epochs")
    # skorch's rule: the gains add up, a new best every other epoch, no stop
    epochs, _, net = _run(EarlyStopping(patience=10, threshold=1e-4, threshold_mode="abs"),
                          losses)
    assert epochs == len(losses) and net.stopped is None


def test_the_restored_weights_are_those_of_the_best_epoch_as_early_stopping_keeps_it():
    losses = [1.0, 0.5, 0.49995, 0.4998, 0.49975] + [0.4998] * 12
    epochs, plateau, net = _run(PlateauStop(), losses)
    assert epochs == 14  # epoch 4 beat the lowest by 1.5e-4; epochs 5 to 14 did not
    # best: epoch 4 beat epoch 2's 0.5 by 2e-4; epoch 5's extra 5e-5 does not count
    assert plateau.best_epoch_ == 4 and plateau.best_score_ == 0.4998
    plateau.on_train_end(net)
    assert float(net.module_.weight[0, 0]) == 4.0


def test_a_real_gain_resets_the_count_and_nan_counts_as_no_gain():
    losses = [1.0] + [1.0] * 9 + [0.9] + [float("nan")] * 10
    epochs, plateau, net = _run(PlateauStop(), losses)
    assert epochs == 21  # epoch 11 reset the count; ten NaN epochs stop
    assert plateau.best_epoch_ == 11


def test_the_default_fit_stops_on_a_creeping_validation_loss():
    """iris' last benchmark fold: the validation loss creeps down for 140 epochs."""
    from sklearn import datasets
    from sklearn.model_selection import StratifiedKFold

    X, y = datasets.load_iris(return_X_y=True)
    train, test = list(StratifiedKFold(5, shuffle=True, random_state=0).split(X, y))[4]
    net = NeuralNetClassifier(verbose=0, random_state=0).fit(X[train], y[train])
    assert len(net.history) < 200  # skorch's count trained all 200 epochs here
    assert "did not improve by 0.0001" in net.history[-1]["stop_reason"]
    assert net.score(X[test], y[test]) >= 0.96
    losses = np.array(net.history[:, "valid_loss"])
    assert losses[-10:].min() > losses.min() - 1e-4  # ten epochs without a gain of 1e-4
