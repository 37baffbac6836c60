"""Zero- and few-shot classifiers (sktorch.llm) with a tiny GPT-2 built locally (no download)."""

import importlib.util

import numpy as np
import pytest
import torch

from tests._without_package import stdout_without

needs_transformers = pytest.mark.skipif(
    importlib.util.find_spec("transformers") is None, reason="transformers is not installed")

WORDS = ["[UNK]", "[PAD]", "text", "label", "classify", "as", "one", "of", "these", "labels",
         "you", "are", "a", "classifier", "the", "below", ".", ":", ",", "great", "awful",
         "movie", "food", "positive", "negative", "very", "pos", "itive", "neg", "ative"]


def test_import_without_transformers_names_the_extra():
    code = (
        "try:\n"
        "    import sktorch.llm\n"
        "except ImportError as e:\n"
        "    print(e)\n"
    )
    out = stdout_without("transformers", code)
    assert "pip install sktorch[llm]" in out


@pytest.fixture(scope="module")
def tiny_lm():
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

    vocab = {word: i for i, word in enumerate(WORDS)}
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]",
                                        pad_token="[PAD]")
    torch.manual_seed(0)
    config = GPT2Config(vocab_size=len(WORDS), n_positions=256, n_embd=16, n_layer=2, n_head=2)
    model = GPT2LMHeadModel(config).eval()
    return model, tokenizer


def _direct_label_probs(model, tokenizer, prompt, labels):
    """p(label tokens | prompt) by the chain rule, one forward pass per label."""
    ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    probs = []
    for label in labels:
        label_ids = tokenizer(label, add_special_tokens=False)["input_ids"]
        full = torch.tensor([ids + label_ids])
        with torch.no_grad():
            logits = model(full).logits[0]
        p = 1.0
        for k, token in enumerate(label_ids):
            p *= torch.softmax(logits[len(ids) - 1 + k].double(), -1)[token].item()
        probs.append(p)
    return np.array(probs)


PROMPT = "classify the text as one of these labels : {labels} . text : {text} . label : "


@pytest.mark.integrations
@needs_transformers
@pytest.mark.parametrize("use_caching", [True, False])
def test_zero_shot_probas_are_the_label_tokens_likelihoods(tiny_lm, use_caching):
    from sktorch.llm import ZeroShotClassifier

    model, tokenizer = tiny_lm
    # "pos itive" and "neg ative" are two tokens each: the chain rule is exercised.
    y = ["pos itive", "neg ative", "awful"]
    X = ["great movie", "awful food", "very great food"]
    clf = ZeroShotClassifier(model=model, tokenizer=tokenizer, prompt=PROMPT,
                             probas_sum_to_1=False, use_caching=use_caching).fit(X, y)
    proba = clf.predict_proba(X)
    for text, row in zip(X, proba):
        prompt = PROMPT.format(text=text, labels=", ".join(clf.classes_))
        np.testing.assert_allclose(row, _direct_label_probs(model, tokenizer, prompt,
                                                            clf.classes_), rtol=1e-4)
    normalized = clf.set_params(probas_sum_to_1=True).predict_proba(X)
    np.testing.assert_allclose(normalized, proba / proba.sum(1, keepdims=True), rtol=1e-6)
    assert list(clf.predict(X)) == list(clf.classes_[proba.argmax(1)])


@pytest.mark.integrations
@needs_transformers
def test_low_probability_warns_raises_or_returns_none(tiny_lm):
    from sktorch.llm import LowProbabilityError, ZeroShotClassifier

    model, tokenizer = tiny_lm
    X, y = ["great movie", "awful food"], ["positive", "negative"]
    kwargs = dict(model=model, tokenizer=tokenizer, prompt=PROMPT, threshold_low_prob=0.99)
    with pytest.warns(UserWarning, match="threshold_low_prob"):
        ZeroShotClassifier(error_low_prob="warn", **kwargs).fit(X, y).predict(X)
    with pytest.raises(LowProbabilityError, match="error_low_prob='ignore'"):
        ZeroShotClassifier(error_low_prob="raise", **kwargs).fit(X, y).predict(X)
    assert list(ZeroShotClassifier(error_low_prob="return_none", **kwargs).fit(X, y)
                .predict(X)) == [None, None]
    kwargs["threshold_low_prob"] = 0.0
    assert None not in ZeroShotClassifier(error_low_prob="return_none", **kwargs).fit(
        X, y).predict(X)


@pytest.mark.integrations
@needs_transformers
def test_bad_parameters_say_what_to_write(tiny_lm):
    from sktorch.llm import ZeroShotClassifier

    model, tokenizer = tiny_lm
    with pytest.raises(ValueError, match="model_name"):
        ZeroShotClassifier(model=model).fit(["a"], ["b"])
    with pytest.raises(ValueError, match="placeholders"):
        ZeroShotClassifier(model=model, tokenizer=tokenizer, prompt="no slots").fit(["a"], ["b"])
    with pytest.raises(ValueError, match="error_low_prob"):
        ZeroShotClassifier(model=model, tokenizer=tokenizer, error_low_prob="x").fit(["a"], ["b"])


@pytest.mark.integrations
@needs_transformers
def test_few_shot_puts_examples_of_every_label_in_the_prompt(tiny_lm):
    from sktorch.llm import FewShotClassifier

    model, tokenizer = tiny_lm
    X = ["great movie", "great food", "very great movie", "awful food", "awful movie"]
    y = ["positive", "positive", "positive", "negative", "negative"]
    prompt = "labels : {labels} . {examples} text : {text} . label : "
    clf = FewShotClassifier(model=model, tokenizer=tokenizer, prompt=prompt, max_samples=2,
                            probas_sum_to_1=False, random_state=0).fit(X, y)
    assert len(clf.examples_) == 2
    assert sorted(label for _, label in clf.examples_) == ["negative", "positive"]
    text = "very awful food"
    expected_prompt = clf._format(text)
    for example, label in clf.examples_:
        assert f"Text: {example}\n\nLabel: {label}" in expected_prompt
    np.testing.assert_allclose(
        clf.predict_proba([text])[0],
        _direct_label_probs(model, tokenizer, expected_prompt, clf.classes_), rtol=1e-4)
    again = FewShotClassifier(model=model, tokenizer=tokenizer, prompt=prompt, max_samples=2,
                              random_state=0).fit(X, y)
    assert again.examples_ == clf.examples_
