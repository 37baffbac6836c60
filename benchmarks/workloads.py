"""The benchmark workloads and, for each, the same training run written three ways.

Every implementation gets the same module class, the same data (float32 numpy arrays),
SGD with the same learning rate, the same number of epochs and batch size 128. The
hand-written loop is what a PyTorch user writes: ``randperm``, slicing, forward, loss,
backward, step. Each function builds its model from scratch, so model construction is
timed for all three alike.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

BATCH_SIZE = 128
LR = 0.01


class MLP(nn.Module):
    """One hidden layer with ReLU; outputs raw values (regression) or logits."""

    def __init__(self, n_in: int = 4, n_hidden: int = 500, n_out: int = 1):
        super().__init__()
        self.hidden = nn.Linear(n_in, n_hidden)
        self.out = nn.Linear(n_hidden, n_out)

    def forward(self, X):
        return self.out(torch.relu(self.hidden(X)))


@dataclass(frozen=True)
class Workload:
    """A model shape, a data size and a number of epochs."""

    key: str
    title: str
    n_rows: int
    n_in: int
    n_hidden: int
    n_out: int  # 1: regression with MSELoss; >1: classification with CrossEntropyLoss
    epochs: int

    @property
    def is_classifier(self) -> bool:
        return self.n_out > 1

    def module_params(self) -> dict:
        return {"n_in": self.n_in, "n_hidden": self.n_hidden, "n_out": self.n_out}

    def data(self, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """Float32 features drawn directly in float32 (no float64 transient in memory)."""
        rng = np.random.default_rng(seed)
        X = rng.standard_normal((self.n_rows, self.n_in), dtype=np.float32)
        if self.is_classifier:
            y = (X[:, : self.n_out].argmax(axis=1)).astype(np.int64)
        else:
            y = (X.sum(axis=1, keepdims=True) + 0.1).astype(np.float32)
        return X, y


WORKLOADS = {
    "a": Workload("a", "4→500→1 regression, 200k rows", 200_000, 4, 500, 1, 2),
    "b": Workload("b", "784→256→10 classifier, 20k rows", 20_000, 784, 256, 10, 5),
    "c": Workload("c", "20→10→1 regression, 2k rows", 2_000, 20, 10, 1, 20),
}


def quick(workload: Workload) -> Workload:
    """A smaller version of a workload for ``--quick`` runs."""
    epochs = max(1, workload.epochs // 2) if workload.key != "c" else workload.epochs
    rows = workload.n_rows // 4 if workload.key == "a" else workload.n_rows
    return Workload(workload.key, workload.title + " (quick)", rows, workload.n_in,
                    workload.n_hidden, workload.n_out, epochs)


def _criterion(w: Workload) -> nn.Module:
    return nn.CrossEntropyLoss() if w.is_classifier else nn.MSELoss()


# ---------------------------------------------------------------------------- training
def train_hand(w: Workload, X: np.ndarray, y: np.ndarray, seed: int = 0) -> nn.Module:
    """The hand-written PyTorch loop."""
    torch.manual_seed(seed)
    Xt, yt = torch.from_numpy(X), torch.from_numpy(y)
    model = MLP(**w.module_params())
    optimizer = torch.optim.SGD(model.parameters(), lr=LR)
    criterion = _criterion(w)
    model.train()
    n = len(Xt)
    for _ in range(w.epochs):
        order = torch.randperm(n)
        for start in range(0, n, BATCH_SIZE):
            index = order[start : start + BATCH_SIZE]
            optimizer.zero_grad()
            loss = criterion(model(Xt[index]), yt[index])
            loss.backward()
            optimizer.step()
    return model


def _net_kwargs(w: Workload, defaults: bool) -> dict:
    kwargs = {
        "module": MLP, "criterion": type(_criterion(w)), "optimizer": torch.optim.SGD,
        "lr": LR, "max_epochs": w.epochs, "batch_size": BATCH_SIZE,
        **{f"module__{k}": v for k, v in w.module_params().items()},
    }
    kwargs["verbose"] = 0  # "defaults" keeps the validation split and default callbacks
    if not defaults:
        kwargs["train_split"] = None
    return kwargs


def _net_class(library, w: Workload):
    return library.NeuralNetClassifier if w.is_classifier else library.NeuralNetRegressor


def train_sktorch(w: Workload, X, y, seed: int = 0, defaults: bool = False):
    """sktorch with ``verbose=0, train_split=None`` (or all defaults)."""
    import sktorch

    torch.manual_seed(seed)
    return _net_class(sktorch, w)(**_net_kwargs(w, defaults)).fit(X, y)


def train_skorch(w: Workload, X, y, seed: int = 0, defaults: bool = False):
    """skorch with ``verbose=0, train_split=None`` (or all defaults)."""
    import skorch

    torch.manual_seed(seed)
    return _net_class(skorch, w)(**_net_kwargs(w, defaults)).fit(X, y)


# -------------------------------------------------------------------------- prediction
def predict_hand(model: nn.Module, X: np.ndarray) -> np.ndarray:
    """Batched forward passes under ``no_grad``, concatenated into one array."""
    Xt = torch.from_numpy(X)
    model.eval()
    with torch.no_grad():
        outputs = [model(Xt[start : start + BATCH_SIZE])
                   for start in range(0, len(Xt), BATCH_SIZE)]
    return torch.cat(outputs).numpy()


def predict_net(net, X: np.ndarray) -> np.ndarray:
    """``predict_proba`` of a fitted net (``predict`` for sktorch's regressor, which has none).

    Both run the same batched ``no_grad`` forward pass and return the module's output.
    """
    return net.predict_proba(X) if hasattr(net, "predict_proba") else net.predict(X)


def fitted_for_prediction(impl: str, w: Workload, X, y):
    """A model trained for one short epoch on a slice, to predict with."""
    small = Workload(w.key, w.title, 1_000, w.n_in, w.n_hidden, w.n_out, 1)
    Xs, ys = X[:1_000], y[:1_000]
    if impl == "hand":
        return train_hand(small, Xs, ys)
    return (train_sktorch if impl == "sktorch" else train_skorch)(small, Xs, ys)


PREDICT = {"hand": predict_hand, "sktorch": predict_net, "skorch": predict_net}


# ------------------------------------------------------------------------- grid search
GRID_ROWS, GRID_FEATURES, GRID_EPOCHS = 2_000, 20, 10


def grid_data() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import make_classification

    X, y = make_classification(GRID_ROWS, GRID_FEATURES, n_informative=10, random_state=0)
    return X.astype(np.float32), y.astype(np.int64)


def grid_search(impl: str, X, y):
    """``GridSearchCV``: 2 hidden sizes × 2 learning rates, 5 folds, 10 epochs each."""
    from sklearn.model_selection import GridSearchCV

    if impl == "sklearn":
        from sklearn.neural_network import MLPClassifier

        estimator = MLPClassifier(solver="sgd", batch_size=BATCH_SIZE, max_iter=GRID_EPOCHS,
                                  momentum=0.0, n_iter_no_change=GRID_EPOCHS + 1, tol=0.0,
                                  random_state=0)
        grid = {"hidden_layer_sizes": [(10,), (50,)], "learning_rate_init": [0.01, 0.1]}
    else:
        library = __import__(impl)
        estimator = library.NeuralNetClassifier(
            MLP, criterion=nn.CrossEntropyLoss, optimizer=torch.optim.SGD,
            max_epochs=GRID_EPOCHS, batch_size=BATCH_SIZE, verbose=0, train_split=None,
            module__n_in=GRID_FEATURES, module__n_out=2,
        )
        grid = {"module__n_hidden": [10, 50], "lr": [0.01, 0.1]}
    return GridSearchCV(estimator, grid, cv=5, n_jobs=1).fit(X, y)
