"""Every recipe through the real DAG on the tiny model (`forge run recipe=X`), checked
against what it must show; and a chat-template mismatch that must stop the DAG.

base and prepare do not depend on the recipe: they run once, in a module-wide project,
and each test starts from a copy of it (DVC cache included), so its run starts at sft."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from .conftest import BIN, make_project, sh


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    project = make_project(tmp_path_factory.mktemp("recipes") / "proj")
    sh(str(BIN / "dvc"), "repro", "base", "prepare", cwd=project)
    return project


@pytest.fixture
def project(built: Path, tmp_path: Path) -> Path:
    """A copy of `built`: base and prepare done and cached."""
    dest = tmp_path / "proj"
    shutil.copytree(built, dest, symlinks=True)
    return dest


def forge_run(project: Path, *overrides: str):
    return sh(str(BIN / "forge"), "run", *overrides, cwd=project, check=False)


def ran(output: str) -> list[str]:
    stages = ["base", "prepare", "sft", "reward", "train", "contract", "evaluate", "gate"]
    return [s for s in stages if f"Running stage '{s}'" in output]


def metrics(project: Path) -> dict[str, float]:
    return json.loads((project / "results/eval/metrics.json").read_text())


def reward_curve(project: Path) -> list[float]:
    """The per-step mean reward that dvclive logged for the RL recipes."""
    rows = (project / "results/train/plots/metrics/reward.tsv").read_text().splitlines()
    header = rows[0].split("\t")
    return [float(r.split("\t")[header.index("reward")]) for r in rows[1:]]


def rises(project: Path) -> bool:
    """Mean reward over the last 10% of steps above the first 10%, from the dvclive curve;
    the recipe's own summary says the same."""
    curve = reward_curve(project)
    k = max(1, len(curve) // 10)
    first, last = sum(curve[:k]) / k, sum(curve[-k:]) / k
    summary = json.loads((project / "results/train/reward_summary.json").read_text())
    assert summary["reward_first_10pct"] == pytest.approx(first, rel=1e-3)
    assert summary["reward_last_10pct"] == pytest.approx(last, rel=1e-3)
    return last > first


@pytest.mark.slow
def test_dpo_learns_the_preferences(project: Path):
    proc = forge_run(project, "recipe=dpo")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert ran(proc.stdout + proc.stderr) == [
        "sft",
        "reward",
        "train",
        "contract",
        "evaluate",
        "gate",
    ]  # fmt: skip (base and prepare: done once, in `built`)
    m = metrics(project)
    assert m["eval/candidate/preference_accuracy"] > 0.6
    assert m["eval/candidate/reward_margin"] > 0
    assert m["eval/candidate/exact_match"] >= m["eval/sft/exact_match"] - 0.05
    assert json.loads((project / "models/reward/unused.json").read_text())["used"] is False


@pytest.mark.slow
def test_kto_learns_from_unpaired_rows_and_keeps_exact_match(project: Path):
    """KTO's implicit reward is 0 for every answer at the warm start (the adapter is
    off); on held-out pairs it must come to rank the desirable answer first, without
    costing more than 0.03 of the warm start's exact match."""
    proc = forge_run(project, "recipe=kto")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    unpaired = (project / "data/prepared/unpaired/train.jsonl").read_text().splitlines()
    labels = [json.loads(x)["label"] for x in unpaired]
    assert labels.count(True) == labels.count(False) > 0  # each pair: one of each
    m = metrics(project)
    assert m["eval/candidate/preference_accuracy"] > 0.7
    assert m["eval/candidate/reward_margin"] > 0
    assert m["eval/candidate/exact_match"] >= m["eval/sft/exact_match"] - 0.03


@pytest.mark.slow
def test_reward_model_ranks_held_out_pairs(project: Path):
    proc = forge_run(project, "recipe=reward_model")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    m = metrics(project)
    assert m["eval/candidate/pairwise_accuracy"] > 0.7
    # per-pair samples, for `forge eval compare` and promotion's regression check
    path = project / "results/eval/samples_candidate.jsonl"
    pairs = [json.loads(line) for line in path.read_text().splitlines()]
    assert len(pairs) > 20 and len({p["prompt"] for p in pairs}) == len(pairs)
    right = sum(p["pairwise_correct"] for p in pairs) / len(pairs)
    assert right == pytest.approx(m["eval/candidate/pairwise_accuracy"], abs=1e-6)


@pytest.mark.slow
def test_grpo_raises_the_programmatic_reward(project: Path):
    proc = forge_run(project, "recipe=grpo")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert rises(project)
    m = metrics(project)
    assert m["eval/candidate/exact_match"] >= m["eval/sft/exact_match"] - 0.05


@pytest.mark.slow
def test_rlhf_trains_a_reward_model_then_the_policy_against_it(project: Path):
    proc = forge_run(project, "recipe=rlhf")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout + proc.stderr
    assert ran(out).index("reward") < ran(out).index("train")
    assert (project / "models/reward/config.json").is_file()
    manifest = json.loads((project / "models/candidate/manifest.json").read_text())
    assert "reward_model" in manifest["inputs"]
    assert rises(project)
    m = metrics(project)
    assert m["eval/candidate/exact_match"] >= m["eval/sft/exact_match"] - 0.05


@pytest.mark.slow
def test_merged_weights_answer_like_the_adapter(project: Path):
    proc = forge_run(project, "recipe.lora.merge=true", "recipe.max_steps=60")
    assert proc.returncode in (0, 1), proc.stdout + proc.stderr  # a weak model may fail the gate
    assert (project / "models/candidate/merged/model.safetensors").is_file()
    assert metrics(project)["eval/candidate/merged_matches_adapter"] == 8


@pytest.mark.slow
def test_a_chat_template_mismatch_fails_the_dag(project: Path):
    run = project / "forge/train/run.py"  # TrainRun.fit saves every recipe's tokenizer
    text = run.read_text()
    saved = "            trainer.processing_class.save_pretrained(str(out))\n"
    assert saved in text
    # a space after the generation prompt: a drift that survives Jinja's trim_blocks
    drift = (
        "            tok = trainer.processing_class\n"
        "            tok.chat_template = tok.chat_template.replace(\n"
        "                '<|assistant|>{% endif %}', '<|assistant|> {% endif %}'\n"
        "            )\n"
    )
    run.write_text(text.replace(saved, drift + saved))
    proc = forge_run(project, "recipe.max_steps=5", "recipe.eval_steps=0")
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert ran(out)[-1] == "contract"
    assert "chat-template contract: the prompt of 'reverse: " in out
    assert "renders differently in training ('<|user|>reverse: " in out
    assert "<|end|><|assistant|> ')" in out  # the candidate's rendering, named too
