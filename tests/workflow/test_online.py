"""Online targets without training: tables and Figure S5 from hand-written result files, the
paper's rows beside ours (reported-only baselines marked), the DVC metrics, and the DAG."""

from __future__ import annotations

import csv
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from wheretolearn import stages
from wheretolearn.errors import UserError
from wheretolearn.experiments import family
from wheretolearn.experiments.online.cells import result_file
from wheretolearn.experiments.online.compose import table_cells
from wheretolearn.figures import FIGURES

ROOT = Path(__file__).resolve().parents[2]
ONLINE = family("online")
TENSORS = {  # a conv4-4's adapted tensors and their sizes
    **{f"features.layer{i}.conv.weight": 144 for i in range(1, 5)},
    **{f"features.layer{i}.conv.bias": 4 for i in range(1, 5)},
    "classifier.weight": 40,
    "classifier.bias": 10,
}
ROWS = ["bgd", "metacog", "metabgd"]  # reported only


@pytest.fixture
def project(tmp_path, monkeypatch):
    shutil.copytree(ROOT / "params", tmp_path / "params")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def fake_result(run: str, name: str, seed: int, index: int) -> dict:
    """Omniglot 90 + index, MNIST 80, Fashion 60 + seed; total their 0.5 / 0.25 / 0.25 mix."""
    per_mode = {"omniglot": 90.0 + index, "mnist": 80.0, "fashion-mnist": 60.0 + seed}
    composed = ONLINE.compose(f"{run}/{name}", "smoke")
    meta = composed["train"]["meta_optimizer"]
    return {
        "accuracy": 0.5 * per_mode["omniglot"]
        + 0.25 * (per_mode["mnist"] + per_mode["fashion-mnist"]),
        "per_mode": per_mode,
        "precision": 0.5,
        "recall": None,
        "hyperparameters": {
            "alpha_0": (composed["method"] or {}).get("alpha"),
            "gamma_m": meta and meta["lr"],
        },
        "parameters": TENSORS,
        "sparsity": {"final": {}, "final_overall": 0.0},
    }


def depth_sparsity(tensor: str) -> float:
    """conv1 0.6, conv2 0.5, conv3 0.4, conv4 0.3, head 0.9."""
    return 0.9 if tensor.startswith("classifier") else 0.7 - 0.1 * int(tensor[14])


def write_results(profile: str = "smoke") -> None:
    """Every run of every online target and seed; the trace's sparsity falls with depth (conv1
    0.6 .. conv4 0.3) and the head's is 0.9, plus 0.01 per seed."""
    cells = sorted({c for t in ONLINE.targets() for c in table_cells(ONLINE.declarations()[t])})
    runs = sorted({run for run, _ in cells})
    for run, name in cells:
        for seed in ONLINE.seeds("table6", profile):
            out = result_file(profile, run, name, seed)
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(json.dumps(fake_result(run, name, seed, runs.index(run))))
            trace = []
            for step in (10, 20):
                per = {t: depth_sparsity(t) + 0.01 * seed for t in TENSORS}
                trace.append(
                    json.dumps({"step": step, "sparsity": 0.5, "sparsity_per_tensor": per})
                )
            (out.parent / "metrics.jsonl").write_text("\n".join(trace) + "\n")


def rows_of(path: Path) -> list[dict[str, str]]:
    return list(csv.DictReader(path.open()))


def test_table6_has_ours_beside_the_paper_and_the_reported_only_baselines(project):
    write_results()
    paths = ONLINE.write_table("table6", "smoke")
    rows = rows_of(paths[0])
    assert {(r["method"], r["setting"]) for r in rows} == {
        (m, s)
        for m in ["online-adam", "fine-tuning", "maml", "anil", "c-maml", "sparse-c-maml",
                  "sparse-relu-c-maml", *ROWS]
        for s in ("p = 0.98", "p = 0.9")
    }  # fmt: skip
    ours = {(r["method"], r["setting"]): r for r in rows}
    sparse = ours[("sparse-c-maml", "p = 0.98")]
    # run index 6: omniglot 96, fashion 60 + seed
    assert float(sparse["mean"]) == pytest.approx(0.5 * 96 + 0.25 * (80 + 60.5))
    adam = ours[("online-adam", "p = 0.9")]  # a baseline we run: ours beside the paper's
    assert float(adam["mean"]) == pytest.approx(0.5 * 95 + 0.25 * (80 + 60.5))
    assert adam["n_seeds"] == "2" and float(adam["paper_mean"]) == 23.8
    anil = ours[("anil", "p = 0.98")]  # pre-trained, never retrained: ours too (index 0)
    assert float(anil["mean"]) == pytest.approx(0.5 * 90 + 0.25 * (80 + 60.5))
    assert anil["n_seeds"] == "2" and float(anil["paper_mean"]) == 75.3
    assert sparse["n_seeds"] == "2" and float(sparse["paper_mean"]) == 94.2
    assert float(ours[("sparse-relu-c-maml", "p = 0.9")]["paper_mean"]) == 86.1
    for baseline in ROWS:
        row = ours[(baseline, "p = 0.9")]
        assert row["mean"] == "" and row["n_seeds"] == "0" and row["paper_mean"]
    markdown = paths[1].read_text()
    assert "| bgd *(reported)* | — | 87.80 ± 1.30 | — | 63.40 ± 0.90 |" in markdown
    assert "p = 0.98 (ours)" in markdown and "p = 0.9 (paper)" in markdown


