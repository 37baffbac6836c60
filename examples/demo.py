"""A hyperparameter search with sktorch on scikit-learn's bundled digits data.

Run with ``make demo``. A NeuralNetClassifier (the built-in MLP, sized from the
data) sits in a Pipeline after a scaler; sktorch's GridSearchCV tries learning
rates, hidden-layer widths and dropout with 5-fold cross-validation, training the
40 candidate × fold fits together (fused), then the best model is scored on
held-out test data. The same search runs once more with ``fuse=False``
(scikit-learn's one fit after another) for comparison.
"""

import os
import time

import torch
from sklearn.datasets import load_digits
from sklearn.model_selection import ParameterGrid, train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sktorch import NeuralNetClassifier
from sktorch.model_selection import GridSearchCV

GRID = {
    "neuralnetclassifier__lr": [0.001, 0.01],
    "neuralnetclassifier__hidden_units": [32, 128],
    "neuralnetclassifier__module__dropout": [0.0, 0.2],
}


def digits_data():
    """Digits split into 75% training and 25% test rows."""
    X, y = load_digits(return_X_y=True)
    return train_test_split(X, y, test_size=0.25, stratify=y, random_state=0)


def digits_search(fuse="auto") -> GridSearchCV:
    """The demo's search (also timed by ``benchmarks/fused_search.py``)."""
    net = NeuralNetClassifier(
        optimizer=torch.optim.Adam,
        max_epochs=15,
        batch_size=64,
        train_split=None,
        verbose=0,
        random_state=0,
    )
    pipe = make_pipeline(StandardScaler(), net)
    return GridSearchCV(pipe, GRID, cv=5, scoring="accuracy", n_jobs=1, fuse=fuse)


def timed_fit(search, X, y) -> float:
    start = time.perf_counter()
    search.fit(X, y)
    return time.perf_counter() - start


def print_results(search) -> None:
    results = search.cv_results_
    names = [k.split("__", 1)[1] for k in GRID]
    header = f"{'rank':>4}  {'mean acc':>8}  {'std':>6}  " + "  ".join(f"{n:>15}" for n in names)
    print()
    print(header)
    print("-" * len(header))
    for i in results["rank_test_score"].argsort():
        params = results["params"][i]
        values = "  ".join(f"{params[k]!s:>15}" for k in GRID)
        print(f"{results['rank_test_score'][i]:>4}  {results['mean_test_score'][i]:>8.4f}  "
              f"{results['std_test_score'][i]:>6.4f}  {values}")
    print()


def main() -> None:
    X_train, X_test, y_train, y_test = digits_data()
    print(f"Digits: {X_train.shape[0]} training rows, {X_train.shape[1]} features, 10 classes")
    print(f"GridSearchCV: {len(ParameterGrid(GRID))} candidates x 5 folds")
    search = digits_search()
    elapsed = timed_fit(search, X_train, y_train)
    print_results(search)
    best = {k.split("__", 1)[1]: v for k, v in search.best_params_.items()}
    print(f"Best parameters: {best}")
    print(f"Best cross-validated accuracy: {search.best_score_:.4f}")
    print(f"Test accuracy of the refitted best model: {search.score(X_test, y_test):.4f}")
    print(f"Fuse report: {search.fuse_report_.summary()}")

    unfused = digits_search(fuse=False)
    elapsed_unfused = timed_fit(unfused, X_train, y_train)
    print(f"Search time: {elapsed:.1f} s fused; {elapsed_unfused:.1f} s with fuse=False "
          f"(scikit-learn's one fit after another): {elapsed_unfused / elapsed:.1f}x")
    same = "the same" if unfused.best_params_ == search.best_params_ else "other"
    print(f"fuse=False found {same} best parameters, accuracy {unfused.best_score_:.4f} "
          "(with dropout, fused members draw other masks: scores agree statistically)")
    save_search_figure(search)


def save_search_figure(search, path: str = "build/demo_search.png") -> None:
    """The search's learning curves and scores per parameter, when matplotlib is installed."""
    try:
        import matplotlib
    except ImportError:
        print("Install sktorch[plot] (matplotlib) to save the search's figure.")
        return
    matplotlib.use("Agg")
    from sktorch.plotting import SearchDisplay

    os.makedirs(os.path.dirname(path), exist_ok=True)
    SearchDisplay.from_estimator(search).figure_.savefig(path, dpi=100, bbox_inches="tight")
    print(f"Search figure (learning curves, score per parameter): {os.path.abspath(path)}")


if __name__ == "__main__":
    main()
