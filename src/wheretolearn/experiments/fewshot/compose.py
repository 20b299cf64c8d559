"""A few-shot run's parameters, composed from params and a profile.

In order, from ``params/fewshot/runs.yaml``: ``base``, the ``shots`` entry, the run's entry
(a method, or a variant ``from`` a method) for all shots and for its shot, then the profile's
``fewshot`` section (``override``, then ``methods[<rule name>]``), which changes budget and
data only. Paper dataset names are mapped to the profile's datasets here, so tables keep the
paper's names while a profile may stand other data in for them. A cell is ``<run>/<shots>shot``.
"""

from __future__ import annotations

from typing import Any

from wheretolearn import params
from wheretolearn.errors import ConfigError
from wheretolearn.experiments import CellForm
from wheretolearn.experiments.fewshot import config
from wheretolearn.validation_memo import check_once

FAMILY = "fewshot"
CELLS = CellForm(FAMILY, "{run}/{shots}shot", shots=int)


def cell(run: str, shots: int) -> str:
    return CELLS.format(run=run, shots=shots)


def split(cell_id: str) -> tuple[str, int]:
    """``(run, shots)`` of a cell."""
    parts = CELLS.parse(cell_id)
    return parts["run"], parts["shots"]


def dataset_for(name: str, section: dict[str, Any]) -> str:
    """The dataset that a profile uses for a paper dataset name."""
    return section.get("datasets", {}).get(name, name)


def compose(cell_id: str, profile: str) -> dict[str, Any]:
    """The validated parameter mapping of one run of a profile."""
    run, shots = split(cell_id)
    section = params.section(profile, FAMILY)
    spec = params.family_file(FAMILY, "runs")
    if shots not in spec["shots"]:
        raise ConfigError(
            f"no shots entry {shots} in fewshot/runs.yaml; known: {list(spec['shots'])}"
        )
    entry = params.run_entry(FAMILY, run)
    composed = params.deep_merge(spec["base"], spec["shots"][shots])
    for layer in (entry.get("all"), entry.get(shots), section.get("override")):
        composed = params.deep_merge(composed, layer)
    method = composed["method"]["name"]
    composed = params.deep_merge(composed, section.get("methods", {}).get(method))
    composed["data"]["dataset"] = dataset_for(composed["data"]["dataset"], section)
    targets = composed.get("eval", {}).get("targets", {})
    composed["eval"]["targets"] = {dataset_for(k, section): v for k, v in targets.items()}
    check_once(FAMILY, composed, config.parse)  # fail here, naming the key, before any job
    return composed


def table_cells(decl: dict[str, Any]) -> list[tuple[str, int, str]]:
    """``(run, shots, target dataset)`` of every cell a table or figure needs from our runs."""
    return [
        (run, shots, target)
        for run in decl["runs"]
        for shots in decl["settings"]
        for target in decl["datasets"]
    ]
