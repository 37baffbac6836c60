"""Hugging Face tokenizers as scikit-learn transformers.

``HuggingfacePretrainedTokenizer`` wraps a ``transformers`` tokenizer (a name or an
instance); ``HuggingfaceTokenizer`` trains a ``tokenizers`` tokenizer on the texts
given to ``fit``. Both turn a sequence of texts into a dict of tensors
(``input_ids``, ``attention_mask``) that a net passes to its module as keyword
arguments. They need the ``hf`` extra (``pip install sktorch[hf]``); without it,
``fit`` raises an ``ImportError`` that says so (importing this module needs nothing).
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin

from sktorch._extras import require

__all__ = ["HuggingfacePretrainedTokenizer", "HuggingfaceTokenizer"]


def _require_hf(owner: str) -> None:
    require(owner, "hf", "transformers", "tokenizers")


def _texts(X: Any) -> list[str]:
    if isinstance(X, str):
        raise ValueError("X must be a sequence of texts, got a single string; write [text].")
    return [str(x) for x in np.asarray(X, dtype=object).ravel()]


class _TokenizerBase(TransformerMixin, BaseEstimator):
    def _encode(self, X: Any) -> Any:
        if not hasattr(self, "fast_tokenizer_"):
            raise ValueError(f"This {type(self).__name__} is not fitted; call fit(X) first.")
        return self.fast_tokenizer_(
            _texts(X), padding="max_length", truncation=True, max_length=self.max_length,
            return_tensors=self.return_tensors,
            return_attention_mask=self.return_attention_mask,
            return_token_type_ids=self.return_token_type_ids,
            return_length=self.return_length,
        )

    def transform(self, X: Any) -> dict[str, Any]:
        """Token ids of each text, padded (and truncated) to ``max_length``.

        Returns a plain dict (which nets accept as X and pass to the module as
        keyword arguments) with ``input_ids`` and, by default, ``attention_mask``,
        as ``return_tensors`` says (``'pt'``: torch tensors).
        """
        return dict(self._encode(X))

    def inverse_transform(self, X: Any) -> np.ndarray:
        """The texts of token ids (padding and special tokens left out)."""
        ids = X["input_ids"] if isinstance(X, dict) or hasattr(X, "keys") else X
        ids = ids.tolist() if hasattr(ids, "tolist") else ids
        return np.asarray(self.fast_tokenizer_.batch_decode(ids, skip_special_tokens=True),
                          dtype=object)

    @property
    def vocabulary_(self) -> dict[str, int]:
        """Token -> id, as in scikit-learn's text vectorizers."""
        return self.fast_tokenizer_.get_vocab()

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        return np.asarray([f"token_{i}" for i in range(self.max_length)], dtype=object)


class HuggingfacePretrainedTokenizer(_TokenizerBase):
    """A pretrained ``transformers`` tokenizer as a scikit-learn transformer.

    Parameters
    ----------
    tokenizer : str or PreTrainedTokenizerBase
        A model name (loaded with ``AutoTokenizer.from_pretrained``) or a tokenizer.
    train : bool, default=False
        Train a new tokenizer of the same kind on the texts given to ``fit``
        (``train_new_from_iterator``); needs a fast tokenizer.
    max_length : int, default=256
    return_tensors : str, default='pt'
    return_attention_mask : bool, default=True
    return_token_type_ids : bool, default=False
    return_length : bool, default=False
    verbose : int, default=0
    vocab_size : int, optional
        The vocabulary size of a tokenizer trained with ``train=True``; default:
        the pretrained one's.
    """

    def __init__(self, tokenizer: Any, train: bool = False, max_length: int = 256,
                 return_tensors: str = "pt", return_attention_mask: bool = True,
                 return_token_type_ids: bool = False, return_length: bool = False,
                 verbose: int = 0, vocab_size: int | None = None):
        self.tokenizer = tokenizer
        self.train = train
        self.max_length = max_length
        self.return_tensors = return_tensors
        self.return_attention_mask = return_attention_mask
        self.return_token_type_ids = return_token_type_ids
        self.return_length = return_length
        self.verbose = verbose
        self.vocab_size = vocab_size

    def fit(self, X: Any, y: Any = None, **fit_params: Any) -> HuggingfacePretrainedTokenizer:
        """Load the tokenizer; with ``train=True`` train a new one on X."""
        _require_hf(type(self).__name__)
        if self.vocab_size is not None and not self.train:
            raise ValueError(f"vocab_size={self.vocab_size} only applies with train=True; "
                             "pass train=True to train a new tokenizer, or leave vocab_size.")
        tokenizer = self.tokenizer
        if isinstance(tokenizer, str):
            from transformers import AutoTokenizer

            tokenizer = AutoTokenizer.from_pretrained(tokenizer)
        if self.train:
            if not getattr(tokenizer, "is_fast", False):
                raise TypeError(f"train=True needs a fast tokenizer, got "
                                f"{type(tokenizer).__name__}.")
            vocab_size = self.vocab_size or len(tokenizer)
            tokenizer = tokenizer.train_new_from_iterator(iter(_texts(X)), vocab_size)
        self.fast_tokenizer_ = tokenizer
        return self


