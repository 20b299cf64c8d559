# Params loading and validation, wildcard constraints, input functions. Everything about paths
# and run parameters comes from wheretolearn.pipeline (few-shot) and
# wheretolearn.continual_pipeline (continual), so no path is spelled out twice.
from pathlib import Path

from snakemake.utils import validate

from wheretolearn import continual_pipeline, pipeline, validation_memo
from wheretolearn.files import check_writable

# Composed parameters are validated once per content and code (validation imports torch for
# the rules' options); a bad value is refused every time. See wheretolearn/validation_memo.py.
validation_memo.enable(Path(".snakemake") / "wheretolearn" / "validated")


# One running workflow per profile and tree: a kernel lock (released however the process ends,
# so a killed Snakemake leaves nothing to unlock), taken when jobs are about to run (not for a
# dry run). It replaces Snakemake's lock files, which the default profile turns off (nolock).
onstart:
    from wheretolearn.files import hold_lock

    TREE_LOCK.append(
        hold_lock(
            Path(".snakemake") / "wheretolearn" / f"{config['profile']}.lock",
            f"this tree's {config['profile']!r} workflow",
        )
    )


TREE_LOCK = []
validate(config, "../schemas/config.schema.yaml")
PROFILE = config["profile"]
PROFILE_SPEC = pipeline.profile(PROFILE)
validate(PROFILE_SPEC, "../schemas/profile.schema.yaml")
TABLES = pipeline.tables()
validate(TABLES, "../schemas/tables.schema.yaml")
SEEDS = pipeline.seeds(PROFILE)
DATA = config["data_root"]
# a read-only data root stops here, not in the first job
check_writable(DATA, "data root", "--config data_root=...")
THREADS = PROFILE_SPEC["threads"]
LOOPS = pipeline.loops(PROFILE)  # the experiment families (fewshot, continual) of the profile
FEWSHOT_TABLES = [t for t in TABLES if t.startswith("table")]
FEWSHOT_FIGURES = [t for t in TABLES if t.startswith("figure")]

# Compose (and so validate) every run of every table before the DAG is built: a wrong key in
# params/ stops here, naming it.
if "fewshot" in LOOPS:
    for _table in TABLES:
        for _run, _shots, _ in pipeline.table_cells(_table, PROFILE):
            pipeline.compose(_run, _shots, PROFILE)


wildcard_constraints:
    profile=PROFILE,
    run=r"[a-z0-9][a-z0-9.\-]*",
    shots=r"1|5",
    seed=r"\d+",
    target=r"[a-z0-9\-]+",
    dataset=r"[a-z0-9\-]+",
    bench=r"[a-z0-9][a-z0-9\-]*",


def table_outputs(table):
    return [str(p) for p in pipeline.table_files(PROFILE, table)]


def figure_outputs(figure):
    return [str(p) for p in pipeline.figure_files(PROFILE, figure)]


def run_folder(wildcards):
    return str(pipeline.run_dir(PROFILE, wildcards.run, int(wildcards.shots), int(wildcards.seed)))


def fewshot_table_names():
    """The few-shot tables and figures of the profile (none where it covers no few-shot)."""
    return list(TABLES) if "fewshot" in LOOPS else []


def fewshot_outputs():
    """Every few-shot table and figure of the profile, what they cite, and their DVC
    metrics file."""
    if "fewshot" not in LOOPS:
        return []
    return [target(t) for t in FEWSHOT_TABLES + FEWSHOT_FIGURES] + [
        f"results/{PROFILE}/metrics.json"
    ]


def target(name):
    """A table's or figure's files and every result file it cites: a target depends on what
    it cites, so a deleted evaluation or run folder is rebuilt by the same target (Snakemake
    would otherwise find the table up to date and rebuild nothing)."""
    if name in CONTINUAL:
        files = table_outputs(name) if name in CONTINUAL_TABLES else figure_outputs(name)
        return files + continual_results(name)
    files = table_outputs(name) if name in FEWSHOT_TABLES else figure_outputs(name)
    return files + eval_inputs(name) + (metrics_inputs(name) if name in FEWSHOT_FIGURES else [])


