"""Train on synthetic tasks in a fresh process: ``python run_synthetic.py OUT SEED EPOCHS``."""

import sys
from pathlib import Path

import torch

from synthetic import SyntheticSource
from wheretolearn.experiments.fewshot.config import parse as parse_config
from wheretolearn.experiments.fewshot.run import train

PARAMS = {  # every key a paper sets is required: all of them, at tiny values
    "method": {"name": "sparse-maml", "alpha": 0.1, "init_shift": 0.0, "ste_scale": 1.0},
    "model": {"name": "conv4", "hidden": 16, "bias": True, "batchnorm": "transductive"},
    "data": {"dataset": "omniglot-small", "ways": 3, "shots": 2, "queries": 3},
    "train": {
        "epochs": 2,
        "batches_per_epoch": 10,
        "meta_batch_size": 2,
        "inner_steps": 5,
        "first_order": True,
        "outer_loss": "sum",
        "theta_optimizer": {"name": "adam", "lr": 0.001},
        "meta_optimizer": {"name": "adam", "lr": 0.001},
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
