# Regenerate the papers' tables and figures: `snakemake table4 --cores all [--config profile=smoke]`
# (few-shot) or `snakemake table5 ...` (continual).
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
include: "workflow/rules/continual.smk"


rule datasets:
    input:
        all_datasets(),


# Per family of the profile's loops (few-shot, continual): the runs, then the tables and
# figures with their DVC metrics; `runs`, `tables` and `all` take every family the profile has.
rule fewshot_runs:
    input:
        [eval_inputs(t) + metrics_inputs(t) for t in fewshot_table_names()],


rule continual_runs:
    input:
        continual_all_results(),


rule runs:
    input:
        rules.fewshot_runs.input,
        rules.continual_runs.input,


rule fewshot_tables:
    input:
        fewshot_outputs(),


rule continual_tables:
    input:
        continual_outputs(),


rule tables:
    input:
        rules.fewshot_tables.input,
        rules.continual_tables.input,


rule all:
    default_target: True
    input:
        rules.tables.input,
