"""hardware.num_processes=2 trains through `accelerate launch` (2-process CPU DDP over gloo)
and matches one process that sees the same effective batch (STYLE 9: behaviour, not mocks)."""

from __future__ import annotations

import json
import random
from dataclasses import replace
from pathlib import Path

import pytest

from forge.config.schema import HardwareConfig, TinyModelConfig
from forge.recipes.sft import FullSFTConfig


def _data(path: Path, n: int, seed: int) -> None:
    rng = random.Random(seed)
    with path.open("w") as f:
        for _ in range(n):
            word = "".join(rng.choice("abcdefghij") for _ in range(rng.randint(3, 6)))
            messages = [
                {"role": "user", "content": f"reverse: {word}"},
                {"role": "assistant", "content": word[::-1]},
            ]
            f.write(json.dumps({"messages": messages}) + "\n")


def _train(root: Path, recipe, hw: HardwareConfig, tag: str) -> tuple[dict, dict]:
    from safetensors.torch import load_file

    from forge.train import supervisor

    out, results = root / f"out-{tag}", root / f"results-{tag}"
    facts = supervisor.run_train(recipe, hw, root / "base", root / "data", out, results)
    return facts, load_file(str(out / "model.safetensors"))


def _max_diff(a: dict, b: dict) -> float:
    return max((a[k] - b[k]).abs().max().item() for k in a)


@pytest.mark.slow
def test_two_process_ddp_matches_one_process(tmp_path: Path, monkeypatch):
    from safetensors.torch import load_file

    from forge.config.schema import ModelConfig
    from forge.model.base import build_base

    monkeypatch.chdir(tmp_path)
    build_base(
        ModelConfig(name="tiny", source="tiny", tiny=TinyModelConfig(pretrain_steps=0)),
        tmp_path / "base",
    )
    (tmp_path / "data").mkdir()
    _data(tmp_path / "data" / "train.jsonl", 256, seed=1)
    _data(tmp_path / "data" / "val.jsonl", 8, seed=2)

    # Effective batch 16 both ways: 1 process x 8 x 2 accumulation, 2 processes x 8 x 1.
    recipe = FullSFTConfig(
        method="full_sft",
        learning_rate=1e-3,
        max_steps=6,
        batch_size=8,
        gradient_accumulation_steps=2,
        eval_steps=0,
        save_steps=100,
        warmup_ratio=0.0,
    )
    hw = HardwareConfig(name="cpu", device="cpu", precision="fp32", memory_gb=16, peak_tflops=0.2)
    base = load_file(str(tmp_path / "base" / "model.safetensors"))
    one, w_one = _train(tmp_path, recipe, hw, "1proc")
    two, w_two = _train(
        tmp_path,
        replace(recipe, gradient_accumulation_steps=1),
        replace(hw, num_processes=2, strategy="ddp"),
        "2proc",
    )

    # Control: one process at half the effective batch lands elsewhere, so the tolerance
    # below can tell a different run from the same one.
    half, w_half = _train(tmp_path, replace(recipe, gradient_accumulation_steps=1), hw, "half")

    assert one["global_step"] == two["global_step"] == half["global_step"] == 6
    assert w_one.keys() == w_two.keys() == base.keys()
    moved = _max_diff(w_one, base)
    same = _max_diff(w_one, w_two)
    other = _max_diff(w_one, w_half)
    assert moved > 1e-3  # training changed the weights...
    assert other > moved * 0.05  # ...a different batch changes them differently...
    assert same < moved * 1e-3  # ...and 2-process DDP changed them as 1 process did
