"""Hugging Face tokenizers as scikit-learn transformers (sktorch.hf), built locally."""

import importlib.util

import numpy as np
import pytest
import torch

from tests._without_package import stdout_without

needs_hf = pytest.mark.skipif(
    importlib.util.find_spec("transformers") is None
    or importlib.util.find_spec("tokenizers") is None, reason="transformers/tokenizers missing")

TEXTS = ["the movie was great", "great food", "awful movie", "the food was awful",
         "great great movie", "awful awful food"] * 5
LABELS = np.array([1, 1, 0, 0, 1, 0] * 5)


def test_fit_without_transformers_names_the_extra():
    # sktorch.hf imports without the packages; fitting a tokenizer says what to install.
    code = (
        "from sktorch.hf import HuggingfaceTokenizer\n"
        "try:\n"
        "    HuggingfaceTokenizer(object).fit(['a'])\n"
        "except ImportError as e:\n"
        "    print(e)\n"
    )
    out = stdout_without("transformers", code)
    assert "HuggingfaceTokenizer needs the transformers package" in out
    assert "pip install sktorch[hf]" in out


class FakeHfApi:
    """Records uploads as the Hub would store them: path -> bytes, per repository."""

    def __init__(self):
        self.files = {}
        self.calls = []

    def upload_file(self, path_or_fileobj, path_in_repo, repo_id, **kwargs):
        self.files[(repo_id, path_in_repo)] = path_or_fileobj.read()
        self.calls.append((path_in_repo, kwargs))
        return f"https://huggingface.co/{repo_id}/blob/main/{path_in_repo}"


def test_hub_storage_uploads_each_checkpoint_of_a_net(tmp_path):
    import io

    from sktorch import NeuralNetRegressor
    from sktorch.callbacks import Checkpoint
    from sktorch.hf import HfHubStorage

    api = FakeHfApi()
    storage = HfHubStorage(api, "params-{}.pt", repo_id="me/net", repo_type="model",
                           local_storage=tmp_path / "latest.pt")
    X = np.random.RandomState(0).randn(80, 3).astype("float32")
    y = X @ np.array([1.0, -1.0, 2.0], dtype="float32")
    checkpoint = Checkpoint(monitor=None, f_params=storage, f_optimizer=None,
                            f_criterion=None, f_history=None)
    net = NeuralNetRegressor(max_epochs=4, lr=0.05, verbose=0, random_state=0,
                             callbacks=[checkpoint]).fit(X, y)
    n_best = len(net.history)  # monitor=None: a checkpoint after every epoch
    # One upload per checkpoint, each under its own name, with upload_file's options.
    assert [path for path, _ in api.calls] == [f"params-{i}.pt" for i in range(n_best)]
    assert all(kwargs == {"repo_type": "model"} for _, kwargs in api.calls)
    assert storage.latest_url_.endswith(f"me/net/blob/main/params-{n_best - 1}.pt")
    # The last upload holds the last epoch's weights.
    latest = api.files[("me/net", f"params-{n_best - 1}.pt")]
    state = torch.load(io.BytesIO(latest))
    for key, value in net.module_.state_dict().items():
        torch.testing.assert_close(state[key], value)
    assert (tmp_path / "latest.pt").read_bytes() == latest


def test_hub_storage_uploads_nothing_when_nothing_was_written():
    from sktorch.hf import HfHubStorage

    api = FakeHfApi()
    storage = HfHubStorage(api, "a.pt", repo_id="me/net")
    storage.flush()
    storage.write("text")
    storage.close()
    assert api.calls == [("a.pt", {})] and api.files[("me/net", "a.pt")] == b"text"


def _word_level():
    from tokenizers import Tokenizer, models, pre_tokenizers

    from sktorch.hf import HuggingfaceTokenizer

    return HuggingfaceTokenizer(Tokenizer, model=models.WordLevel(unk_token="[UNK]"),
                                pre_tokenizer=pre_tokenizers.Whitespace(), max_length=6)


