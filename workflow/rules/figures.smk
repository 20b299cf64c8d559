# Figures drawn with seaborn from results files alone.


rule figure:
    input:
        evals=lambda w: eval_inputs(w.figure),
        metrics=lambda w: metrics_inputs(w.figure),
        declaration="params/tables.yaml",
    output:
        png=report("figures/{profile}/{figure}.png", category="Figures"),
        pdf="figures/{profile}/{figure}.pdf",
    log:
        "results/{profile}/logs/figures/{figure}.log",
    wildcard_constraints:
        figure="|".join(FEWSHOT_FIGURES),
    conda:
        "../envs/wheretolearn.yaml"
    shell:
        "python -m wheretolearn figure {wildcards.figure} --profile {wildcards.profile} > {log} 2>&1"


rule figure1:
    input:
        target("figure1"),
