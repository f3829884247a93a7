"""The one meaning of `hardware.precision: auto`, for the loader, the launcher and the memory
estimator alike: bf16 on a GPU whose architecture has it (Ampere and later), fp16 on older
GPUs, fp32 on CPU. It reads the profile only, so planning and training agree without torch."""

from __future__ import annotations

NO_BF16 = ("pre-volta", "volta", "turing")


def resolve_precision(precision: str, device: str, architecture: str) -> str:
    """`precision` with `auto` resolved for this device and architecture."""
    if precision != "auto":
        return precision
    if device != "cuda":
        return "fp32"
    return "fp16" if architecture in NO_BF16 else "bf16"
