"""Checks that types alone cannot express. Each returns problems as 'full.key: what, fix'."""

from __future__ import annotations

import re
from typing import Any

from forge.config.schema import RECIPES

CHOICES = {
    "data.format": ("auto", "alpaca", "sharegpt", "messages", "prompt_completion", "preference"),
    "data.pii_policy": ("block", "redact", "allow"),
    "hardware.backend": ("auto", "hf", "unsloth"),
    "hardware.device": ("cpu", "cuda"),
    "hardware.launcher": ("basic", "submitit_local", "submitit_slurm", "ray"),
    "hardware.precision": ("auto", "bf16", "fp16", "fp32"),
    "hardware.quantization": ("none", "4bit", "8bit"),
    "hardware.runtime": ("local", "docker"),
    "hardware.strategy": ("ddp", "fsdp", "deepspeed"),
    "model.source": ("tiny", "hub"),
}
REFUSED_METHODS = {
    "ppo": "PPO was removed from TRL in 1.13; use recipe=rlhf (RLOO against a reward model)",
}


def _get(cfg: dict[str, Any], dotted: str) -> Any:
    node: Any = cfg
    for part in dotted.split("."):
        node = node.get(part) if isinstance(node, dict) else None
    return node


def _licenses(allowed: list[str]) -> list[str]:
    """Each allowed license in its SPDX spelling (cards carry that spelling)."""
    from forge.data.cards import spdx
    from forge.errors import DataError

    problems = []
    for lic in allowed:
        try:
            canonical = spdx(str(lic))
        except DataError as exc:
            problems.append(f"gates.allowed_licenses: {exc.message.split(': ', 1)[1]}")
            continue
        if canonical != lic:
            problems.append(f"gates.allowed_licenses: write '{lic}' as '{canonical}'")
    return problems


def check(cfg: dict[str, Any]) -> list[str]:
    problems: list[str] = []
    for key, allowed in CHOICES.items():
        value = _get(cfg, key)
        if value is not None and value not in allowed:
            problems.append(f"{key}: '{value}' is not one of {', '.join(allowed)}")

    method = _get(cfg, "recipe.method")
    if method in REFUSED_METHODS:
        problems.append(f"recipe.method: {REFUSED_METHODS[method]}")
    elif method is not None and method not in RECIPES:
        problems.append(f"recipe.method: unknown method '{method}' (known: {', '.join(RECIPES)})")

    problems += _licenses(_get(cfg, "gates.allowed_licenses") or [])
    if (conf := _get(cfg, "gates.regression_confidence")) is not None and not 0.5 <= conf < 1:
        problems.append(f"gates.regression_confidence: {conf} must be in [0.5, 1)")
    for key in ("data.val_fraction", "data.test_fraction"):
        value = _get(cfg, key)
        if value is not None and not 0 < value < 0.5:
            problems.append(f"{key}: {value} must be between 0 and 0.5")
    for key in (
        "recipe.max_steps",
        "recipe.batch_size",
        "recipe.max_length",
        "eval.max_new_tokens",
    ):
        value = _get(cfg, key)
        if value is not None and value <= 0:
            problems.append(f"{key}: {value} must be positive")
    if (lr := _get(cfg, "recipe.learning_rate")) is not None and not 0 < lr < 1:
        problems.append(f"recipe.learning_rate: {lr} must be between 0 and 1")
    if method == "rlhf" and not _get(cfg, "recipe.reward_model.steps"):
        problems.append(
            "recipe.reward_model.steps: rlhf optimises against a learned reward model; "
            "set it > 0 (stage reward trains it)"
        )
    if (gens := _get(cfg, "recipe.num_generations")) is not None:
        batch = _get(cfg, "recipe.batch_size") or 0
        if gens < 2 or batch % gens:
            problems.append(
                f"recipe.num_generations: {gens} must be at least 2 and divide "
                f"recipe.batch_size {batch}"
            )
    if (rank := _get(cfg, "recipe.lora_rank")) is not None and rank <= 0:
        problems.append(f"recipe.lora_rank: {rank} must be positive")

    source = _get(cfg, "model.source")
    if source == "tiny":
        tiny = _get(cfg, "model.tiny")
        if not tiny:
            problems.append("model.tiny: required when model.source is 'tiny'")
        elif tiny["hidden_size"] % tiny["num_heads"]:
            problems.append(
                f"model.tiny.num_heads: {tiny['num_heads']} does not divide "
                f"hidden_size {tiny['hidden_size']}"
            )
        elif (ml := _get(cfg, "recipe.max_length")) and ml > tiny["context_length"]:
            problems.append(
                f"recipe.max_length: {ml} exceeds model.tiny.context_length "
                f"{tiny['context_length']}"
            )
    if source == "hub":
        if not _get(cfg, "model.hub_id"):
            problems.append("model.hub_id: required when model.source is 'hub'")
        revision = _get(cfg, "model.revision")
        if not revision or not re.fullmatch(r"[0-9a-f]{40}", str(revision)):
            problems.append(
                f"model.revision: '{revision}' is not a pinned 40-hex commit "
                "(copy it from the model page's history)"
            )

    if isinstance(cfg.get("hardware"), dict):
        from forge.hardware.checks import check as check_hardware

        problems += check_hardware(cfg)
    return problems
