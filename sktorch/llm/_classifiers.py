"""``ZeroShotClassifier`` and ``FewShotClassifier``: text classification with a causal LM."""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.utils import check_random_state

from sktorch.llm._base import LlmClassifierBase, as_texts
from sktorch.llm._prompts import DEFAULT_PROMPT_FEW_SHOT, DEFAULT_PROMPT_ZERO_SHOT

__all__ = ["ZeroShotClassifier", "FewShotClassifier"]


class ZeroShotClassifier(LlmClassifierBase):
    """Classify texts with a causal language model, without training examples.

    Parameters
    ----------
    model_name : str, optional
        A Hugging Face model to load with ``AutoModelForCausalLM`` and
        ``AutoTokenizer``; or pass ``model`` and ``tokenizer``.
    model, tokenizer : optional
        A causal LM (returning ``.logits``) and its tokenizer.
    prompt : str, optional
        With the placeholders ``{text}`` and ``{labels}``; default
        :data:`DEFAULT_PROMPT_ZERO_SHOT`.
    probas_sum_to_1 : bool, default=True
        Normalize each row of ``predict_proba`` over the labels.
    device : str, default='cpu'
    error_low_prob : {'ignore', 'warn', 'raise', 'return_none'}, default='ignore'
        What to do when the labels' total probability (before normalizing) is
        below ``threshold_low_prob``; ``'return_none'`` makes ``predict`` return
        None for those texts.
    threshold_low_prob : float, default=0.0
    use_caching : bool, default=True
        Run the prompt once per text (its key/values reused for every label) and
        remember the results of prompts already seen.
    """

    def _prompt(self) -> str:
        return DEFAULT_PROMPT_ZERO_SHOT if self.prompt is None else self.prompt

    def _format(self, text: str) -> str:
        return self._prompt().format(text=text, labels=", ".join(self.classes_))


class FewShotClassifier(LlmClassifierBase):
    """Classify texts with a causal language model shown a few labeled examples.

    ``fit`` picks up to ``max_samples`` examples from (X, y) — one of each label
    first, then at random (``random_state``) — and puts them in the prompt.

    Parameters
    ----------
    model_name, model, tokenizer, probas_sum_to_1, device, error_low_prob,
    threshold_low_prob, use_caching
        As in :class:`ZeroShotClassifier`.
    prompt : str, optional
        With the placeholders ``{text}``, ``{labels}`` and ``{examples}``;
        default :data:`DEFAULT_PROMPT_FEW_SHOT`.
    max_samples : int, default=5
        The most examples put in the prompt.
    random_state : int, RandomState or None
        Which examples are chosen.
    """

    _placeholders = ("{text}", "{labels}", "{examples}")

    def __init__(
        self,
        model_name: str | None = None,
        *,
        model: Any = None,
        tokenizer: Any = None,
        prompt: str | None = None,
        max_samples: int = 5,
        probas_sum_to_1: bool = True,
        device: str = "cpu",
        error_low_prob: str = "ignore",
        threshold_low_prob: float = 0.0,
        use_caching: bool = True,
        random_state: Any = None,
    ):
        super().__init__(model_name, model=model, tokenizer=tokenizer, prompt=prompt,
                         probas_sum_to_1=probas_sum_to_1, device=device,
                         error_low_prob=error_low_prob, threshold_low_prob=threshold_low_prob,
                         use_caching=use_caching)
        self.max_samples = max_samples
        self.random_state = random_state

    def _prompt(self) -> str:
        return DEFAULT_PROMPT_FEW_SHOT if self.prompt is None else self.prompt

    def fit(self, X: Any, y: Any, **fit_params: Any) -> FewShotClassifier:
        super().fit(X, y, **fit_params)
        texts, labels = as_texts(X), np.asarray(y).astype(str).ravel()
        if len(texts) != len(labels):
            raise ValueError(f"X and y must have the same length; got {len(texts)} texts "
                             f"and {len(labels)} labels.")
        order = check_random_state(self.random_state).permutation(len(texts))
        first = [order[labels[order] == label][0] for label in self.classes_]
        rest = [i for i in order if i not in set(first)]
        chosen = (first + rest)[:self.max_samples]
        check_random_state(self.random_state).shuffle(chosen)
        self.examples_ = [(texts[i], labels[i]) for i in chosen]
        return self

    def _format(self, text: str) -> str:
        examples = "".join(f"Text: {t}\n\nLabel: {label}\n\n" for t, label in self.examples_)
        return self._prompt().format(text=text, labels=", ".join(self.classes_),
                                     examples=examples)
