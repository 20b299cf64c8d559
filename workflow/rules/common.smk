# Params loading and validation, wildcard constraints, input functions. Everything about paths
# and run parameters comes from wheretolearn.pipeline, so no path is spelled out twice.
from pathlib import Path

from snakemake.utils import validate

from wheretolearn import pipeline

validate(config, "../schemas/config.schema.yaml")
PROFILE = config["profile"]
PROFILE_SPEC = pipeline.profile(PROFILE)
validate(PROFILE_SPEC, "../schemas/profile.schema.yaml")
TABLES = pipeline.tables()
validate(TABLES, "../schemas/tables.schema.yaml")
SEEDS = pipeline.seeds(PROFILE)
DATA = config["data_root"]
THREADS = PROFILE_SPEC["threads"]

# Compose (and so validate) every run of every table before the DAG is built: a wrong key in
# params/ stops here, naming it.
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


def table_outputs(table):
    return [str(p) for p in pipeline.table_files(PROFILE, table)]


def figure_outputs(figure):
    return [str(p) for p in pipeline.figure_files(PROFILE, figure)]


def run_folder(wildcards):
    return str(pipeline.run_dir(PROFILE, wildcards.run, int(wildcards.shots), int(wildcards.seed)))


def eval_inputs(table):
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
    for table in TABLES:
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
