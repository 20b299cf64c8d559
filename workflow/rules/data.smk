# Dataset download (local mirror first, checksummed) and preparation into torchmeta's format.


rule prepare_dataset:
    output:
        f"{DATA}/{{dataset}}/MANIFEST.json",
    log:
        f"results/logs/data/{{dataset}}.log",
    params:
        root=lambda w, output: Path(output[0]).parent.parent,  # DATA, from the output
    conda:
        "../envs/wheretolearn.yaml"
    shell:
        "python -m wheretolearn data prepare {wildcards.dataset} --root {params.root} > {log} 2>&1"
