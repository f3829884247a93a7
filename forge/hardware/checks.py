"""Hardware checks run by `forge compose` and `forge validate`: values that do not go
together, GPU-only paths asked for on a machine without CUDA, and plans that do not fit."""

from __future__ import annotations

from typing import Any

from forge.hardware import memory
from forge.hardware.precision import NO_BF16


def _this_machine_has_cuda() -> bool:
    from forge.hardware.detect import detect

    return detect().gpu_count > 0


def check(cfg: dict[str, Any]) -> list[str]:
    hw: dict[str, Any] = cfg["hardware"]
    recipe: dict[str, Any] = cfg.get("recipe") or {}
    problems: list[str] = []
    for key in ("memory_gb", "peak_tflops"):
        if (value := hw.get(key)) is not None and value <= 0:
            problems.append(f"hardware.{key}: {value} must be positive")
    if (n := hw.get("num_processes")) is not None and n < 1:
        problems.append(f"hardware.num_processes: {n} must be at least 1")
    if (mfu := hw.get("mfu")) is not None and not 0 < mfu <= 1:
        problems.append(f"hardware.mfu: {mfu} must be in (0, 1]")
    if (price := hw.get("price_per_hour")) is not None and price < 0:
        problems.append(f"hardware.price_per_hour: {price} must not be negative")
    if problems:
        return problems

    device, quant, backend = hw.get("device"), hw.get("quantization"), hw.get("backend")
    precision = hw.get("precision")
    if quant in ("4bit", "8bit"):
        if device != "cuda":
            problems.append(
                f"hardware.quantization: '{quant}' needs hardware.device=cuda "
                "(bitsandbytes kernels); use quantization=none on cpu"
            )
        elif not _this_machine_has_cuda():
            problems.append(
                f"hardware.quantization: '{quant}' (bitsandbytes) needs a CUDA GPU and this "
                "machine has none (see `forge hw`); use hardware.quantization=none here, or "
                "compose on the GPU machine"
            )
        if recipe and "lora" not in recipe:
            problems.append(
                f"hardware.quantization: '{quant}' weights cannot be trained in full "
                f"(recipe {recipe.get('method')}); use a LoRA recipe (QLoRA), e.g. recipe=lora_sft"
            )
    if backend == "unsloth":
        if device != "cuda":
            problems.append(
                "hardware.backend: 'unsloth' needs hardware.device=cuda; use backend=hf on cpu"
            )
        elif not _this_machine_has_cuda():
            problems.append(
                "hardware.backend: 'unsloth' needs a CUDA GPU and this machine has none (see "
                "`forge hw`); use hardware.backend=hf (or auto) here, or compose on the GPU machine"
            )
        if hw.get("num_processes", 1) > 1:
            problems.append(
                "hardware.backend: 'unsloth' trains on one GPU; set hardware.num_processes=1 "
                "or hardware.backend=hf"
            )
    if precision == "bf16" and hw.get("architecture") in NO_BF16:
        problems.append(
            f"hardware.precision: 'bf16' is not supported on {hw.get('architecture')} GPUs "
            "(compute capability < 8.0); use hardware.precision=fp16"
        )
    if precision == "fp16" and device == "cpu":
        problems.append("hardware.precision: 'fp16' needs a GPU; use fp32 (or bf16) on cpu")
    if device == "cpu" and hw.get("num_processes", 1) > 1 and hw.get("strategy") != "ddp":
        problems.append(
            f"hardware.strategy: '{hw.get('strategy')}' needs CUDA; use hardware.strategy=ddp "
            "for several CPU processes"
        )
    if problems:
        return problems
    return memory.check(cfg)
