"""Problems a new-user review found in the core (2026-11-28, fourth session)."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch

from sktorch import NeuralNetClassifier


def _xy():
    X = np.random.RandomState(0).randn(60, 3).astype(np.float32)
    return X, (X[:, 0] > 0).astype(np.int64)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message without CUDA")
@pytest.mark.parametrize("device", ["cuda", "cuda:1", torch.device("cuda")])
def test_cuda_without_cuda_fails_at_fit_saying_so(device):
    X, y = _xy()
    net = NeuralNetClassifier(device=device, max_epochs=1, verbose=0)  # construction is free
    with pytest.raises(ValueError, match="sees no CUDA device.*Use device='cpu'"):
        net.fit(X, y)
    assert not getattr(net, "initialized_", False)


def test_an_unknown_device_name_fails_naming_it():
    X, y = _xy()
    with pytest.raises(ValueError, match="device='gpu' is not a device torch knows"):
        NeuralNetClassifier(device="gpu", max_epochs=1, verbose=0).fit(X, y)


def test_read_only_sample_weight_trains_without_torch_warning():
    # torch warns once per process about non-writable arrays: a fresh process sees it.
    code = textwrap.dedent("""
        import numpy as np
        from sktorch import NeuralNetClassifier
        X = np.random.RandomState(0).randn(60, 3).astype(np.float32)
        y = (X[:, 0] > 0).astype(int)
        w = np.random.RandomState(1).rand(60)
        w.flags.writeable = False
        NeuralNetClassifier(max_epochs=1, verbose=0, random_state=0).fit(
            X, y, sample_weight=w)
    """)
    run = subprocess.run([sys.executable, "-W", "error::UserWarning", "-c", code],
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]


def test_load_params_refuses_weights_of_other_declared_classes_and_keeps_the_net(tmp_path):
    from sktorch.toy import MLPModule

    X = np.random.RandomState(0).randn(90, 4).astype(np.float32)
    kw = dict(module=MLPModule, module__input_units=4, module__output_units=3, max_epochs=2,
              verbose=0, random_state=0)
    abc = NeuralNetClassifier(**kw).fit(X, np.array(list("abc"))[np.arange(90) % 3])
    abc.save_params(f_params=tmp_path / "w.pt", f_history=tmp_path / "h.json")
    xyz = NeuralNetClassifier(classes=["x", "y", "z"], **{**kw, "random_state": 1, "max_epochs": 4})
    xyz.fit(X, np.array(list("xyz"))[np.arange(90) % 3])
    proba, epochs = xyz.predict_proba(X), len(xyz.history)
    with pytest.raises(ValueError, match=r"trained with classes \['a', 'b', 'c'\].*"
                                         r"declares classes=\['x', 'y', 'z'\]"):
        xyz.load_params(f_params=tmp_path / "w.pt", f_history=tmp_path / "h.json")
    np.testing.assert_array_equal(xyz.predict_proba(X), proba)  # nothing was loaded
    assert len(xyz.history) == epochs and list(xyz.classes_) == ["x", "y", "z"]
    same = NeuralNetClassifier(classes=["a", "b", "c"], **kw).initialize()
    same.load_params(f_params=tmp_path / "w.pt")
    np.testing.assert_allclose(same.predict_proba(X), abc.predict_proba(X))
