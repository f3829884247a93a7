"""forge sweep, the fast parts: the grid, every bad point reported before anything runs,
the shared stages, GPU packing, the sbatch script, the best point, stale workers."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import pytest

from forge.errors import ConfigError
from forge.sweep import grid, launch, report, stages
from forge.sweep.pack import Inventory, Need, pack

from .conftest import BIN, ROOT, sh

CONF = ROOT / "conf"


def test_grid_takes_hydra_sweep_grammar():
    points = grid.expand(
        ["recipe=lora_sft,full_sft", "recipe.max_steps=range(10,30,10)", "eval.limit=choice(4,8)"],
        CONF,
    )
    assert len(points) == 8
    assert points[0] == ["recipe=lora_sft", "recipe.max_steps=10", "eval.limit=4"]
    assert points[-1] == ["recipe=full_sft", "recipe.max_steps=20", "eval.limit=8"]
    assert grid.expand(["recipe.learning_rate=1e-3"], CONF) == [["recipe.learning_rate=0.001"]]


def test_every_bad_point_is_reported_before_anything_runs():
    with pytest.raises(ConfigError) as info:
        grid.compose_points(
            ["recipe=lora_sft,full_sft", "recipe.learning_rate=1e-3,3e-3,bad"], CONF
        )
    assert info.value.problems == [
        "point 3/6 (recipe=lora_sft recipe.learning_rate=bad): recipe.learning_rate: "
        "expected float, got 'bad'",
        "point 6/6 (recipe=full_sft recipe.learning_rate=bad): recipe.learning_rate: "
        "expected float, got 'bad'",
        "2 of 6 points are invalid; nothing was run",
    ]


def test_memory_fit_is_checked_per_point():
    with pytest.raises(ConfigError) as info:
        grid.compose_points(
            ["model=llama3_1_8b_instruct", "hardware=a100_80gb", "recipe=full_sft,lora_sft"], CONF
        )
    (line, summary) = info.value.problems
    assert line.startswith(
        "point 1/2 (model=llama3_1_8b_instruct hardware=a100_80gb recipe=full_sft)"
    )
    assert "hardware.memory_gb: full_sft of llama-3.1-8b-instruct needs" in line
    assert summary == "1 of 2 points are invalid; nothing was run"


def test_grammar_errors_and_keys_given_twice_are_refused_once():
    with pytest.raises(ConfigError) as info:
        grid.compose_points(["recipe.max_steps=1,2", "recipe.max_steps=3"], CONF)
    assert info.value.problems == [
        "recipe.max_steps: given twice ('recipe.max_steps=1,2' and 'recipe.max_steps=3')"
    ]
    with pytest.raises(ConfigError, match="interval sweep"):
        grid.expand(["recipe.learning_rate=interval(0,1)"], CONF)
    with pytest.raises(ConfigError, match="not a valid override"):
        grid.expand(["recipe.learning_rate=[1"], CONF)
    with pytest.raises(ConfigError) as info:  # the same problem in every point: said once
        grid.compose_points(["recipe.lr=1,2"], CONF)
    assert info.value.problems[0] == "recipe.lr: unknown key; did you mean 'lora'?"


def test_shared_stages_follow_params_and_the_dag():
    dvc_yaml = stages.load(ROOT / "dvc.yaml")
    lr = grid.compose_points(["recipe.learning_rate=1e-3,3e-3"], CONF)
    assert stages.shared(dvc_yaml, [p.cfg for p in lr]) == ["base", "prepare", "sft", "reward"]
    assert grid.varying(lr) == ["recipe.learning_rate"]
    # a different base model: only data preparation is shared; all that trains depends on it
    base = grid.compose_points(["model.tiny.pretrain_steps=5,10"], CONF)
    assert stages.shared(dvc_yaml, [p.cfg for p in base]) == ["prepare"]


def test_small_lora_jobs_pack_several_to_a_gpu_and_full_jobs_get_one():
    gpus = [24.0, 24.0]  # a simulated inventory: two 24 GiB GPUs
    lora = Need(5.5)
    # best fit fills one GPU before starting the next: 4 LoRA jobs per GPU, the 9th waits
    assert pack([lora] * 9, gpus) == [(0,)] * 4 + [(1,)] * 4 + [None]
    # a full fine-tune that needs 20 GiB: one per GPU; LoRA jobs fill the room left
    placed = pack([Need(20.0), Need(20.0), lora, Need(3.0)], gpus)
    assert placed == [(0,), (1,), None, (0,)]
    # a two-GPU job needs two GPUs with room on each
    assert pack([Need(10.0, devices=2), Need(10.0, devices=2), Need(10.0, devices=2)], gpus) == [
        (0, 1),
        (0, 1),
        None,
    ]
    inv = Inventory.of(gpus)
    first = inv.place(Need(20.0))
    assert inv.place(Need(20.0)) == (1,) and inv.place(Need(20.0)) is None
    inv.release(first, Need(20.0))
    assert inv.place(Need(20.0)) == first
    assert not inv.fits_ever(Need(30.0)) and inv.fits_ever(Need(24.0, devices=2))


def test_sbatch_script_carries_the_slurm_profile(tmp_path: Path):
    options = launch.options_for("slurm", {"hardware": {"launcher": "basic"}}, CONF)
    script = launch.sbatch_script(options, tmp_path)
    for line in (
        "#SBATCH --partition=gpu",
        "#SBATCH --gpus-per-node=8",
        "#SBATCH --cpus-per-task=32",
        "#SBATCH --mem=480GB",
        "#SBATCH --time=720",
        "#SBATCH --nodes=1",
        "#SBATCH --ntasks-per-node=1",
    ):
        assert line in script, script
    with pytest.raises(Exception, match="launcher_options.qos"):
        launch.slurm_parameters({"qos": "high"})


def _row(name, metrics, gates, status="done"):
    return {"name": name, "status": status, "metrics": metrics, "decision": {"gates": gates}}


def test_best_point_by_the_gates_headline_or_a_chosen_metric():
    gate = [{"metric": "eval/candidate/exact_match", "op": ">=", "value": 0, "threshold": 0.8}]
    rows = [
        _row("a", {"eval/candidate/exact_match": 0.5, "eval/candidate/perplexity": 2.0}, gate),
        _row("b", {"eval/candidate/exact_match": 0.9, "eval/candidate/perplexity": 3.0}, gate),
        _row("c", {"eval/candidate/exact_match": 1.0}, gate, status="failed"),
    ]
    assert report.best(rows, None) == ("eval/candidate/exact_match", "max", "b")
    assert report.best(rows, "eval/candidate/perplexity") == (
        "eval/candidate/perplexity",
        "min",
        "a",
    )
    assert report.best(rows, "eval/unknown")[2] is None


def test_a_stale_worker_is_stopped_only_by_its_marker():
    env = {**os.environ, launch.MARKER: "abc/sweep-abc-1"}
    mine = subprocess.Popen(["sleep", "60"], env=env, start_new_session=True)
    other = subprocess.Popen(["sleep", "60"], start_new_session=True)
    try:
        assert not launch.reap_stale(other.pid, "abc/sweep-abc-1")
        assert not launch.reap_stale(mine.pid, "abc/sweep-abc-2")
        assert launch.reap_stale(mine.pid, "abc/sweep-abc-1")
        assert mine.wait(timeout=10) < 0
        time.sleep(0.2)
        assert other.poll() is None
    finally:
        other.kill()
        mine.kill()
        other.wait()


def test_cli_reports_bad_points_and_dry_run_estimates(project: Path):
    forge = str(BIN / "forge")
    proc = sh(forge, "sweep", "recipe=lora_sft,full_sft", "recipe.learning_rate=1e-3,3e-3,bad",
              cwd=project, check=False)  # fmt: skip
    assert proc.returncode == 2
    assert proc.stderr.splitlines() == [
        "forge: error: point 3/6 (recipe=lora_sft recipe.learning_rate=bad): "
        "recipe.learning_rate: expected float, got 'bad'",
        "forge: error: point 6/6 (recipe=full_sft recipe.learning_rate=bad): "
        "recipe.learning_rate: expected float, got 'bad'",
        "forge: error: 2 of 6 points are invalid; nothing was run",
    ]
    assert not (project / ".forge").exists() and not (project / "results/sweeps").exists()
    proc = sh(forge, "sweep", "recipe=lora_sft,full_sft", "--dry-run", "--json", cwd=project)
    data = json.loads(proc.stdout)
    assert data["shared"] == ["base", "prepare", "sft", "reward"]
    assert data["varying"] == ["recipe"]
    lora, full = (p["estimate"] for p in data["points"])
    assert lora["seconds"] < full["seconds"]  # LoRA skips the base's weight gradients
    assert 0 < lora["memory_gib"] and lora["device"] == "cpu" and "dollars" in lora
    assert not (project / ".forge").exists()
