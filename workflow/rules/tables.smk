# Tables and figures from result files alone (mean and std over seeds, the paper's value
# beside ours), and each family's DVC metrics: one rule each, over the family.


rule table:
    input:
        results=lambda w: cited(w.table),
        declaration=lambda w: str(PATHS.family_params(w.family, "tables")),
        reported=lambda w: str(PATHS.family_params(w.family, "reported")),
    output:
        csv=str(PATHS.table_files("{profile}", "{family}", "{table}")[0]),
        md=str(PATHS.table_files("{profile}", "{family}", "{table}")[1]),
        tex=str(PATHS.table_files("{profile}", "{family}", "{table}")[2]),
    log:
        str(PATHS.logs("{profile}", "{family}") / "tables" / "{table}.log"),
    conda:
        "../envs/wheretolearn.yaml"
    shell:
        "python -m wheretolearn table {wildcards.table} --profile {wildcards.profile} > {log} 2>&1"


# A table's page in the report (`snakemake tables --report report.html`): its title, cells and
# fidelity summary as HTML, made from the table's CSV and Markdown; the caption shows it inline.
rule table_page:
    input:
        csv=str(PATHS.table_files("{profile}", "{family}", "{table}")[0]),
        md=str(PATHS.table_files("{profile}", "{family}", "{table}")[1]),
    output:
        report(
            str(PATHS.table_page("{profile}", "{family}", "{table}")),
            caption="../report/table.rst",
            category="Tables",
            subcategory="{family}",
            labels={"table": "{table}", "family": "{family}", "profile": "{profile}"},
        ),
    log:
        str(PATHS.logs("{profile}", "{family}") / "tables" / "{table}.page.log"),
    conda:
        "../envs/wheretolearn.yaml"
    shell:
        "python -m wheretolearn table-page --csv {input.csv} --md {input.md} "
        "--profile {wildcards.profile} --out {output} > {log} 2>&1"


rule figure:
    input:
        results=lambda w: cited(w.figure),
        declaration=lambda w: str(PATHS.family_params(w.family, "tables")),
    output:
        png=report(
            str(PATHS.figure_files("{profile}", "{family}", "{figure}")[0]),
            caption="../report/figure.rst",
            category="Figures",
            subcategory="{family}",
            labels={"figure": "{figure}", "family": "{family}", "profile": "{profile}"},
        ),
        pdf=str(PATHS.figure_files("{profile}", "{family}", "{figure}")[1]),
    log:
        str(PATHS.logs("{profile}", "{family}") / "figures" / "{figure}.log"),
    conda:
        "../envs/wheretolearn.yaml"
    shell:
        "python -m wheretolearn figure {wildcards.figure} --profile {wildcards.profile} > {log} 2>&1"


rule metrics:
    input:
        lambda w: [outputs(t)[0] for t in family(w.family).metric_tables(PROFILE)],
    output:
        str(PATHS.metrics_file("{profile}", "{family}")),
    log:
        str(PATHS.logs("{profile}", "{family}") / "tables" / "metrics.log"),
    conda:
        "../envs/wheretolearn.yaml"
    shell:
        "python -m wheretolearn metrics --family {wildcards.family} --profile {wildcards.profile} "
        "--out {output} > {log} 2>&1"
