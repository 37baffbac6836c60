"""Speed options (``compile``, ``precision``) and the fast in-memory path keep behaviour."""

import pickle

import numpy as np
import pytest
import torch
from sklearn.base import clone

from sktorch import NeuralNetRegressor, _data
from sktorch._data import TensorBatches
from sktorch.callbacks import Callback

X = np.random.RandomState(0).randn(64, 3).astype(np.float32)
Y = X.sum(axis=1, keepdims=True)


def tiny_net(**kwargs):
    params = dict(module=torch.nn.Linear, module__in_features=3, module__out_features=1,
                  max_epochs=2, batch_size=16, verbose=0, train_split=None, random_state=0)
    params.update(kwargs)
    return NeuralNetRegressor(**params)


def _compile_works() -> bool:
    try:
        fn = torch.compile(lambda t: t * 2)
        return bool((fn(torch.ones(2)) == 2).all())
    except Exception:  # no compiler toolchain, unsupported platform or Python
        return False


@pytest.mark.slow
def test_compile_trains_predicts_and_survives_clone_and_pickle(tmp_path):
    if not _compile_works():
        pytest.skip("torch.compile is not available on this platform")
    net = tiny_net(compile=True).fit(X, Y)
    assert net._forward_module is not net.module_
    pred = net.predict(X)
    assert pred.shape == (64, 1) and np.isfinite(pred).all()
    assert clone(net).get_params()["compile"] is True
    loaded = pickle.loads(pickle.dumps(net))
    np.testing.assert_allclose(loaded.predict(X), pred, rtol=1e-5, atol=1e-6)
    # Saved weights are the uncompiled module's: they load into a net without compile.
    net.save_params(f_params=tmp_path / "params.pt")
    plain = tiny_net().initialize()
    plain.load_params(f_params=tmp_path / "params.pt")
    np.testing.assert_allclose(plain.predict(X), pred, rtol=1e-5, atol=1e-6)


def test_bf16_on_cpu_trains_and_predicts_finite_values():
    net = tiny_net(precision="bf16").fit(X, Y)
    assert np.isfinite(net.history[:, "train_loss"]).all()
    pred = net.predict(X)
    assert pred.dtype == np.float32 and np.isfinite(pred).all()


@pytest.mark.parametrize("precision", ["32", "bf16", "16-mixed"])
def test_precision_survives_clone_and_pickle(precision):
    assert clone(tiny_net(precision=precision)).precision == precision
    net = tiny_net(precision=precision, max_epochs=1).fit(X, Y)
    loaded = pickle.loads(pickle.dumps(net))
    assert loaded.precision == precision
    np.testing.assert_allclose(loaded.predict(X), net.predict(X))


def test_invalid_precision_is_a_value_error_naming_the_parameter():
    with pytest.raises(ValueError, match="precision"):
        tiny_net(precision="fp8").fit(X, Y)


def test_shuffled_chunks_give_the_same_batches_as_gathering_each_batch(monkeypatch):
    monkeypatch.setattr(_data, "_CHUNK_BYTES", 100)  # several batches a chunk, several chunks
    Xt, yt = torch.arange(50.0).reshape(25, 2), torch.arange(25)
    batches = list(TensorBatches((Xt, yt), 4, shuffle=True,
                                 generator=torch.Generator().manual_seed(0)))
    order = torch.randperm(25, generator=torch.Generator().manual_seed(0))
    assert [len(b[1]) for b in batches] == [4] * 6 + [1]
    for i, (Xb, yb) in enumerate(batches):
        index = order[i * 4 : (i + 1) * 4]
        assert torch.equal(Xb, Xt[index]) and torch.equal(yb, yt[index])


def test_per_batch_history_and_batch_hooks_after_each_epoch():
    seen = []

    class Record(Callback):
        def on_batch_end(self, net, batch=None, training=None, loss=None, y_pred=None, **kw):
            seen.append((len(batch[0]), loss is not None, tuple(y_pred.shape)))

    net = tiny_net(batch_size=20, callbacks=[Record()]).fit(X, Y)
    for epoch in (-1, -2):
        losses = net.history[epoch, "batches", :, "train_loss"]
        assert all(isinstance(v, float) for v in losses) and len(losses) == 4
        assert net.history[epoch, "batches", :, "train_batch_size"] == [20, 20, 20, 4]
    assert seen[:4] == [(20, True, (20, 1))] * 3 + [(4, True, (4, 1))]
