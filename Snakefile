# Regenerate the papers' tables and figures: `snakemake table4 --cores all [--config profile=smoke]`.
# Thin entry: the rules live in workflow/rules/, the parameters in params/, paths in
# wheretolearn.pipeline.
from snakemake.utils import min_version

min_version("9.0")


configfile: "workflow/config.yaml"


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/tables.smk"
include: "workflow/rules/figures.smk"


rule datasets:
    input:
        all_datasets(),


rule runs:
    input:
        [eval_inputs(t) + metrics_inputs(t) for t in TABLES],


rule tables:
    input:
        [table_outputs(t) for t in ("table1", "table3", "table4")],
        figure_outputs("figure1"),
        f"results/{PROFILE}/metrics.json",


rule all:
    default_target: True
    input:
        rules.tables.input,
