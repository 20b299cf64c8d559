# One evaluation job per checkpoint x target dataset, with the target's K_test (Table S2).


rule evaluate:
    input:
        best="results/{profile}/runs/{run}/{shots}shot/seed{seed}/best.pt",
        data=eval_data,
    output:
        "results/{profile}/runs/{run}/{shots}shot/seed{seed}/eval-{target}.json",
    log:
        "results/{profile}/logs/evaluate/{run}-{shots}shot-seed{seed}-{target}.log",
    benchmark:
        "results/{profile}/benchmarks/evaluate/{run}-{shots}shot-seed{seed}-{target}.tsv"
    params:
        root=DATA,
        folder=run_folder,
        dataset=target_dataset,
    threads: THREADS
    resources:
        gpu=1,
    conda:
        "../envs/wheretolearn.yaml"
    shell:
        "OMP_NUM_THREADS={threads} python -m wheretolearn evaluate --run {params.folder} "
        "--dataset {params.dataset} --out {output} --data-root {params.root} > {log} 2>&1"
