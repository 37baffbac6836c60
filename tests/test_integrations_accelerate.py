"""AccelerateMixin (sktorch.hf): accumulation, mixed precision and two data-parallel processes.

Everything runs on the CPU. The two-process test launches
``tests/scripts/accelerate_fit.py`` with ``torch.distributed.run`` (what
``accelerate launch --multi_gpu`` runs; gloo on the CPU) and compares it with a
one-process run of the same script at the same global batch size.
"""

import importlib.util
import io
import os
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from sklearn.base import clone

from sktorch import NeuralNetRegressor
from sktorch.hf import AccelerateMixin
from tests._without_package import stdout_without

needs_accelerate = pytest.mark.skipif(importlib.util.find_spec("accelerate") is None,
                                      reason="accelerate is not installed")
SCRIPT = Path(__file__).parent / "scripts" / "accelerate_fit.py"


def test_missing_accelerate_names_the_extra():
    code = (
        "from sktorch import NeuralNetRegressor\n"
        "from sktorch.hf import AccelerateMixin\n"
        "class Net(AccelerateMixin, NeuralNetRegressor):\n"
        "    pass\n"
        "try:\n"
        "    Net(accelerator=None).initialize()\n"
        "except ImportError as e:\n"
        "    print(e)\n"
    )
    out = stdout_without("accelerate", code)
    assert "Net needs the accelerate package" in out
    assert "pip install sktorch[hf]" in out


@pytest.fixture
def fresh_accelerate_state():
    """accelerate keeps one process-wide state; each test builds its own Accelerator."""
    from accelerate.state import AcceleratorState, GradientState

    AcceleratorState._reset_state(True)
    GradientState._reset_state()
    yield
    AcceleratorState._reset_state(True)
    GradientState._reset_state()


class AcceleratedRegressor(AccelerateMixin, NeuralNetRegressor):
    pass


def _data(n=64):
    rng = np.random.RandomState(0)
    X = rng.randn(n, 4).astype("float32")
    return X, (X @ np.array([1.0, -2.0, 0.5, 3.0], dtype="float32"))


def _params(**kwargs):
    params = dict(module=torch.nn.Linear, optimizer=torch.optim.SGD, lr=0.05, max_epochs=3,
                  train_split=None, iterator_train__shuffle=False, verbose=0, random_state=0,
                  device=None)
    params.update(kwargs)
    if params["module"] is torch.nn.Linear:
        params.update(module__in_features=4, module__out_features=1)
    return params


def _linear_in_sequential():
    return torch.nn.Sequential(torch.nn.Linear(4, 1))


def _weights(net):
    return torch.cat([p.detach().reshape(-1) for p in net.module_.parameters()])


@pytest.mark.integrations
@needs_accelerate
def test_gradient_accumulation_equals_a_larger_batch(fresh_accelerate_state):
    from accelerate import Accelerator

    X, y = _data()
    accelerator = Accelerator(cpu=True, gradient_accumulation_steps=2)
    accumulated = AcceleratedRegressor(accelerator=accelerator, **_params(batch_size=16))
    accumulated.fit(X, y)
    # The same rows in one batch of 32 (no shuffling): the same mean gradient per step.
    large = NeuralNetRegressor(**_params(batch_size=32)).fit(X, y)
    small = NeuralNetRegressor(**_params(batch_size=16)).fit(X, y)
    torch.testing.assert_close(_weights(accumulated), _weights(large), rtol=1e-5, atol=1e-6)
    assert not torch.allclose(_weights(accumulated), _weights(small), atol=1e-3)
    # The history records the loss of each batch as it is, not divided for accumulation.
    first = accumulated.history[0, "batches", 0, "train_loss"]
    assert first == pytest.approx(small.history[0, "batches", 0, "train_loss"], rel=1e-5)


@pytest.mark.integrations
@needs_accelerate
@pytest.mark.parametrize("mixed_precision, dtype", [("no", torch.float32),
                                                    ("bf16", torch.bfloat16)])
def test_mixed_precision_runs_the_forward_pass_in_its_dtype(
        fresh_accelerate_state, mixed_precision, dtype):
    from accelerate import Accelerator

    X, y = _data(128)
    seen = []
    net = AcceleratedRegressor(
        accelerator=Accelerator(cpu=True, mixed_precision=mixed_precision),
        **_params(module=_linear_in_sequential, batch_size=32, max_epochs=30, lr=0.1))
    net.initialize()
    # The wrapper converts the module's output to float32; the layer inside sees autocast.
    net.module_[0].register_forward_hook(lambda module, args, out: seen.append(out.dtype))
    net.partial_fit(X, y)
    assert set(seen) == {dtype}
    # It learns in either precision (the float32 weights are updated; the loss is float32).
    losses = net.history[:, "train_loss"]
    assert losses[-1] < 0.05 * losses[0]
    assert np.abs(net.predict(X) - y).mean() < 0.2


