# The profile, its families, validation, wildcard constraints and input functions. Every path
# comes from wheretolearn.paths.Layout and every family's knowledge (cells, cited results,
# datasets) from its plug-in in wheretolearn/experiments/, so no path or family is spelled here.
import hashlib
import json
import re
from pathlib import Path

from snakemake.utils import validate

from wheretolearn import params, validation_memo
from wheretolearn.data import registry
from wheretolearn.experiments import FAMILIES, family
from wheretolearn.files import check_writable, hold_lock
from wheretolearn.paths import Layout
from wheretolearn.runtimes import runtime_minutes

PATHS = Layout(Path("."))
# Composed parameters are validated once per content and code (validation imports torch for
# the rules' options); a bad value is refused every time. See wheretolearn/validation_memo.py.
validation_memo.enable(PATHS.validated())


# One running workflow per profile and tree: a kernel lock (released however the process ends,
# so a killed Snakemake leaves nothing to unlock), taken when jobs are about to run (not for a
# dry run). It replaces Snakemake's lock files, which the default profile turns off (nolock).
onstart:
    TREE_LOCK.append(
        hold_lock(
            Path(".snakemake") / "wheretolearn" / f"{config['profile']}.lock",
            f"this tree's {config['profile']!r} workflow",
        )
    )


TREE_LOCK = []
validate(config, "../schemas/config.schema.yaml")
PROFILE = config["profile"]
PROFILE_SPEC = params.profile(PROFILE)
validate(PROFILE_SPEC, "../schemas/profile.schema.yaml")
DATA = config["data_root"]
check_writable(DATA, "data root", "--config data_root=...")  # not in the first job
THREADS = PROFILE_SPEC["threads"]
# A cluster job's runtime request (the `runtime` resource, minutes) is measured: from the
# benchmarks of the same rule in this profile (wheretolearn/runtimes.py); before any job of a
# rule has run, these (a day for a training, two hours for an evaluation).
UNMEASURED_MINUTES = {"train": 1440, "evaluate": 120}
ALL = FAMILIES.names()
FAMILY_NAMES = [f for f in ALL if params.covers(PROFILE, f)]  # the families of the profile
for _name in ALL:  # each family's own schemas (src/wheretolearn/experiments/<family>/)
    _family = family(_name)
    for _what, _values in (
        ("tables", lambda: _family.declarations()),
        ("runs", lambda: params.family_file(_name, "runs")),
        ("profile", lambda: params.section(PROFILE, _name)),
    ):
        if _family.schema(_what) and (_what != "profile" or _name in FAMILY_NAMES):
            validate(_values(), str(_family.schema(_what)))
for _key in PROFILE_SPEC:
    if _key not in ("seeds", "threads") and _key not in ALL:
        raise ValueError(f"params/profiles/{PROFILE}.yaml: {_key!r} is no family; known: {ALL}")

# Compose (and so validate) every run of every table and figure of the profile before the DAG
# is built: a wrong key or value in params/ stops here, naming it.
def profile_targets(name):
    """A family's targets in the profile (none where the profile does not cover it)."""
    return family(name).profile_targets(PROFILE) if name in FAMILY_NAMES else []


COMPOSED = {
    (name, cell): family(name).compose(cell, PROFILE)
    for name in FAMILY_NAMES
    for target in profile_targets(name)
    for cell in family(name).cells(target)
}
TARGETS = {t: name for name in ALL for t in family(name).targets()}


wildcard_constraints:
    profile=re.escape(PROFILE),
    family="|".join(ALL),
    cell="|".join(re.escape(cell) for _, cell in COMPOSED) or "(?!)",
    seed=r"\d+",
    table="|".join(t for t, f in TARGETS.items() if family(f).kind(t) == "table"),
    figure="|".join(t for t, f in TARGETS.items() if family(f).kind(t) == "figure"),
    target=r"[a-z0-9\-]+",
    dataset=r"[a-z0-9\-]+",


def first_phase(w, name=None):
    """The run folder (or its file ``name``) of the run that a run of ``w.cell`` starts from."""
    cell = family(w.family).first_phase(w.cell, int(w.seed), PROFILE)
    if cell is None:
        return [] if name else None
    folder = PATHS.run_dir(PROFILE, w.family, cell, w.seed)
    return str(folder / name) if name else str(folder)


def prepared(dataset):
    """The marker of a prepared dataset (variants share their base dataset's folder)."""
    return f"{DATA}/{registry.get(dataset).base}/MANIFEST.json"


def digest(values):
    """A short sha256 of composed parameters: the compose rule's rerun trigger."""
    return hashlib.sha256(json.dumps(values, sort_keys=True).encode()).hexdigest()[:16]


def outputs(name):
    """A table's or figure's files."""
    owner = family(TARGETS[name])
    if owner.kind(name) == "table":
        page = PATHS.table_page(PROFILE, owner.name, name)  # its page in the report
        return [str(p) for p in [*PATHS.table_files(PROFILE, owner.name, name), page]]
    return [str(p) for p in PATHS.figure_files(PROFILE, owner.name, name)]


def cited(name):
    """Every result file a table or figure reads (refused, with the reason, when the profile
    does not cover its family)."""
    owner = family(TARGETS[name])
    params.section(PROFILE, owner.name)
    if name not in profile_targets(owner.name):
        raise ValueError(
            f"{name}: not a target of profile {PROFILE!r} (params/profiles/{PROFILE}.yaml: "
            f"{owner.name}.targets lists {profile_targets(owner.name)})"
        )
    return [str(p) for p in owner.cited(name, PROFILE)]


def target(name):
    """A table's or figure's files and every result file it cites: a target depends on what
    it cites, so a deleted evaluation or run folder is rebuilt by the same target (Snakemake
    would otherwise find the table up to date and rebuild nothing). A declaration's ``with``
    names targets it builds too (a table's curves)."""
    companions = family(TARGETS[name]).declarations()[name].get("with", [])
    return outputs(name) + cited(name) + [f for c in companions for f in target(c)]


def family_targets(name):
    """Every table and figure of a family, what they cite and its DVC metrics (none where the
    profile does not cover the family)."""
    if name not in FAMILY_NAMES:
        return []
    return [target(t) for t in profile_targets(name)] + [str(PATHS.metrics_file(PROFILE, name))]


def family_runs(name):
    return sorted({f for t in profile_targets(name) for f in cited(t)})


def all_datasets():
    """Every prepared dataset the profile's runs read (training and evaluation): of the cells
    its targets need (a profile's subset of a table's runs leaves the others' data out)."""
    names = set()
    for name in FAMILY_NAMES:
        for target in profile_targets(name):
            for cell in family(name).profile_cells(target, PROFILE):
                names.update(family(name).datasets(cell, PROFILE))
                names.update(COMPOSED[(name, cell)].get("eval", {}).get("targets", {}))
    return sorted({prepared(n) for n in names})


def target_dataset(wildcards):
    """The dataset a few-shot evaluation target (a paper dataset name) stands for."""
    return family("fewshot").dataset_for(wildcards.target, PROFILE)
