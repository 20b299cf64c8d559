"""A few-shot run's parameters, composed from params and a profile.

In order, from ``params/fewshot/runs.yaml``: ``base``, the ``shots`` entry, the run's entry
(a method, or a variant ``from`` a method) for all shots and for its shot, then the profile's
``fewshot`` section (``override``, then ``models[<backbone>]``, ``methods[<rule name>]`` and
``runs[<run>]``: the most specific budget comes last), which changes budget and data only, and
last, for a figure's scan point, the profile's ``scans`` budget and the run's ``scan`` entry:
the value the figure varies (inner-loop length, learning rate, width), set after the profile
so that no profile's budget flattens a scan.
Paper dataset names are mapped to the profile's datasets here, so tables keep the
paper's names while a profile may stand other data in for them. A cell is ``<run>/<shots>shot``.
"""

from __future__ import annotations

from typing import Any

from wheretolearn import params
from wheretolearn.data.config import MIXTURE
from wheretolearn.errors import ConfigError
from wheretolearn.experiments import CellForm
from wheretolearn.experiments.fewshot import config
from wheretolearn.validation_memo import check_once

FAMILY = "fewshot"
CELLS = CellForm(FAMILY, "{run}/{shots}shot", shots=int)


def cell(run: str, shots: int) -> str:
    return CELLS.format(run=run, shots=shots)


def shot_key(shots: int) -> str:
    """A run entry's key for one shots setting (``1shot``): a string, as the cell id spells
    it, so that no mapping mixes integer and string keys (DVC sorts a params file's keys)."""
    return f"{shots}shot"


def split(cell_id: str) -> tuple[str, int]:
    """``(run, shots)`` of a cell."""
    parts = CELLS.parse(cell_id)
    return parts["run"], parts["shots"]


def dataset_for(name: str, section: dict[str, Any]) -> str:
    """The dataset that a profile uses for a paper dataset name (each of a mixture's)."""
    stand_ins = section.get("datasets", {})
    return MIXTURE.join(stand_ins.get(part, part) for part in name.split(MIXTURE))


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
    for name in section.get("runs", {}):  # a budget for an unknown run: refused by name
        params.run_entry(FAMILY, name)
    for key in set(entry) - {"all", "scan", *map(shot_key, spec["shots"])}:
        known = [shot_key(s) for s in spec["shots"]]
        raise ConfigError(f"runs.{run}.{key}: not `all`, `scan` nor a shots entry ({known})")
    composed = params.deep_merge(spec["base"], spec["shots"][shots])
    for layer in (entry.get("all"), entry.get(shot_key(shots)), section.get("override")):
        composed = params.deep_merge(composed, layer)
    backbone, method = composed["model"]["name"], composed["method"]["name"]
    composed = params.deep_merge(composed, section.get("models", {}).get(backbone))
    composed = params.deep_merge(composed, section.get("methods", {}).get(method))
    composed = params.deep_merge(composed, section.get("runs", {}).get(run))
    if "scan" in entry:  # a figure's scan point: the profile's budget for scans, then its value
        composed = params.deep_merge(composed, section.get("scans"))
        composed = params.deep_merge(composed, entry["scan"])
    composed["data"]["dataset"] = dataset_for(composed["data"]["dataset"], section)
    targets = composed.get("eval", {}).get("targets", {})
    composed["eval"]["targets"] = {dataset_for(k, section): v for k, v in targets.items()}
    check_once(FAMILY, composed, config.parse)  # fail here, naming the key, before any job
    return composed


def phases(run: str, shots: int) -> list[str]:
    """``run`` and, first, the runs it starts from (``train.init_from``), in training order;
    an unknown or circular ``init_from`` is refused by name."""
    chain = [run]
    while True:
        entry = params.run_entry(FAMILY, chain[0])
        layers = [entry.get("all"), entry.get(shot_key(shots)), entry.get("scan")]
        first = params.merge_layers(layers).get("train", {}).get("init_from")
        if first is None:
            return chain
        if first in chain:
            raise ConfigError(f"runs.{chain[0]}: train.init_from {first!r} is circular")
        params.run_entry(FAMILY, first)  # an unknown run: refused naming the known ones
        chain.insert(0, first)


def declared_runs(decl: dict[str, Any]) -> list[str]:
    """A declaration's runs: its ``runs``, or its mixtures' (GEMS), in order."""
    if "runs" in decl:
        return list(decl["runs"])
    found = [run for _, run, _ in mixture_cells(decl)]
    return list(dict.fromkeys(found))


def method_runs(runs: str | dict[str, str]) -> list[str]:
    """A GEMS method's runs: one, or Multi-MAML's (a mapping dataset -> run)."""
    return [runs] if isinstance(runs, str) else list(runs.values())


def routed(runs: str | dict[str, str], target: str) -> list[str]:
    """The runs whose evaluation on ``target`` a method's cell reads: its run; Multi-MAML's
    model of ``target`` where it has one, else each of its models."""
    if isinstance(runs, dict) and target in runs:
        return [runs[target]]
    return method_runs(runs)


def mixture_cells(decl: dict[str, Any]) -> list[tuple[str, str, str]]:
    """``(method, run, test dataset)`` of every evaluation a GEMS declaration reads (each
    method on each ``tested_on`` dataset, :func:`routed`)."""
    return [
        (method, run, target)
        for mixture in decl["mixtures"].values()
        for method, runs in mixture["methods"].items()
        for target in mixture["tested_on"]
        for run in routed(runs, target)
    ]


def target_runs(target: str, decl: dict[str, Any], profile: str) -> list[str]:
    """The runs a table or figure uses in a profile: all it declares, or the subset the
    profile's ``target_runs`` names (a shorter scan at smoke scale), in declared order."""
    declared = declared_runs(decl)
    subset = params.section(profile, FAMILY).get("target_runs", {}).get(target)
    if subset is None:
        return declared
    unknown = sorted(set(subset) - set(declared))
    if unknown:
        raise ConfigError(
            f"params/profiles/{profile}.yaml: fewshot.target_runs.{target}: {unknown} are not "
            f"runs of {target}; its runs: {declared}"
        )
    return [run for run in declared if run in subset]


def table_cells(decl: dict[str, Any], runs: list[str] | None = None) -> list[tuple[str, int, str]]:
    """``(run, shots, target dataset)`` of every cell a table or figure needs from our runs
    (of ``runs`` only, where given)."""
    if "mixtures" in decl:
        pairs = [(run, target) for _, run, target in mixture_cells(decl)]
        cells = [(run, shots, target) for run, target in dict.fromkeys(pairs)
                 for shots in decl["settings"]]  # fmt: skip
        return [c for c in cells if runs is None or c[0] in runs]
    return [
        (run, shots, target)
        for run in (decl["runs"] if runs is None else runs)
        for shots in decl["settings"]
        for target in decl["datasets"]
    ]
