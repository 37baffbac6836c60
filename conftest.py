"""Doctest collection: modules of optional integrations are skipped without their package."""

import importlib.util

collect_ignore = []
if importlib.util.find_spec("gpytorch") is None:
    collect_ignore.append("sktorch/probabilistic.py")
if importlib.util.find_spec("transformers") is None:
    collect_ignore.append("sktorch/llm.py")
if importlib.util.find_spec("transformers") is None or importlib.util.find_spec(
        "tokenizers") is None:
    collect_ignore.append("sktorch/hf.py")
