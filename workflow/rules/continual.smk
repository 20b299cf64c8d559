# Continual learning (La-MAML outer loop): compose params -> one training job per run x
# benchmark x seed -> tables and figures from the result files. Every path pattern is made by
# wheretolearn.continual_pipeline's path functions (see common.smk), so it is spelled out once.


# Re-composed when the composed parameters change (the `params` rerun trigger), not whenever
# params/continual.yaml or the profile file is edited elsewhere: an unrelated edit retrains nothing.
rule compose_continual:
    output:
        CONTINUAL_PARAMS,
    log:
        "results/{profile}/logs/params/continual/{bench}/{run}.log",
    params:
        composed=composed_continual,
    conda:
        "../envs/wheretolearn.yaml"
    shell:
        "python -m wheretolearn compose-continual --profile {wildcards.profile} "
        "--run {wildcards.run} --benchmark {wildcards.bench} --out {output} > {log} 2>&1"


# The run folder keeps last.pt and metrics.jsonl, which are not outputs, so a killed job
# resumes from them instead of Snakemake deleting them; result.json is written last.
rule train_continual:
    input:
        params=CONTINUAL_PARAMS,
        data=continual_data,
    output:
        result=str(CONTINUAL_RUN / "result.json"),
    log:
        "results/{profile}/logs/continual/{bench}/{run}-seed{seed}.log",
    benchmark:
        "results/{profile}/benchmarks/continual/{bench}/{run}-seed{seed}.tsv"
    params:
        root=DATA,
        folder=continual_folder,
    threads: THREADS
    resources:
        gpu=1,
    conda:
        "../envs/wheretolearn.yaml"
    shell:
        "OMP_NUM_THREADS={threads} python -m wheretolearn continual --params {input.params} "
        "--seed {wildcards.seed} --out {params.folder} --data-root {params.root} --replace-stale "
        "> {log} 2>&1"


rule continual_table:
    input:
        results=lambda w: continual_results(w.table),
        declaration="params/continual_tables.yaml",
        reported="params/reported/la_maml.yaml",
    output:
        csv="results/{profile}/{table}.csv",
        md=report("results/{profile}/{table}.md", category="Tables"),
        tex="results/{profile}/{table}.tex",
    log:
        "results/{profile}/logs/tables/{table}.log",
    wildcard_constraints:
        table="|".join(CONTINUAL_TABLES),
    conda:
        "../envs/wheretolearn.yaml"
    shell:
        "python -m wheretolearn table {wildcards.table} --profile {wildcards.profile} > {log} 2>&1"


rule continual_figure:
    input:
        results=lambda w: continual_results(w.figure),
        params=lambda w: continual_params(w.figure),
        declaration="params/continual_tables.yaml",
    output:
        png=report("figures/{profile}/{figure}.png", category="Figures"),
        pdf="figures/{profile}/{figure}.pdf",
    log:
        "results/{profile}/logs/figures/{figure}.log",
    wildcard_constraints:
        figure="|".join(CONTINUAL_FIGURES),
    conda:
        "../envs/wheretolearn.yaml"
    shell:
        "python -m wheretolearn figure {wildcards.figure} --profile {wildcards.profile} "
        "> {log} 2>&1"


rule table5:
    input:
        target("table5"),


rule tableS5:
    input:
        target("tableS5"),


rule tableS7:
    input:
        target("tableS7"),


rule figure3:
    input:
        target("figure3"),


rule figure4:
    input:
        target("figure4"),


rule figureS3:
    input:
        target("figureS3"),


rule figureS4:
    input:
        target("figureS4"),


rule metrics_continual:
    input:
        [table_outputs(t)[0] for t in CONTINUAL_TABLES],
    output:
        str(continual_pipeline.metrics_file("{profile}")),
    log:
        "results/{profile}/logs/tables/metrics-continual.log",
    conda:
        "../envs/wheretolearn.yaml"
    shell:
        "python -m wheretolearn metrics --profile {wildcards.profile} --loop continual "
        "--out {output} > {log} 2>&1"
