"""What `forge hw` reports: every GPU's identity, memory, capabilities and health, the
driver and CUDA versions, and the profile `hardware=auto` resolves to."""

from __future__ import annotations

import platform
from typing import Any

from forge.hardware.detect import Machine, profile_for, query


def report(machine: Machine | None = None) -> dict[str, Any]:
    machine = machine or query()
    first = machine.gpus[0] if machine.gpus else None
    profile = (
        profile_for(first.name, first.memory_total_bytes, first.compute_capability)
        if first
        else "cpu"
    )
    return {
        "device": "cuda" if machine.gpus else "cpu",
        "profile": profile,
        "gpu_count": len(machine.gpus),
        "gpus": [g.as_dict() for g in machine.gpus],
        "driver_version": machine.driver_version,
        "cuda_version": machine.cuda_version,
        "nvml": machine.nvml,
        "healthy": all(g.healthy for g in machine.gpus),
        "cpu": {
            "model": _cpu_model(),
            "cores": machine.cpu_count,
            "memory_total_gib": round(machine.memory_total_bytes / 2**30, 1),
            "bf16": True,  # torch runs bf16 on any x86-64/arm64 CPU (slowly without AMX)
        },
    }


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def lines(data: dict[str, Any]) -> list[str]:
    """The human-readable report, one fact per line."""
    cpu = data["cpu"]
    out = [f"cpu: {cpu['model']}, {cpu['cores']} cores, {cpu['memory_total_gib']} GiB RAM"]
    if not data["gpus"]:
        out.append(f"gpu: none (nvml: {data['nvml']})")
    else:
        out.append(f"driver: {data['driver_version']}, CUDA {data['cuda_version']}")
        for g in data["gpus"]:
            health = g["health"]
            issues = [r for r in health["throttle_reasons"] if r != "gpu_idle"]
            if health["ecc_errors_uncorrected"]:
                issues.insert(0, f"{health['ecc_errors_uncorrected']} uncorrected ECC errors")
            out.append(
                f"gpu {g['index']}: {g['name']} "
                f"({g['architecture']}, sm {g['compute_capability']}),"
                f" {g['memory_free_gib']:.1f}/{g['memory_total_gib']:.1f} GiB free,"
                f" bf16 {'yes' if g['bf16'] else 'no'}, fp8 {'yes' if g['fp8'] else 'no'},"
                f" util {g['utilization_pct']}%, {g['temperature_c']} C,"
                f" health {'ok' if health['ok'] else 'DEGRADED'}"
                + (f" ({', '.join(issues)})" if issues else "")
            )
    out.append(f"hardware=auto resolves to: {data['profile']}")
    return out
