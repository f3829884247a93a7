"""Each recipe module trains for real (TRL, a few steps on a tiny model) and saves what
the next stage loads; the merged export answers like the adapter."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from forge.config.schema import RECIPES, HardwareConfig, TinyModelConfig
from forge.train import parts

from .conftest import ROOT

HW = HardwareConfig(device="cpu", name="cpu", precision="fp32")
STEPS = 3


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> dict[str, Path]:
    """A small pretrained tiny base and the demo data prepared (SFT and preference splits)."""
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


def train(world: dict[str, Path], method: str, name: str, **extra):
    recipe = RECIPES[method](
        method=method, learning_rate=1e-3, max_steps=STEPS, batch_size=8, eval_steps=0,
        save_steps=100,
    )  # fmt: skip
    if hasattr(recipe, "num_generations"):
        recipe.num_generations = 4
    for key, value in extra.items():
        setattr(recipe, key, value)
    out, ckpt = world["root"] / name, world["root"] / f"{name}-ckpt"
    facts = parts.module(method).train(
        recipe, HW, str(world["base"]), world["data"], out, ckpt, ckpt / "live",
        **({"reward_model": world["root"] / "rm"} if method == "rlhf" else {}),
    )  # fmt: skip
    return recipe, out, ckpt / "live", facts


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


def test_reward_model_scores_and_rlhf_optimises_against_it(world):
    from forge.train import reward

    _, out, _, facts = train(world, "reward_model", "rm")
    assert facts["global_step"] == STEPS and not facts["adapter"]
    model, tok = reward.load(str(out), HW)
    user = {"role": "user", "content": "reverse: ab"}
    convs = [[user, {"role": "assistant", "content": x}] for x in ("ba", "ab")]
    a, b = reward.score(model, tok, convs)
    assert a != b

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
    from forge.train import export

    _, out, _, _ = train(world, "lora_sft", "sft-merge")
    assert export.merge(str(world["base"]), out, HW) == "merged"
    assert (out / "merged/model.safetensors").is_file()
    prompts = [[{"role": "user", "content": f"reverse: {w}"}] for w in ("abc", "hello", "xyz")]
    assert export.check_merged(str(world["base"]), out, prompts, 8) == 3
