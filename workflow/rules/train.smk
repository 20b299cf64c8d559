# One composed params file per run (cell) of a family, one training job per cell and seed.


# Re-composed when the composed parameters change (the `params` rerun trigger), not whenever a
# params file is edited elsewhere: an unrelated edit retrains nothing. A process of its own
# (~1 s): a `run:` block here would run in a Snakemake subprocess that parses the whole
# workflow again (~2.5 s per cell, measured).
rule compose:
    output:
        str(PATHS.composed("{profile}", "{family}", "{cell}")),
    log:
        str(PATHS.logs("{profile}", "{family}") / "params" / "{cell}.log"),
    params:
        composed=lambda w: digest(COMPOSED[(w.family, w.cell)]),
    conda:
        "../envs/wheretolearn.yaml"
    shell:
        "python -m wheretolearn compose --family {wildcards.family} --cell {wildcards.cell} "
        "--profile {wildcards.profile} --out {output} > {log} 2>&1"


# The run folder keeps last.pt, which is not an output: a killed job resumes from it instead of
# Snakemake deleting it, and a finished run re-creates deleted outputs from it.
rule train:
    input:
        params=rules.compose.output,
        data=lambda w: [prepared(d) for d in family(w.family).datasets(w.cell, PROFILE)],
        first=lambda w: first_phase(w, "summary.json"),
    output:
        summary=str(PATHS.run_dir("{profile}", "{family}", "{cell}", "{seed}") / "summary.json"),
        metrics=str(PATHS.run_dir("{profile}", "{family}", "{cell}", "{seed}") / "metrics.jsonl"),
    log:
        str(PATHS.logs("{profile}", "{family}") / "train" / "{cell}-seed{seed}.log"),
    benchmark:
        str(PATHS.benchmarks("{profile}", "{family}") / "train" / "{cell}-seed{seed}.tsv")
    params:
        root=DATA,
        folder=lambda w, output: Path(output.summary).parent,
        first=lambda w: f"--init-from {first_phase(w)}" if first_phase(w) else "",
    threads: THREADS
    resources:
        gpu=1,
        runtime=lambda w, attempt: runtime_minutes(
            PATHS.benchmarks(w.profile, w.family) / "train", f"{w.cell}-seed{w.seed}",
            UNMEASURED_MINUTES["train"], attempt,
        ),
    conda:
        "../envs/wheretolearn.yaml"
    shell:
        "python -m wheretolearn train --family {wildcards.family} --params {input.params} "
        "--seed {wildcards.seed} --out {params.folder} --data-root {params.root} --replace-stale "
        "{params.first} > {log} 2>&1"