def test_table_s8_per_dataset_and_s9_hyperparameters(project):
    write_results()
    s8 = {
        (r["method"], r["setting"], r["metric"]): r
        for r in rows_of(ONLINE.write_table("tableS8", "smoke")[0])
    }
    assert float(s8[("c-maml", "p = 0.9", "accuracy_omniglot")]["mean"]) == 91.0
    assert float(s8[("c-maml", "p = 0.9", "accuracy_fashion-mnist")]["std"]) == pytest.approx(
        0.5**0.5
    )
    assert float(s8[("anil", "p = 0.98", "accuracy_mnist")]["paper_mean"]) == 58.7
    assert float(s8[("maml", "p = 0.9", "accuracy_omniglot")]["mean"]) == 94.0  # index 4
    intro = (ROOT / "params").exists() and Path(
        "results/smoke/online/tables/tableS8.md"
    ).read_text()
    assert intro.count("is misprinted") == 2 and "sparse-relu-c-maml at p0.9" in intro
    paths = ONLINE.write_table("tableS9", "smoke")
    s9 = {(r["method"], r["setting"], r["metric"]): r for r in rows_of(paths[0])}
    assert {m for m, _, _ in s9} == {
        "c-maml",
        "c-maml-fixed",
        "sparse-c-maml",
        "sparse-relu-c-maml",
    }
    assert float(s9[("sparse-c-maml", "p = 0.9", "gamma_m")]["mean"]) == 0.003
    assert s9[("sparse-c-maml", "p = 0.9", "gamma_m")]["std"] == ""
    assert float(s9[("c-maml-fixed", "p = 0.98", "alpha_0")]["mean"]) == 0.1
    assert s9[("c-maml-fixed", "p = 0.98", "gamma_m")]["mean"] == ""  # no meta-parameters
    assert s9[("sparse-relu-c-maml", "p = 0.9", "alpha_0")]["paper_mean"] == ""  # the dash
    assert "| p = 0.9 | c-maml-fixed |" in paths[1].read_text()


def test_the_dvc_metrics_key_every_cell_and_metric(project):
    write_results()
    for table in ONLINE.metric_tables():
        ONLINE.write_table(table, "smoke")
    values = stages.metrics(ONLINE, "smoke")
    assert set(values) == {"table6", "tableS8", "tableS9"}
    assert values["table6"]["p = 0.98/c-maml/Omniglot-MNIST-FashionMNIST"] > 0
    assert "p = 0.9/bgd/Omniglot-MNIST-FashionMNIST" not in values["table6"]  # not ours


def test_missing_results_say_what_to_run(project):
    with pytest.raises(UserError, match="missing result .*online-adam/p0.98/seed0.*snakemake"):
        ONLINE.write_table("table6", "smoke")


def test_figure_s5_draws_per_layer_sparsity_from_result_files(project):
    from wheretolearn.figures.figureS5 import layer_frame

    write_results()
    frame = layer_frame("smoke", "sparse-c-maml", "p0.98")
    means = frame.groupby("layer")["sparsity (%)"].mean()
    assert list(means.index) == ["conv1", "conv2", "conv3", "conv4", "head"]
    # conv1: (144 * 0.6 + 4 * 0.6) weighted, + 0.5 for the seed mean
    assert means["conv1"] == pytest.approx(60.5) and means["head"] == pytest.approx(90.5)
    paths = FIGURES.get("figureS5")("smoke")
    assert [p.suffix for p in paths] == [".png", ".pdf"] and all(p.stat().st_size for p in paths)
    assert ONLINE.cited("figureS5", "smoke")[1].name == "metrics.jsonl"


def snakemake(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    cmd = [str(Path(sys.executable).parent / "snakemake"), *args]
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)


def test_every_online_target_resolves_in_a_dry_run(tmp_path):
    if not (Path(sys.executable).parent / "snakemake").exists():
        pytest.skip("needs snakemake in the environment")
    for name in ("Snakefile", "workflow", "params", "profiles"):
        src = ROOT / name
        (shutil.copytree if src.is_dir() else shutil.copy)(src, tmp_path / name)
    result = snakemake(tmp_path, "table6", "-n", "--config", "profile=smoke")
    assert result.returncode == 0, result.stdout + result.stderr
    counts = dict(re.findall(r"^(\w+)\s+(\d+)$", result.stdout, flags=re.M))
    assert (counts["compose"], counts["train"], counts["table"]) == ("14", "28", "1")
    assert "results/smoke/online/runs/sparse-c-maml/p0.98/seed1/summary.json" in result.stdout
    every = snakemake(tmp_path, "online_tables", "-n", "--config", "profile=real-offline")
    assert every.returncode == 0, every.stdout + every.stderr
    counts = dict(re.findall(r"^(\w+)\s+(\d+)$", every.stdout, flags=re.M))
    # 8 runs (4 C-MAML variants, online Adam, fine-tuning, MAML, ANIL) x 2 settings x 2 seeds
    assert (counts["train"], counts["table"], counts["figure"]) == ("32", "3", "1")


def test_a_mode_a_short_stream_never_visited_counts_no_seed(project):
    """A 200-step smoke stream at p = 0.98 has a few tasks and may never draw MNIST: that
    seed has no MNIST accuracy, and the cell averages the seeds that have one."""
    write_results()
    path = result_file("smoke", "c-maml", "p0.98", 0)
    result = json.loads(path.read_text())
    del result["per_mode"]["mnist"]
    path.write_text(json.dumps(result))
    rows = rows_of(ONLINE.write_table("tableS8", "smoke")[0])
    cell = {(r["method"], r["setting"], r["metric"]): r for r in rows}
    assert cell[("c-maml", "p = 0.98", "accuracy_mnist")]["n_seeds"] == "1"
    assert cell[("c-maml", "p = 0.98", "accuracy_omniglot")]["n_seeds"] == "2"
