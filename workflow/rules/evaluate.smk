# Few-shot only: one evaluation job per trained run and target dataset, with the target's
# K_test (Table S2). A run's summary.json is written after its best.pt: the run is finished.


rule evaluate:
    input:
        run=str(PATHS.run_dir("{profile}", "fewshot", "{cell}", "{seed}") / "summary.json"),
        data=lambda w: prepared(target_dataset(w)),
    output:
        str(PATHS.run_dir("{profile}", "fewshot", "{cell}", "{seed}") / "eval-{target}.json"),
    log:
        str(PATHS.logs("{profile}", "fewshot") / "evaluate" / "{cell}-seed{seed}-{target}.log"),
    benchmark:
        str(PATHS.benchmarks("{profile}", "fewshot") / "evaluate" / "{cell}-seed{seed}-{target}.tsv")
    params:
        root=DATA,
        folder=lambda w, input: Path(input.run).parent,
        dataset=target_dataset,
    threads: THREADS
    resources:
        gpu=1,
        runtime=lambda w, attempt: runtime_minutes(
            PATHS.benchmarks(w.profile, "fewshot") / "evaluate", f"{w.cell}-seed{w.seed}-{w.target}",
            UNMEASURED_MINUTES["evaluate"], attempt,
        ),
    conda:
        "../envs/wheretolearn.yaml"
    shell:
        "python -m wheretolearn evaluate --run {params.folder} --dataset {params.dataset} "
        "--out {output} --data-root {params.root} > {log} 2>&1"
