"""Train an accelerated classifier; run by tests/test_integrations_accelerate.py.

Run it plainly for one process, or with ``accelerate launch --cpu --num_processes 2``
for two data-parallel ones. Usage: ``accelerate_fit.py OUT_DIR BATCH_SIZE``. Each
process writes its weights and predictions to OUT_DIR; the main process also
saves the parameters and the predictions of a pickled copy of the net.
"""

import pickle
import sys
from pathlib import Path

import numpy as np
import torch
from accelerate import Accelerator
from sklearn.datasets import make_classification

from sktorch import NeuralNetClassifier
from sktorch.dataset import ValidSplit
from sktorch.hf import AccelerateMixin


class AcceleratedClassifier(AccelerateMixin, NeuralNetClassifier):
    pass


def main(out: Path, batch_size: int) -> None:
    torch.set_num_threads(1)
    torch.manual_seed(0)  # the same initial weights in every run (rank 0 is broadcast)
    X, y = make_classification(320, 6, n_informative=4, class_sep=2.0, random_state=0)
    accelerator = Accelerator(cpu=True)
    net = AcceleratedClassifier(
        torch.nn.Sequential(torch.nn.Linear(6, 16), torch.nn.ReLU(), torch.nn.Linear(16, 2)),
        criterion=torch.nn.CrossEntropyLoss, accelerator=accelerator, device=None,
        optimizer=torch.optim.SGD, lr=0.2, batch_size=batch_size, max_epochs=8,
        train_split=ValidSplit(5), random_state=0, verbose=1)  # 256 rows to train on
    net.fit(X.astype("float32"), y)
    rank = accelerator.process_index
    state = {k: v.detach().clone() for k, v in net.module_.state_dict().items()}
    torch.save(state, out / f"weights-{rank}.pt")
    np.save(out / f"proba-{rank}.npy", net.predict_proba(X.astype("float32")))
    np.save(out / f"valid_acc-{rank}.npy", np.asarray(net.history[:, "valid_acc"]))
    net.save_params(f_params=out / "params.pt")
    if accelerator.is_main_process:
        restored = pickle.loads(pickle.dumps(net))  # its class lives in __main__ here
        np.save(out / "proba-pickled.npy", restored.predict_proba(X.astype("float32")))
    print(f"rank {rank} of {accelerator.num_processes} done")


if __name__ == "__main__":
    main(Path(sys.argv[1]), int(sys.argv[2]))
