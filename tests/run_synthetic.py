"""Train on synthetic tasks in a fresh process: ``python run_synthetic.py OUT SEED EPOCHS``."""

import sys
from pathlib import Path

import torch

from synthetic import SyntheticSource
from wheretolearn.config import parse_config
from wheretolearn.train import train

PARAMS = {
    "method": {"name": "sparse-maml", "alpha": 0.1},
    "model": {"hidden": 16},
    "data": {"ways": 3, "shots": 2, "queries": 3},
    "train": {
        "batches_per_epoch": 10,
        "meta_batch_size": 2,
        "inner_steps": 5,
        "validate_every": 2,
        "val_tasks": 3,
    },
    "eval": {"inner_steps": 5, "tasks": 3},
}

if __name__ == "__main__":
    torch.set_num_threads(1)
    out, seed, epochs = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
    params = {**PARAMS, "train": {**PARAMS["train"], "epochs": epochs}}
    train(parse_config(params), out, seed=seed, source=SyntheticSource(image_size=32))
