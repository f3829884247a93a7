"""Time and money of a training run, from tokens and model FLOPs:

tokens          = max_steps * effective batch * max_length      (an upper bound: shorter
                                                                  sequences are padded less)
FLOPs per token = 6P + 12 L s h   full fine-tuning (forward 2P, backward 4P; attention
                  4P +  8 L s h   LoRA/QLoRA       scores per Kaplan et al. 2020); a frozen
                                                   base skips its weight gradients (2P)
seconds         = tokens * FLOPs per token / (peak FLOP/s * MFU * num_processes)
dollars         = seconds / 3600 * price_per_hour * num_processes
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from forge.hardware.memory import Plan, plan_from_config


@dataclass(frozen=True)
class Cost:
    tokens: int
    flops_per_token: float
    total_flops: float
    seconds: float
    dollars: float
    params: int
    peak_tflops: float
    mfu: float
    num_processes: int
    price_per_hour: float

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def flops_per_token(plan: Plan) -> float:
    s = plan.shape
    attention = 2 * s.num_layers * plan.seq_len * s.hidden_size
    if plan.kind == "full":
        return 3 * (2 * s.params + 2 * attention)
    return 2 * (2 * s.params + 2 * attention)


def estimate(cfg: dict[str, Any], tokens: int | None = None) -> Cost | None:
    """None when the model's shape cannot be known offline."""
    plan = plan_from_config(cfg)
    if plan is None:
        return None
    hw, recipe = cfg["hardware"], cfg["recipe"]
    if tokens is None:
        tokens = recipe["max_steps"] * plan.effective_batch * recipe["max_length"]
    per_token = flops_per_token(plan)
    total = tokens * per_token
    n = hw["num_processes"]
    seconds = total / (hw["peak_tflops"] * 1e12 * hw["mfu"] * n)
    return Cost(
        tokens=tokens,
        flops_per_token=per_token,
        total_flops=total,
        seconds=seconds,
        dollars=seconds / 3600 * hw["price_per_hour"] * n,
        params=plan.shape.params,
        peak_tflops=hw["peak_tflops"],
        mfu=hw["mfu"],
        num_processes=n,
        price_per_hour=hw["price_per_hour"],
    )


def duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"
