"""Classify text with a causal language model: ``ZeroShotClassifier``, ``FewShotClassifier``.

Needs the ``llm`` extra (``pip install sktorch[llm]``: transformers); importing
this package without it raises an ``ImportError`` that says so.
"""

from sktorch._extras import require

require("sktorch.llm", "llm", "transformers")

from sktorch.llm._base import LowProbabilityError  # noqa: E402
from sktorch.llm._classifiers import FewShotClassifier, ZeroShotClassifier  # noqa: E402
from sktorch.llm._prompts import DEFAULT_PROMPT_FEW_SHOT, DEFAULT_PROMPT_ZERO_SHOT  # noqa: E402

__all__ = ["ZeroShotClassifier", "FewShotClassifier", "LowProbabilityError",
           "DEFAULT_PROMPT_ZERO_SHOT", "DEFAULT_PROMPT_FEW_SHOT"]
