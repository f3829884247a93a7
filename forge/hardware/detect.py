"""Detect the accelerator without importing torch, and resolve `hardware=auto`.

nvidia-ml-py (NVML) reads the GPUs; with no driver or no GPU the machine is a CPU. The
detected machine maps to one shipped profile in conf/hardware/ (a named GPU such as
a100_80gb, else the generic profile of its architecture, else cpu). `conf/hardware/auto.yaml`
reads every field through `${forge_hw:KEY}`, which returns that profile's value, so
params.yaml holds concrete values. The resolver is registered wherever Forge's schemas are
(forge compose, and DVC's Hydra composition through hydra_plugins/).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from forge.errors import HardwareError

# Compute capability (major, minor) -> architecture. Later entries win for their major.
ARCHITECTURES = {
    (7, 0): "volta",
    (7, 2): "volta",
    (7, 5): "turing",
    (8, 0): "ampere",
    (8, 6): "ampere",
    (8, 7): "ampere",
    (8, 9): "ada",
    (9, 0): "hopper",
    (10, 0): "blackwell",
    (10, 3): "blackwell",
    (11, 0): "blackwell",
    (12, 0): "blackwell",
    (12, 1): "blackwell",
}
# Profiles in conf/hardware/ for a GPU that no named profile matches, by architecture.
GENERIC_PROFILES = {"ampere": "ampere", "ada": "ada", "hopper": "hopper", "blackwell": "blackwell"}
THROTTLE_REASONS = {
    0x1: "gpu_idle",
    0x2: "applications_clocks_setting",
    0x4: "sw_power_cap",
    0x8: "hw_slowdown",
    0x10: "sync_boost",
    0x20: "sw_thermal_slowdown",
    0x40: "hw_thermal_slowdown",
    0x80: "hw_power_brake_slowdown",
    0x100: "display_clock_setting",
}
# Reasons that mean the GPU runs slower than it should (idle and app clocks are benign).
HARMFUL_THROTTLE = {"hw_slowdown", "sw_thermal_slowdown", "hw_thermal_slowdown"} | {
    "hw_power_brake_slowdown"
}


def architecture(cc: tuple[int, int]) -> str:
    if cc in ARCHITECTURES:
        return ARCHITECTURES[cc]
    same_major = [arch for (major, _), arch in ARCHITECTURES.items() if major == cc[0]]
    if same_major:
        return same_major[-1]
    return "blackwell" if cc >= (10, 0) else "pre-volta"


def supports_bf16(cc: tuple[int, int]) -> bool:
    return cc >= (8, 0)


def supports_fp8(cc: tuple[int, int]) -> bool:
    return cc >= (8, 9)


@dataclass(frozen=True)
class Gpu:
    index: int
    name: str
    memory_total_bytes: int
    memory_free_bytes: int
    compute_capability: tuple[int, int]
    utilization_pct: int | None = None
    temperature_c: int | None = None
    ecc_corrected: int | None = None  # None: ECC off or not supported
    ecc_uncorrected: int | None = None
    throttle_reasons: tuple[str, ...] = ()

    @property
    def architecture(self) -> str:
        return architecture(self.compute_capability)

    @property
    def healthy(self) -> bool:
        return not self.ecc_uncorrected and not HARMFUL_THROTTLE & set(self.throttle_reasons)

    def as_dict(self) -> dict[str, Any]:
        cc = self.compute_capability
        return {
            "index": self.index,
            "name": self.name,
            "architecture": self.architecture,
            "compute_capability": f"{cc[0]}.{cc[1]}",
            "memory_total_gib": round(self.memory_total_bytes / 2**30, 2),
            "memory_free_gib": round(self.memory_free_bytes / 2**30, 2),
            "bf16": supports_bf16(cc),
            "fp8": supports_fp8(cc),
            "utilization_pct": self.utilization_pct,
            "temperature_c": self.temperature_c,
            "health": {
                "ok": self.healthy,
                "ecc_errors_corrected": self.ecc_corrected,
                "ecc_errors_uncorrected": self.ecc_uncorrected,
                "throttle_reasons": list(self.throttle_reasons),
            },
        }


@dataclass(frozen=True)
class Machine:
    gpus: tuple[Gpu, ...] = ()
    driver_version: str | None = None
    cuda_version: str | None = None
    nvml: str = "not installed"  # 'ok', or why NVML gave nothing
    cpu_count: int = field(default_factory=lambda: os.cpu_count() or 1)
    memory_total_bytes: int = field(default_factory=lambda: _ram_bytes())


def _ram_bytes() -> int:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return 0


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _optional(call, *args) -> Any:
    """An NVML query that some GPUs or drivers do not support: None instead of an error."""
    import pynvml

    try:
        return call(*args)
    except pynvml.NVMLError:
        return None


def _read_gpu(pynvml: Any, index: int) -> Gpu:
    h = pynvml.nvmlDeviceGetHandleByIndex(index)
    mem = pynvml.nvmlDeviceGetMemoryInfo(h)
    util = _optional(pynvml.nvmlDeviceGetUtilizationRates, h)
    ecc_on = _optional(pynvml.nvmlDeviceGetEccMode, h)
    ecc: dict[int, int | None] = {0: None, 1: None}
    if ecc_on and ecc_on[0]:
        for kind in ecc:
            ecc[kind] = _optional(
                pynvml.nvmlDeviceGetTotalEccErrors, h, kind, pynvml.NVML_VOLATILE_ECC
            )
    reasons_fn = getattr(pynvml, "nvmlDeviceGetCurrentClocksEventReasons", None) or (
        pynvml.nvmlDeviceGetCurrentClocksThrottleReasons
    )
    mask = _optional(reasons_fn, h) or 0
    return Gpu(
        index=index,
        name=_text(pynvml.nvmlDeviceGetName(h)),
        memory_total_bytes=int(mem.total),
        memory_free_bytes=int(mem.free),
        compute_capability=tuple(pynvml.nvmlDeviceGetCudaComputeCapability(h)),  # type: ignore[arg-type]
        utilization_pct=None if util is None else int(util.gpu),
        temperature_c=_optional(pynvml.nvmlDeviceGetTemperature, h, pynvml.NVML_TEMPERATURE_GPU),
        ecc_corrected=ecc[pynvml.NVML_MEMORY_ERROR_TYPE_CORRECTED],
        ecc_uncorrected=ecc[pynvml.NVML_MEMORY_ERROR_TYPE_UNCORRECTED],
        throttle_reasons=tuple(r for bit, r in THROTTLE_REASONS.items() if mask & bit),
    )


def query() -> Machine:
    """Everything NVML says about this machine's GPUs; a CPU machine when it says nothing."""
    try:
        import pynvml
    except ImportError:
        return Machine()
    try:
        pynvml.nvmlInit()
    except pynvml.NVMLError as exc:
        return Machine(nvml=f"no NVIDIA driver ({_text(exc)})")
    try:
        gpus = tuple(_read_gpu(pynvml, i) for i in range(pynvml.nvmlDeviceGetCount()))
        cuda = _optional(pynvml.nvmlSystemGetCudaDriverVersion)
        return Machine(
            gpus=gpus,
            driver_version=_text(pynvml.nvmlSystemGetDriverVersion()),
            cuda_version=f"{cuda // 1000}.{cuda % 1000 // 10}" if cuda else None,
            nvml="ok",
        )
    finally:
        pynvml.nvmlShutdown()