class HuggingfaceTokenizer(_TokenizerBase):
    """A ``tokenizers`` tokenizer trained from scratch on the texts given to ``fit``.

    Parameters
    ----------
    tokenizer : tokenizers.Tokenizer class or instance
        A class is built with ``model``.
    model : tokenizers.models.Model, optional
        E.g. ``WordLevel(unk_token='[UNK]')`` or ``BPE(unk_token='[UNK]')``.
    trainer : 'auto' or tokenizers.trainers.Trainer, default='auto'
        ``'auto'``: the model's own trainer, with ``pad_token`` (and the model's
        unknown token) as special tokens.
    normalizer, pre_tokenizer, post_processor : optional
        Set on the tokenizer before training.
    max_length, return_tensors, return_attention_mask, return_token_type_ids,
    return_length, verbose
        As in :class:`HuggingfacePretrainedTokenizer`.
    pad_token : str, default='[PAD]'

    Examples
    --------
    >>> from tokenizers import Tokenizer, models, pre_tokenizers
    >>> tok = HuggingfaceTokenizer(Tokenizer, model=models.WordLevel(unk_token='[UNK]'),
    ...                            pre_tokenizer=pre_tokenizers.Whitespace(), max_length=4)
    >>> out = tok.fit(['a b c', 'b c']).transform(['b a', 'z'])
    >>> out['attention_mask'].tolist()
    [[1, 1, 0, 0], [1, 0, 0, 0]]
    >>> tok.inverse_transform(out).tolist()
    ['b a', '']
    """

    def __init__(self, tokenizer: Any, model: Any = None, trainer: Any = "auto",
                 normalizer: Any = None, pre_tokenizer: Any = None, post_processor: Any = None,
                 max_length: int = 256, return_tensors: str = "pt",
                 return_attention_mask: bool = True, return_token_type_ids: bool = False,
                 return_length: bool = False, pad_token: str = "[PAD]", verbose: int = 0):
        self.tokenizer = tokenizer
        self.model = model
        self.trainer = trainer
        self.normalizer = normalizer
        self.pre_tokenizer = pre_tokenizer
        self.post_processor = post_processor
        self.max_length = max_length
        self.return_tensors = return_tensors
        self.return_attention_mask = return_attention_mask
        self.return_token_type_ids = return_token_type_ids
        self.return_length = return_length
        self.pad_token = pad_token
        self.verbose = verbose

    def _build(self) -> Any:
        if isinstance(self.tokenizer, type):
            if self.model is None:
                raise ValueError("A tokenizer class needs a model, e.g. "
                                 "model=tokenizers.models.WordLevel(unk_token='[UNK]').")
            return self.tokenizer(copy.deepcopy(self.model))
        return copy.deepcopy(self.tokenizer)

    def fit(self, X: Any, y: Any = None, **fit_params: Any) -> HuggingfaceTokenizer:
        """Train the tokenizer's vocabulary on the texts X."""
        _require_hf(type(self).__name__)
        from transformers import PreTrainedTokenizerFast

        tokenizer = self._build()
        for part in ("normalizer", "pre_tokenizer", "post_processor"):
            if getattr(self, part) is not None:
                setattr(tokenizer, part, copy.deepcopy(getattr(self, part)))
        trainer = self.trainer
        if isinstance(trainer, str):
            if trainer != "auto":
                raise ValueError(f"trainer must be 'auto' or a tokenizers trainer, got "
                                 f"{trainer!r}.")
            trainer = tokenizer.model.get_trainer()
            unk = getattr(tokenizer.model, "unk_token", None)
            trainer.special_tokens = [self.pad_token] + ([unk] if unk else [])
        tokenizer.train_from_iterator(_texts(X), trainer=trainer)
        unk = getattr(tokenizer.model, "unk_token", None)
        self.fast_tokenizer_ = PreTrainedTokenizerFast(
            tokenizer_object=tokenizer, pad_token=self.pad_token,
            **({"unk_token": unk} if unk else {}))
        return self
