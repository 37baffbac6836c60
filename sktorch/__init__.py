"""sktorch: scikit-learn compatible neural networks for PyTorch."""

from sktorch._version import __version__
from sktorch.classifier import NeuralNetBinaryClassifier, NeuralNetClassifier
from sktorch.history import History
from sktorch.net import NeuralNet
from sktorch.regressor import NeuralNetRegressor

__all__ = [
    "NeuralNet",
    "NeuralNetClassifier",
    "NeuralNetBinaryClassifier",
    "NeuralNetRegressor",
    "History",
    "__version__",
]