def profile_for(gpu_name: str, total_bytes: int, cc: tuple[int, int]) -> str:
    """The shipped profile closest to this GPU (conf/hardware/<profile>.yaml)."""
    gib = total_bytes / 2**30
    lowered = gpu_name.lower()
    if "h100" in lowered and gib > 70:
        return "h100_80gb"
    if "a100" in lowered and gib > 70:
        return "a100_80gb"
    return GENERIC_PROFILES.get(architecture(cc), "cuda_generic")


@dataclass(frozen=True)
class Detected:
    """What `hardware=auto` resolves from: the profile, plus measured facts that replace
    the profile's nominal ones on a GPU machine (VRAM, GPU count)."""

    profile: str
    gpu_count: int = 0
    memory_gb: float | None = None  # smallest GPU's VRAM, GiB


@cache
def detect() -> Detected:
    gpus = query().gpus
    if not gpus:
        return Detected(profile="cpu")
    first = gpus[0]
    return Detected(
        profile=profile_for(first.name, first.memory_total_bytes, first.compute_capability),
        gpu_count=len(gpus),
        memory_gb=round(min(g.memory_total_bytes for g in gpus) / 2**30, 1),
    )


_conf_dir: list[Path] = [Path("conf")]


def load_profile(name: str, conf_dir: Path | None = None) -> dict[str, Any]:
    """conf/hardware/<name>.yaml's values (its defaults list dropped)."""
    import yaml

    path = (conf_dir or _conf_dir[0]) / "hardware" / f"{name}.yaml"
    if not path.is_file():
        raise HardwareError(
            f"hardware=auto detected profile '{name}', but {path} does not exist; "
            f"add it or pick a profile with hardware=NAME"
        )
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    data.pop("defaults", None)
    return data


def resolve(key: str) -> Any:
    """OmegaConf resolver body for `${forge_hw:KEY}`: the detected profile's value."""
    from dataclasses import MISSING, fields

    from forge.config.schema import HardwareConfig

    found = detect()
    values = {
        f.name: f.default_factory() if f.default_factory is not MISSING else f.default
        for f in fields(HardwareConfig)
        if f.default is not MISSING or f.default_factory is not MISSING
    }
    values.update(load_profile(found.profile))
    if found.gpu_count:  # measured beats nominal
        values["memory_gb"] = found.memory_gb
        values["num_processes"] = found.gpu_count
    if key not in values:
        raise HardwareError(
            f"forge_hw: profile '{found.profile}' has no key {key!r} (keys: {', '.join(values)})"
        )
    return values[key]


def register_resolver(conf_dir: Path | None = None) -> None:
    """Register `${forge_hw:KEY}`; `conf_dir` is where profiles are read (default ./conf)."""
    from omegaconf import OmegaConf

    if conf_dir is not None:
        _conf_dir[0] = Path(conf_dir)
    if not OmegaConf.has_resolver("forge_hw"):
        OmegaConf.register_new_resolver("forge_hw", resolve)