def eval_inputs(table):
    pipeline.require_loop(PROFILE, "fewshot")  # a few-shot target of a continual-only profile
    return [
        str(pipeline.eval_file(PROFILE, run, shots, seed, target))
        for run, shots, target in pipeline.table_cells(table, PROFILE)
        for seed in SEEDS
    ]


def metrics_inputs(table):
    return [
        str(pipeline.run_dir(PROFILE, run, shots, seed) / "metrics.jsonl")
        for run, shots, _ in pipeline.table_cells(table, PROFILE)
        for seed in SEEDS
    ]


def prepared(dataset):
    """The marker of a prepared dataset (variants share their base dataset's folder)."""
    from wheretolearn.data import registry

    return f"{DATA}/{registry.get(dataset).base}/MANIFEST.json"


def all_datasets():
    """Every prepared dataset the profile's tables need (training and evaluation)."""
    names = set()
    if "continual" in LOOPS:
        names.update(continual_pipeline.datasets(PROFILE))
    for table in fewshot_table_names():
        for run, shots, target in pipeline.table_cells(table, PROFILE):
            names.add(pipeline.compose(run, shots, PROFILE)["data"]["dataset"])
            names.add(pipeline.dataset_for(target, PROFILE_SPEC))
    return sorted({prepared(name) for name in names})


def train_data(wildcards):
    params = pipeline.compose(wildcards.run, int(wildcards.shots), PROFILE)
    return prepared(params["data"]["dataset"])


def target_dataset(wildcards):
    return pipeline.dataset_for(wildcards.target, PROFILE_SPEC)


def eval_data(wildcards):
    return prepared(target_dataset(wildcards))


# ---- continual learning (params/continual.yaml, params/continual_tables.yaml) ------------
validate(continual_pipeline.spec(), "../schemas/continual.schema.yaml")
CONTINUAL = continual_pipeline.declarations()
validate(CONTINUAL, "../schemas/continual_tables.schema.yaml")
CONTINUAL_TABLES = continual_pipeline.names("table")
CONTINUAL_FIGURES = continual_pipeline.names("figure")

# Compose (and so validate) every continual run before the DAG is built.
if "continual" in LOOPS:
    for _name in CONTINUAL:
        for _run, _bench in continual_pipeline.cells(_name):
            continual_pipeline.compose(_run, _bench, PROFILE)

# Path patterns of the continual rules, from the one definition of each path.
CONTINUAL_PARAMS = str(continual_pipeline.params_file("{profile}", "{run}", "{bench}"))
CONTINUAL_RUN = continual_pipeline.run_dir("{profile}", "{run}", "{bench}", "{seed}")


def continual_results(name):
    """The result files a continual table or figure reads (refused if the profile has no
    continual section)."""
    continual_pipeline.profile_section(PROFILE)
    return [str(p) for p in continual_pipeline.result_files(name, PROFILE)]


def continual_params(name):
    return [
        str(continual_pipeline.params_file(PROFILE, run, bench))
        for run, bench in continual_pipeline.cells(name)
    ]


def continual_outputs():
    """Every continual table and figure of the profile (none where it covers no continual)."""
    if "continual" not in LOOPS:
        return []
    return [target(t) for t in CONTINUAL_TABLES + CONTINUAL_FIGURES] + [
        str(continual_pipeline.metrics_file(PROFILE))
    ]


def continual_all_results():
    if "continual" not in LOOPS:
        return []
    return sorted({p for name in CONTINUAL for p in continual_results(name)})


def continual_data(wildcards):
    stream = continual_pipeline.compose(wildcards.run, wildcards.bench, PROFILE)["stream"]
    pools = {stream["dataset"], stream.get("test_dataset") or stream["dataset"]}
    return sorted(prepared(name) for name in pools)


def continual_folder(wildcards):
    w = wildcards
    return str(continual_pipeline.run_dir(PROFILE, w.run, w.bench, int(w.seed)))


def digest(params):
    """A short sha256 of composed parameters: a compose rule's rerun trigger."""
    import hashlib
    import json

    return hashlib.sha256(json.dumps(params, sort_keys=True).encode()).hexdigest()[:16]


def composed_continual(wildcards):
    return digest(continual_pipeline.compose(wildcards.run, wildcards.bench, PROFILE))


def composed_fewshot(wildcards):
    return digest(pipeline.compose(wildcards.run, int(wildcards.shots), PROFILE))
