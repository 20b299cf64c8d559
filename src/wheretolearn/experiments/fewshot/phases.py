"""Two-phase learning (Table S4): a run that starts from another run's meta-learned theta.

``train.init_from`` names the first phase's run (same family, shots and seed); the Snakemake
rule passes its run folder as ``--init-from``. The second phase loads that run's best
checkpoint's model, after checking that the checkpoint is the folder's own (its identity) and
that the folder trained the same model on the same task shape with the same seed; with
``train.freeze_theta`` it then learns only the update rule's meta-parameters (the mask).
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import yaml

from wheretolearn.errors import UserError
from wheretolearn.experiments.fewshot.config import RunConfig
from wheretolearn.run_folder import identity, load_bound, load_into

SAME = ("model", "data.ways", "data.shots", "seed")  # what the first phase must share


def _get(params: dict[str, Any], dotted: str) -> Any:
    node: Any = params
    for key in dotted.split("."):
        node = node.get(key) if isinstance(node, dict) else None
    return node


def first_phase(config: RunConfig, seed: int, folder: Path | None) -> Path | None:
    """The first phase's run folder, checked; None for a run that starts from scratch."""
    wanted = config.train.init_from
    if wanted is None:
        if folder is not None:
            raise UserError("--init-from given, but the params set no train.init_from")
        return None
    if folder is None:
        raise UserError(
            f"train.init_from: {wanted} needs --init-from <the run folder of {wanted!r} with "
            "the same shots and seed> (the Snakemake rule passes it)"
        )
    params_file, best = folder / "params.yaml", folder / "best.pt"
    if not best.is_file() or not params_file.is_file():
        raise UserError(f"--init-from {folder}: no finished run there (params.yaml, best.pt)")
    theirs = yaml.safe_load(params_file.read_text()) or {}
    ours = {"seed": seed, **config.to_dict()}
    for key in SAME:
        if _get(theirs, key) != _get(ours, key):
            raise UserError(
                f"--init-from {folder}: its {key} is {_get(theirs, key)!r}, this run's is "
                f"{_get(ours, key)!r}; a second phase starts from the same model, task shape "
                "and seed"
            )
    return folder


def load_theta(model, folder: Path) -> dict[str, Any]:
    """Load the first phase's best model into ``model``; its provenance (folder, digest)."""
    best = folder / "best.pt"
    theirs = yaml.safe_load((folder / "params.yaml").read_text()) or {}
    state = load_bound(best, identity(theirs))
    load_into(model, state["model"], best, "model")
    digest = hashlib.sha256(best.read_bytes()).hexdigest()
    return {"folder": str(folder), "best_epoch": state["epoch"], "sha256": digest}