@pytest.mark.integrations
@needs_hf
def test_tokenizer_learns_the_vocabulary_of_the_training_texts():
    tok = _word_level().fit(TEXTS)
    words = {w for text in TEXTS for w in text.split()}
    assert set(tok.vocabulary_) == words | {"[PAD]", "[UNK]"}
    out = tok.transform(["great movie", "unseen words here"])
    ids = out["input_ids"]
    assert ids.shape == (2, 6) and ids.dtype == torch.long
    pad, unk = tok.vocabulary_["[PAD]"], tok.vocabulary_["[UNK]"]
    assert ids[0, :2].tolist() == [tok.vocabulary_["great"], tok.vocabulary_["movie"]]
    assert ids[0, 2:].tolist() == [pad] * 4
    assert ids[1, :3].tolist() == [unk] * 3
    assert out["attention_mask"].tolist()[0] == [1, 1, 0, 0, 0, 0]
    # Longer texts are truncated to max_length.
    assert tok.transform(["great " * 10])["input_ids"].shape == (1, 6)
    assert list(tok.inverse_transform(tok.transform(["great movie"]))) == ["great movie"]


@pytest.mark.integrations
@needs_hf
def test_tokenizer_clones_and_refits_from_scratch():
    from sklearn.base import clone

    tok = _word_level().fit(["alpha beta"])
    fresh = clone(tok).fit(["gamma"])
    assert "alpha" not in fresh.vocabulary_ and "gamma" in fresh.vocabulary_
    assert "alpha" in tok.vocabulary_  # the original is untouched


@pytest.mark.integrations
@needs_hf
def test_pretrained_tokenizer_wraps_an_instance_and_can_train_a_new_one():
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    from sktorch.hf import HuggingfacePretrainedTokenizer

    vocab = {"[PAD]": 0, "[UNK]": 1, "great": 2, "movie": 3}
    base = Tokenizer(models.WordLevel(vocab=vocab, unk_token="[UNK]"))
    base.pre_tokenizer = pre_tokenizers.Whitespace()
    fast = PreTrainedTokenizerFast(tokenizer_object=base, pad_token="[PAD]", unk_token="[UNK]")
    tok = HuggingfacePretrainedTokenizer(fast, max_length=3).fit(None)
    assert tok.transform(["great food"])["input_ids"].tolist() == [[2, 1, 0]]
    trained = HuggingfacePretrainedTokenizer(fast, train=True, vocab_size=50,
                                             max_length=3).fit(TEXTS)
    assert "awful" in trained.vocabulary_ and "awful" not in tok.vocabulary_
    with pytest.raises(ValueError, match="train=True"):
        HuggingfacePretrainedTokenizer(fast, vocab_size=10).fit(TEXTS)


@pytest.mark.integrations
@needs_hf
def test_tokenizer_feeds_a_net_in_a_pipeline():
    from sklearn.pipeline import Pipeline

    from sktorch import NeuralNetClassifier

    class BagOfEmbeddings(torch.nn.Module):
        def __init__(self, n_tokens=32):
            super().__init__()
            self.emb = torch.nn.EmbeddingBag(n_tokens, 8, mode="sum")
            self.out = torch.nn.Linear(8, 2)

        def forward(self, input_ids, attention_mask):
            # The mean embedding of the real tokens (padding masked out).
            weights = attention_mask.float() / attention_mask.sum(1, keepdim=True)
            bag = self.emb(input_ids, per_sample_weights=weights)
            return torch.softmax(self.out(bag), dim=-1)

    pipe = Pipeline([
        ("tokenize", _word_level()),
        ("net", NeuralNetClassifier(BagOfEmbeddings, optimizer=torch.optim.Adam, lr=0.1,
                                    max_epochs=20, train_split=None, verbose=0,
                                    random_state=0)),
    ])
    pipe.fit(TEXTS, LABELS)
    assert (pipe.predict(TEXTS) == LABELS).mean() == 1.0
