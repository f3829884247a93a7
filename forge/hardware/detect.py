"""Detect the accelerator without importing torch, and resolve `hardware=auto`.

`conf/hardware/auto.yaml` reads `${forge_hw:KEY}`; the resolver is registered wherever
Forge's schemas are (forge compose, and DVC's Hydra composition through hydra_plugins/).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from functools import cache


@dataclass(frozen=True)
class Detected:
    name: str
    device: str
    precision: str
    gpus: tuple[str, ...] = ()


def _nvml_gpus() -> list[tuple[str, int, tuple[int, int]]]:
    """(name, total bytes, compute capability) per GPU; empty when NVML is absent."""
    try:
        import pynvml
    except ImportError:
        return []
    try:
        pynvml.nvmlInit()
    except pynvml.NVMLError:
        return []
    try:
        out = []
        for i in range(pynvml.nvmlDeviceGetCount()):
            h = pynvml.nvmlDeviceGetHandleByIndex(i)
            name = pynvml.nvmlDeviceGetName(h)
            name = name.decode() if isinstance(name, bytes) else name
            mem = pynvml.nvmlDeviceGetMemoryInfo(h).total
            cc = pynvml.nvmlDeviceGetCudaComputeCapability(h)
            out.append((name, mem, tuple(cc)))
        return out
    finally:
        pynvml.nvmlShutdown()


def _profile_for(name: str, total_bytes: int) -> str:
    """The shipped profile closest to this GPU (conf/hardware/<profile>.yaml)."""
    gib = total_bytes / 2**30
    lowered = name.lower()
    if "h100" in lowered or "h200" in lowered:
        return "h100_80gb"
    if "a100" in lowered and gib > 60:
        return "a100_80gb"
    return "cuda_generic"


@cache
def detect() -> Detected:
    gpus = _nvml_gpus()
    if not gpus:
        return Detected(name="cpu", device="cpu", precision="fp32")
    name, total, cc = gpus[0]
    precision = "bf16" if cc >= (8, 0) else "fp16"
    return Detected(
        name=_profile_for(name, total),
        device="cuda",
        precision=precision,
        gpus=tuple(g[0] for g in gpus),
    )


def resolve(key: str) -> str:
    """OmegaConf resolver body for `${forge_hw:KEY}`."""
    values = asdict(detect())
    if key not in values or key == "gpus":
        raise KeyError(f"forge_hw: unknown key {key!r}; use one of name, device, precision")
    return values[key]


def register_resolver() -> None:
    from omegaconf import OmegaConf

    if not OmegaConf.has_resolver("forge_hw"):
        OmegaConf.register_new_resolver("forge_hw", resolve)
