"""Each recipe module trains for real (TRL, a few steps on a tiny model) through the `Run`
the worker gives it (forge/train/run.py) and saves what the next stage loads; the merged
export answers like the adapter."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from forge.config.schema import HardwareConfig, TinyModelConfig
from forge.recipes.registry import get
from forge.train.run import RunSpec, TrainRun

from .conftest import ROOT

HW = HardwareConfig(device="cpu", name="cpu", precision="fp32", memory_gb=16, peak_tflops=1)
STEPS = 3


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> dict[str, Path]:
    """A small pretrained tiny base and the demo data prepared (SFT, preference and
    unpaired splits)."""
    from forge.config.schema import DataConfig
    from forge.data.prepare import prepare
    from forge.model import tiny

    root = tmp_path_factory.mktemp("recipes")
    cfg = TinyModelConfig(hidden_size=64, intermediate_size=128, num_layers=2, pretrain_steps=20)
    tiny.build(cfg, root / "base")
    data = DataConfig(
        name="demo",
        path=str(ROOT / "data/raw/demo.jsonl"),
        preference_path=str(ROOT / "data/raw/demo_preference.jsonl"),
    )
    prepare(data, root / "prepared", root / "report.json")
    return {"root": root, "base": root / "base", "data": root / "prepared"}


def spec(world: dict[str, Path], method: str, name: str, **extra) -> RunSpec:
    """The run file's content for `method`, as the supervisor resolves it."""
    recipe = get(method).config(
        method=method, learning_rate=1e-3, max_steps=STEPS, batch_size=8, eval_steps=0,
        save_steps=100,
    )  # fmt: skip
    if hasattr(recipe, "num_generations"):
        recipe.num_generations = 4
    for key, value in extra.items():
        setattr(recipe, key, value)
    return RunSpec(
        part="train",
        recipe=recipe,
        hardware=HW,
        start=str(world["base"]),
        data=world["data"],
        out=world["root"] / name,
        checkpoints=world["root"] / f"{name}-ckpt",
        reward_model=world["root"] / "rm" if get(method).reward_model else None,
    )


def train(world: dict[str, Path], method: str, name: str, **extra):
    s = spec(world, method, name, **extra)
    facts = get(method).train(s.recipe, TrainRun(s))
    return s.recipe, s.out, s.live_dir, facts


def lora_b_nonzero(adapter: Path) -> bool:
    from safetensors.torch import load_file

    weights = load_file(str(adapter / "adapter_model.safetensors"))
    return any(float(t.abs().sum()) > 0 for k, t in weights.items() if "lora_B" in k)


def test_dpo_trains_an_adapter(world):
    _, out, live, facts = train(world, "dpo", "dpo")
    assert facts["global_step"] == STEPS and facts["adapter"]
    assert lora_b_nonzero(out)  # LoRA B starts at zero: the adapter moved
    assert (out / "chat_template.jinja").is_file()
    assert (live / "metrics.json").is_file()


def test_kto_trains_an_adapter_on_unpaired_rows(world):
    from forge.data.splits import read_rows

    rows = read_rows(world["data"] / "unpaired" / "train.jsonl")
    assert rows and set(rows[0]) == {"prompt", "completion", "label"}
    assert {r["label"] for r in rows} == {True, False}  # each pair: desirable and undesirable
    _, out, live, facts = train(world, "kto", "kto")
    assert facts["global_step"] == STEPS and facts["adapter"]
    assert lora_b_nonzero(out)
    assert (out / "chat_template.jinja").is_file()
    assert (live / "metrics.json").is_file()


def test_reward_model_scores_and_rlhf_optimises_against_it(world):
    from forge.model import load
    from forge.recipes.reward_model import margins, score

    _, out, _, facts = train(world, "reward_model", "rm")
    assert facts["global_step"] == STEPS and not facts["adapter"]
    tok = load.load_tokenizer(out)
    model = load.reward_model(str(out), HW, tok)
    user = {"role": "user", "content": "reverse: ab"}
    convs = [[user, {"role": "assistant", "content": x}] for x in ("ba", "ab")]
    a, b = score(model, tok, convs)
    assert a != b
    row = {"prompt": [user], "chosen": convs[0][1:], "rejected": convs[1][1:]}
    assert margins(model, tok, [row]) == [pytest.approx(a - b, abs=1e-5)]

    _, out, live, facts = train(world, "rlhf", "rlhf", length_penalty=0.1)
    assert facts["global_step"] == STEPS and lora_b_nonzero(out)
    summary = json.loads((live / "reward_summary.json").read_text())
    assert summary["steps_logged"] == STEPS
    assert summary["reward_first_10pct"] is not None


def test_grpo_logs_the_programmatic_reward(world):
    _, out, live, facts = train(world, "grpo", "grpo")
    assert facts["global_step"] == STEPS and lora_b_nonzero(out)
    assert (live / "plots/metrics/reward.tsv").is_file()
    assert 0 <= facts["reward_first_10pct"] <= 1


def test_merged_weights_answer_like_the_adapter(world):
    """recipe.lora.merge: the worker, from its run file alone, trains and merges."""
    from forge.model import export
    from forge.train import worker

    s = spec(world, "lora_sft", "sft-merge")
    s = replace(s, recipe=replace(s.recipe, lora=replace(s.recipe.lora, merge=True)))
    run_file = s.write()
    assert RunSpec.read(run_file) == s  # the config crosses the process boundary whole
    assert worker.train(run_file) == 0
    facts = json.loads(s.facts_path.read_text())
    assert facts["global_step"] == STEPS and facts["adapter"] and facts["merged"] == "merged"
    out = s.out
    assert (out / "merged/model.safetensors").is_file()
    assert export.merge(str(world["base"]), out, HW) == "merged"  # idempotent
    prompts = [[{"role": "user", "content": f"reverse: {w}"}] for w in ("abc", "hello", "xyz")]
    assert export.check_merged(str(world["base"]), out, prompts, 8, HW) == 3


def test_full_sft_trains_every_weight(world):
    _, out, _, facts = train(world, "full_sft", "full")
    assert facts["global_step"] == STEPS and not facts["adapter"]
    assert (out / "model.safetensors").is_file() and not (out / "adapter_config.json").exists()
