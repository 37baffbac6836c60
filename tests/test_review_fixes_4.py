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


def test_flat_adam_equals_torch_after_some_parameters_were_frozen_for_a_while():
    from sktorch._builtin.flat_adam import FlatAdamStep

    def run(flat):
        torch.manual_seed(0)
        m = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 1))
        opt = torch.optim.Adam(m.parameters(), lr=0.01)
        step = FlatAdamStep(opt) if flat else None
        X, y = torch.randn(32, 4), torch.randn(32, 1)
        for i in range(10):
            for p in m[0].parameters():  # frozen for steps 3-5: torch skips their counts
                p.requires_grad_(not 3 <= i <= 5)
            opt.zero_grad()
            torch.nn.functional.mse_loss(m(X), y).backward()
            if not (flat and step.step()):
                opt.step()
        return torch.cat([p.detach().reshape(-1) for p in m.parameters()])

    torch.testing.assert_close(run(True), run(False), rtol=0, atol=0)


def test_load_params_accepts_its_own_file_when_classes_were_declared_unsorted(tmp_path):
    from sktorch.toy import MLPModule

    X = np.random.RandomState(0).randn(60, 4).astype(np.float32)
    y = np.array(["a", "b"])[np.arange(60) % 2]
    kw = dict(module=MLPModule, module__input_units=4, classes=["b", "a"], max_epochs=1,
              verbose=0, random_state=0)
    net = NeuralNetClassifier(**kw).fit(X, y)
    net.save_params(f_params=tmp_path / "w.pt")
    again = NeuralNetClassifier(**kw).initialize()
    again.load_params(f_params=tmp_path / "w.pt")
    np.testing.assert_allclose(again.predict_proba(X), net.predict_proba(X))
    assert list(again.classes_) == ["a", "b"]
