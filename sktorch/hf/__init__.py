"""Hugging Face integrations: tokenizers, Hub checkpoints and training through Accelerate.

Importing ``sktorch.hf`` needs none of the Hugging Face packages; using a class
that needs one (fitting a tokenizer, initializing an accelerated net) raises an
``ImportError`` that names the extra to install (``pip install sktorch[hf]``).
"""

from sktorch.hf._accelerate import AccelerateMixin
from sktorch.hf._hub import HfHubStorage
from sktorch.hf._tokenizers import HuggingfacePretrainedTokenizer, HuggingfaceTokenizer

__all__ = ["AccelerateMixin", "HfHubStorage", "HuggingfacePretrainedTokenizer",
           "HuggingfaceTokenizer"]
