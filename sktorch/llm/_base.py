"""What the LLM classifiers share: parameters, loading the model, label likelihoods.

The probability of a label is the model's likelihood of the label's tokens
following the prompt: the product over the label's tokens of
``p(token | prompt, earlier label tokens)``, read from one forward pass (teacher
forcing), so no text is generated and no label is ever "missed" by sampling.
"""

from __future__ import annotations

import copy
import warnings
from typing import Any

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClassifierMixin

from sktorch._warnings import warn_user

__all__ = ["LlmClassifierBase", "LowProbabilityError", "as_texts"]

_ERROR_LOW_PROB = ("ignore", "warn", "raise", "return_none")


class LowProbabilityError(ValueError):
    """The labels' total probability of a sample is below ``threshold_low_prob``."""


class LlmClassifierBase(ClassifierMixin, BaseEstimator):
    """What both classifiers share: parameters, loading, label likelihoods, predictions."""

    _placeholders: tuple[str, ...] = ("{text}", "{labels}")

    def __init__(
        self,
        model_name: str | None = None,
        *,
        model: Any = None,
        tokenizer: Any = None,
        prompt: str | None = None,
        probas_sum_to_1: bool = True,
        device: str = "cpu",
        error_low_prob: str = "ignore",
        threshold_low_prob: float = 0.0,
        use_caching: bool = True,
    ):
        self.model_name = model_name
        self.model = model
        self.tokenizer = tokenizer
        self.prompt = prompt
        self.probas_sum_to_1 = probas_sum_to_1
        self.device = device
        self.error_low_prob = error_low_prob
        self.threshold_low_prob = threshold_low_prob
        self.use_caching = use_caching


    # ---------------------------------------------------------------- fitting
    def _check_params(self) -> None:
        if self.model_name is not None and (self.model is not None or self.tokenizer is not None):
            raise ValueError(
                "Pass either model_name or both model and tokenizer, not both; got "
                f"model_name={self.model_name!r} and a model/tokenizer.")
        if self.model_name is None and (self.model is None or self.tokenizer is None):
            raise ValueError(
                "Pass model_name='<a Hugging Face model>' or both model= and tokenizer=; "
                f"got model={type(self.model).__name__}, "
                f"tokenizer={type(self.tokenizer).__name__}.")
        if self.error_low_prob not in _ERROR_LOW_PROB:
            raise ValueError(f"error_low_prob must be one of {_ERROR_LOW_PROB}, got "
                             f"{self.error_low_prob!r}.")
        if not 0.0 <= self.threshold_low_prob <= 1.0:
            raise ValueError("threshold_low_prob must be in [0, 1], got "
                             f"{self.threshold_low_prob!r}.")
        prompt = self._prompt()
        missing = [p for p in self._placeholders if p not in prompt]
        if missing:
            raise ValueError(f"The prompt must contain the placeholders {missing}; got "
                             f"{prompt!r}.")

    def _load(self) -> None:
        if self.model_name is None:
            self.model_, self.tokenizer_ = self.model, self.tokenizer
            return
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.tokenizer_ = AutoTokenizer.from_pretrained(self.model_name)
        self.model_ = AutoModelForCausalLM.from_pretrained(self.model_name)

    def fit(self, X: Any, y: Any, **fit_params: Any):
        """Learn the labels (``classes_``) from y; X is not used by the zero-shot model.

        The model is not trained: it is loaded (``model_name``) or taken as it is.
        """
        self._check_params()
        if y is None:
            raise ValueError("fit needs y, the labels to choose from; got y=None.")
        self.classes_ = np.unique(np.asarray(y).astype(str))
        self._load()
        self.model_.to(self.device)
        self.model_.eval()
        self.label_ids_ = [self._encode(str(label)) for label in self.classes_]
        self.cache_ = {}
        return self

    # ------------------------------------------------------------- prediction
    def _encode(self, text: str) -> list[int]:
        return list(self.tokenizer_(text, add_special_tokens=False)["input_ids"])

    def _log_probs(self, ids: list[int], past: Any = None, n_past: int = 0) -> tuple:
        """Log-softmax over the vocabulary after each position, and the cache."""
        input_ids = torch.tensor([ids[n_past:]], device=self.device)
        kwargs = {"use_cache": self.use_caching}
        if past is not None:
            kwargs["past_key_values"] = past
        with torch.no_grad(), warnings.catch_warnings():
            # Newer transformers rename past_key_values; both names work for now.
            warnings.filterwarnings("ignore", ".*past_key_values.*", FutureWarning)
            out = self.model_(input_ids=input_ids, **kwargs)
        logits = out.logits[0].float()
        return torch.log_softmax(logits, dim=-1), getattr(out, "past_key_values", None)

    def _label_log_likelihoods(self, prompt: str) -> np.ndarray:
        prompt_ids = self._encode(prompt)
        if self.use_caching:
            key = tuple(prompt_ids)
            cached = self.cache_.get(key)
            if cached is not None:
                return cached
            # One pass over the prompt; each label then only runs its own tokens.
            prompt_log_probs, past = self._log_probs(prompt_ids)
        scores = []
        for label_ids in self.label_ids_:
            if self.use_caching:
                score = prompt_log_probs[-1, label_ids[0]]
                if len(label_ids) > 1:
                    log_probs, _ = self._log_probs(prompt_ids + label_ids[:-1],
                                                   copy.deepcopy(past), len(prompt_ids))
                    score = score + log_probs.gather(
                        1, torch.tensor(label_ids[1:]).view(-1, 1).to(log_probs.device)).sum()
            else:
                log_probs, _ = self._log_probs(prompt_ids + label_ids)
                # Position i predicts token i + 1: the label's tokens follow the prompt.
                start = len(prompt_ids) - 1
                rows = log_probs[start:start + len(label_ids)]
                score = rows.gather(1, torch.tensor(label_ids).view(-1, 1).to(rows.device)).sum()
            scores.append(float(score))
        scores = np.asarray(scores)
        if self.use_caching:
            self.cache_[key] = scores
        return scores

    def _check_low_prob(self, total: np.ndarray) -> np.ndarray:
        low = total < self.threshold_low_prob
        if low.any() and self.error_low_prob in ("warn", "raise"):
            message = (f"{int(low.sum())} sample(s) gave the labels a total probability below "
                       f"threshold_low_prob={self.threshold_low_prob} (lowest: "
                       f"{total.min():.3g}): the model may not follow the prompt. Adjust the "
                       "prompt or the labels, or set error_low_prob='ignore'.")
            if self.error_low_prob == "raise":
                raise LowProbabilityError(message)
            warn_user(message, UserWarning)
        return low

    def predict_proba(self, X: Any) -> np.ndarray:
        """Probability of each label in ``classes_`` for each text of X.

        With ``probas_sum_to_1`` (default) each row is normalized to sum to 1;
        otherwise the rows hold the labels' raw likelihoods under the model.
        """
        if not hasattr(self, "classes_"):
            raise ValueError(f"This {type(self).__name__} is not fitted; call fit(X, y) "
                             "with the labels first.")
        probs = np.stack([np.exp(self._label_log_likelihoods(self._format(str(text))))
                          for text in as_texts(X)])
        self._low_prob_ = self._check_low_prob(probs.sum(1))
        if self.probas_sum_to_1:
            probs = probs / probs.sum(1, keepdims=True)
        return probs

    def predict(self, X: Any) -> np.ndarray:
        """The most probable label of each text; None where the probability is low and
        ``error_low_prob='return_none'``."""
        probs = self.predict_proba(X)
        labels = self.classes_[probs.argmax(1)].astype(object)
        if self.error_low_prob == "return_none":
            labels[self._low_prob_] = None
        return labels

    def clear_model_cache(self) -> None:
        """Forget the cached prompt results (e.g. after changing the model in place)."""
        self.cache_ = {}


def as_texts(X: Any) -> list:
    if isinstance(X, str):
        raise ValueError("X must be a sequence of texts, got a single string; write [text].")
    return list(np.asarray(X, dtype=object).ravel())
