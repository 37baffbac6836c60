"""The three tutorial patterns that fail in skorch, written as a user writes them."""

import numpy as np
import torch
from sklearn.datasets import make_classification
from sklearn.model_selection import GridSearchCV
from torch import nn
from torch.utils.data import DataLoader

from sktorch import NeuralNetClassifier, NeuralNetRegressor
from tests.conftest import MultiClassModule, RegressorModule, SimpleClassifier


def test_sigmoid_single_output_with_bce_loss_in_grid_search(clf_data):
    X, y = clf_data
    X = torch.tensor(X)
    y = torch.tensor(y, dtype=torch.float32).reshape(-1, 1)  # float (n, 1) tensor
    net = NeuralNetClassifier(
        SimpleClassifier,
        loss_function=nn.BCELoss,
        optimizer=torch.optim.Adam,
        max_epochs=10,
        verbose=0,
        random_state=0,
    )
    search = GridSearchCV(net, {"lr": [0.01, 0.1], "hidden_units": [10, 20]}, cv=5)
    search.fit(X, y)
    assert set(search.best_params_) == {"lr", "hidden_units"}
    best = search.best_estimator_
    assert best.module_.hidden.out_features == search.best_params_["hidden_units"]
    assert search.best_score_ > 0.75  # accuracy, not a loss
    labels = best.predict(X)
    assert set(np.unique(labels)) <= {0.0, 1.0}
    assert best.predict_proba(X).shape == (len(X), 2)
    np.testing.assert_allclose(best.predict_proba(X).sum(axis=1), 1, rtol=1e-5)


def test_multiclass_cross_entropy_with_dataloaders():
    X, y = make_classification(300, 10, n_informative=6, n_classes=3, random_state=0)
    X, y = torch.tensor(X, dtype=torch.float32), torch.tensor(y)
    net = NeuralNetClassifier(
        MultiClassModule,
        loss_function=nn.CrossEntropyLoss,
        iterator_train=DataLoader,
        iterator_valid=DataLoader,
        train_split=None,
        max_epochs=10,
        verbose=0,
        random_state=0,
    )
    search = GridSearchCV(net, {"lr": [0.05, 0.2], "batch_size": [16, 64]}, cv=3)
    search.fit(X, y)
    best = search.best_estimator_
    assert search.best_score_ > 0.6
    proba = best.predict_proba(X)
    assert proba.shape == (300, 3)
    np.testing.assert_allclose(proba.sum(axis=1), 1, rtol=1e-5)  # softmax applied to logits
    n_batches = len(best.history[-1, "batches"])
    assert n_batches == int(np.ceil(len(X) / search.best_params_["batch_size"]))


def test_regressor_with_mse_and_column_target(reg_data):
    X, y = reg_data
    y = y.reshape(-1, 1)
    net = NeuralNetRegressor(
        RegressorModule, criterion=nn.MSELoss, max_epochs=20, verbose=0, random_state=0,
        optimizer=torch.optim.Adam,
    )
    search = GridSearchCV(net, {"lr": [0.01, 0.03], "hidden_units": [10, 20]}, cv=3)
    search.fit(X, y)
    assert search.best_estimator_.predict(X).shape == (len(X), 1)
    assert search.best_score_ > 0.5  # R²
