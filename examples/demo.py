"""A hyperparameter search with sktorch on scikit-learn's bundled digits data.

Run with ``make demo``. A NeuralNetClassifier (the built-in MLP, sized from the
data) sits in a Pipeline after a scaler; GridSearchCV tries learning rates and
hidden-layer widths with 5-fold cross-validation, then the best model is scored
on held-out test data.
"""

import time

import torch
from sklearn.datasets import load_digits
from sklearn.model_selection import GridSearchCV, ParameterGrid, train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sktorch import NeuralNetClassifier


def main() -> None:
    X, y = load_digits(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.25, stratify=y, random_state=0
    )
    net = NeuralNetClassifier(
        optimizer=torch.optim.Adam,
        max_epochs=15,
        batch_size=64,
        train_split=None,
        verbose=0,
        random_state=0,
    )
    pipe = make_pipeline(StandardScaler(), net)
    grid = {
        "neuralnetclassifier__lr": [0.001, 0.01],
        "neuralnetclassifier__hidden_units": [32, 128],
        "neuralnetclassifier__module__dropout": [0.0, 0.2],
    }
    search = GridSearchCV(pipe, grid, cv=5, scoring="accuracy", n_jobs=1)
    print(f"Digits: {X_train.shape[0]} training rows, {X.shape[1]} features, 10 classes")
    print(f"GridSearchCV: {len(ParameterGrid(grid))} candidates x 5 folds")
    start = time.perf_counter()
    search.fit(X_train, y_train)
    elapsed = time.perf_counter() - start

    results = search.cv_results_
    order = results["rank_test_score"].argsort()
    names = [k.split("__", 1)[1] for k in grid]
    header = f"{'rank':>4}  {'mean acc':>8}  {'std':>6}  " + "  ".join(f"{n:>15}" for n in names)
    print()
    print(header)
    print("-" * len(header))
    for i in order:
        params = results["params"][i]
        values = "  ".join(f"{params[k]!s:>15}" for k in grid)
        print(f"{results['rank_test_score'][i]:>4}  {results['mean_test_score'][i]:>8.4f}  "
              f"{results['std_test_score'][i]:>6.4f}  {values}")
    print()
    best = {k.split("__", 1)[1]: v for k, v in search.best_params_.items()}
    print(f"Best parameters: {best}")
    print(f"Best cross-validated accuracy: {search.best_score_:.4f}")
    print(f"Test accuracy of the refitted best model: {search.score(X_test, y_test):.4f}")
    print(f"Search time: {elapsed:.1f} s")


if __name__ == "__main__":
    main()