@pytest.mark.integrations
@needs_accelerate
def test_accelerated_net_prints_pickles_clones_and_saves(fresh_accelerate_state, tmp_path,
                                                         capsys):
    from accelerate import Accelerator

    X, y = _data()
    accelerator = Accelerator(cpu=True)
    net = AcceleratedRegressor(accelerator=accelerator,
                                         **_params(batch_size=16, verbose=1)).fit(X, y)
    sinks = [cb.sink for name, cb in net.callbacks_ if name == "print_log"]
    assert sinks == [accelerator.print]
    assert "train_loss" in capsys.readouterr().out
    expected = net.predict(X)
    # Pickled without the accelerator: the copy predicts like the net.
    restored = pickle.loads(pickle.dumps(net))
    assert restored.accelerator is None
    np.testing.assert_allclose(restored.predict(X), expected, rtol=1e-6)
    with pytest.raises(ValueError, match=r"net.accelerator = Accelerator\(\)"):
        restored.fit(X, y)
    # A clone (e.g. in a grid search) shares the process's accelerator.
    assert clone(net).accelerator is accelerator
    # Parameters saved from the accelerated net load into a plain one.
    net.save_params(f_params=tmp_path / "params.pt")
    plain = NeuralNetRegressor(**_params()).initialize()
    plain.load_params(f_params=tmp_path / "params.pt")
    np.testing.assert_allclose(plain.predict(X), expected, rtol=1e-6)


@pytest.mark.integrations
@needs_accelerate
def test_lbfgs_is_refused_with_what_to_use_instead(fresh_accelerate_state):
    from accelerate import Accelerator

    net = AcceleratedRegressor(accelerator=Accelerator(cpu=True),
                                         **_params(optimizer=torch.optim.LBFGS))
    with pytest.raises(ValueError, match="optimizer=torch.optim.Adam"):
        net.initialize()


def _run_script(out, batch_size, n_processes):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    command = [sys.executable, str(SCRIPT), str(out), str(batch_size)]
    if n_processes > 1:  # as `accelerate launch --multi_gpu` runs it, with gloo on the CPU
        command[1:1] = ["-m", "torch.distributed.run", "--standalone",
                        f"--nproc_per_node={n_processes}"]
    result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


@pytest.mark.integrations
@needs_accelerate
def test_two_processes_train_one_model_as_one_process_with_their_global_batch(tmp_path):
    two, one = tmp_path / "two", tmp_path / "one"
    two.mkdir()
    one.mkdir()
    out_two = _run_script(two, batch_size=16, n_processes=2)
    _run_script(one, batch_size=32, n_processes=1)
    assert "rank 0 of 2 done" in out_two and "rank 1 of 2 done" in out_two
    # Only the main process prints the epoch table.
    assert out_two.count("train_loss") == 1
    rank0, rank1 = (torch.load(two / f"weights-{r}.pt") for r in (0, 1))
    single = torch.load(one / "weights-0.pt")
    for key in single:
        torch.testing.assert_close(rank0[key], rank1[key], rtol=0, atol=0)
        torch.testing.assert_close(rank0[key], single[key], rtol=1e-4, atol=1e-5)
    # Each process predicts every row, in order (gathered from both processes).
    proba0, proba1 = np.load(two / "proba-0.npy"), np.load(two / "proba-1.npy")
    assert proba0.shape == (320, 2)
    np.testing.assert_array_equal(proba0, proba1)
    np.testing.assert_allclose(proba0, np.load(one / "proba-0.npy"), atol=1e-5)
    from sklearn.datasets import make_classification

    X, y = make_classification(320, 6, n_informative=4, class_sep=2.0, random_state=0)
    assert (proba0.argmax(1) == y).mean() > 0.95
    # Validation scores cover every validation row: the same in both processes and alone.
    valid_acc = np.load(two / "valid_acc-0.npy")
    np.testing.assert_array_equal(valid_acc, np.load(two / "valid_acc-1.npy"))
    np.testing.assert_allclose(valid_acc, np.load(one / "valid_acc-0.npy"))
    assert valid_acc[-1] > 0.9
    # The main process's pickle and saved parameters hold the plain trained module.
    np.testing.assert_allclose(np.load(two / "proba-pickled.npy"), proba0, atol=1e-6)
    saved = torch.load(io.BytesIO((two / "params.pt").read_bytes()))
    assert sorted(saved) == sorted(single)  # no DDP "module." prefix
