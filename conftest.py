"""Doctest collection: modules of optional integrations are skipped without their package."""

import importlib.util


def _missing(*packages):
    return any(importlib.util.find_spec(package) is None for package in packages)


collect_ignore = []
if _missing("gpytorch"):
    collect_ignore.append("sktorch/probabilistic")
if _missing("transformers"):
    collect_ignore.append("sktorch/llm")
if _missing("transformers", "tokenizers"):
    collect_ignore.append("sktorch/hf/_tokenizers.py")
if _missing("accelerate"):
    collect_ignore.append("sktorch/hf/_accelerate.py")

# Scripts that tests launch in subprocesses (torchrun); never collected as tests or doctests.
collect_ignore_glob = ["tests/scripts/*"]
