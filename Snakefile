# Regenerate the papers' tables and figures: `snakemake table4 --cores all [--config
# profile=smoke]`. Thin entry: the rules live in workflow/rules/ (one rule per stage, over the
# experiment families of wheretolearn/experiments/), the parameters in params/, every path in
# wheretolearn.paths. One target rule per declared table and figure is made below.
from snakemake.utils import min_version

min_version("9.0")


configfile: "workflow/config.yaml"


# `snakemake tables --report report.html`: this landing text (the profile, how to read our
# numbers against the paper's, every table inline), then each table and figure with a caption.
report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/tables.smk"


# `snakemake table4`, `snakemake figure3`, ...: every declared table and figure, with what it
# cites (a deleted result is rebuilt by its table's target).
for _name in TARGETS:

    rule:
        name:
            _name
        input:
            lambda wildcards, name=_name: target(name),


# Per family: `<family>_runs` (every result its tables cite) and `<family>_tables` (its tables,
# figures and DVC metrics); `runs`, `tables` and `all` take every family of the profile.
for _name in ALL:

    rule:
        name:
            f"{_name}_runs"
        input:
            family_runs(_name),

    rule:
        name:
            f"{_name}_tables"
        input:
            family_targets(_name),


rule datasets:
    input:
        all_datasets(),


rule runs:
    input:
        [family_runs(name) for name in FAMILY_NAMES],


rule tables:
    input:
        [family_targets(name) for name in FAMILY_NAMES],


rule all:
    default_target: True
    input:
        rules.tables.input,
