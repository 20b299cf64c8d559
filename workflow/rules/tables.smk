# Aggregation: mean and std over seeds, the paper's value beside ours; CSV, Markdown, LaTeX.
from wheretolearn.tables import metric_tables



rule table:
    input:
        evals=lambda w: eval_inputs(w.table),
        declaration="params/tables.yaml",
        reported="params/reported/sparse_maml.yaml",
    output:
        csv="results/{profile}/{table}.csv",
        md=report("results/{profile}/{table}.md", category="Tables"),
        tex="results/{profile}/{table}.tex",
    log:
        "results/{profile}/logs/tables/{table}.log",
    wildcard_constraints:
        table="|".join(FEWSHOT_TABLES),
    conda:
        "../envs/wheretolearn.yaml"
    shell:
        "python -m wheretolearn table {wildcards.table} --profile {wildcards.profile} > {log} 2>&1"


rule table1:
    input:
        target("table1"),


rule table3:
    input:
        target("table3"),


rule table4:
    input:
        target("table4"),


rule metrics:
    input:
        [table_outputs(t)[0] for t in metric_tables("fewshot")],
    output:
        "results/{profile}/metrics.json",
    log:
        "results/{profile}/logs/tables/metrics.log",
    conda:
        "../envs/wheretolearn.yaml"
    shell:
        "python -m wheretolearn metrics --profile {wildcards.profile} --out {output} > {log} 2>&1"
