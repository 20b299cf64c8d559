# One training job per run x shot x seed. The run folder keeps last.pt (not an output, so a
# killed job resumes from it instead of Snakemake deleting it).


# Re-composed when the composed parameters change (the `params` rerun trigger), not whenever
# params/fewshot.yaml or the profile file is edited elsewhere: an unrelated edit retrains nothing.
rule compose_params:
    output:
        "results/{profile}/params/{run}-{shots}shot.yaml",
    log:
        "results/{profile}/logs/params/{run}-{shots}shot.log",
    params:
        composed=composed_fewshot,
    conda:
        "../envs/wheretolearn.yaml"
    shell:
        "python -m wheretolearn compose --profile {wildcards.profile} --run {wildcards.run} "
        "--shots {wildcards.shots} --out {output} > {log} 2>&1"


rule train:
    input:
        params=rules.compose_params.output,
        data=train_data,
    output:
        best="results/{profile}/runs/{run}/{shots}shot/seed{seed}/best.pt",
        summary="results/{profile}/runs/{run}/{shots}shot/seed{seed}/summary.json",
        metrics="results/{profile}/runs/{run}/{shots}shot/seed{seed}/metrics.jsonl",
    log:
        "results/{profile}/logs/train/{run}-{shots}shot-seed{seed}.log",
    benchmark:
        "results/{profile}/benchmarks/train/{run}-{shots}shot-seed{seed}.tsv"
    params:
        root=DATA,
        folder=run_folder,
    threads: THREADS
    resources:
        gpu=1,
    conda:
        "../envs/wheretolearn.yaml"
    shell:
        "OMP_NUM_THREADS={threads} python -m wheretolearn train --params {input.params} --seed {wildcards.seed} "
        "--out {params.folder} --data-root {params.root} --replace-stale > {log} 2>&1"
