"""GPU placement for sweep points, by the memory estimator (forge/hardware/memory.py).

A point needs `devices` GPUs (hardware.num_processes) with `gib` free on each (its
estimate per device, CUDA context included). A GPU takes another point while the
estimates on it fit its memory, so small LoRA jobs pack several to a GPU; a full
fine-tune that fills a GPU gets it alone. Pure: the inventory is data, so it is tested
with simulated GPUs."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Need:
    """What one point asks of the GPUs."""

    gib: float  # per device
    devices: int = 1


@dataclass
class Inventory:
    """Free memory per GPU index; `place` and `release` keep it up to date."""

    total: dict[int, float]
    used: dict[int, float] = field(default_factory=dict)

    @classmethod
    def of(cls, memory_gib: list[float]) -> Inventory:
        return cls(total=dict(enumerate(memory_gib)))

    def free(self, index: int) -> float:
        return self.total[index] - self.used.get(index, 0.0)

    def fits_ever(self, need: Need) -> bool:
        return sum(1 for t in self.total.values() if t >= need.gib) >= need.devices

    def place(self, need: Need) -> tuple[int, ...] | None:
        """The GPUs for `need`, best fit (the fullest GPUs that still fit, so large jobs
        keep finding empty ones), or None when they are not free now."""
        fit = [i for i in self.total if self.free(i) + 1e-9 >= need.gib]
        if len(fit) < need.devices:
            return None
        chosen = tuple(sorted(sorted(fit, key=lambda i: (self.free(i), i))[: need.devices]))
        for i in chosen:
            self.used[i] = self.used.get(i, 0.0) + need.gib
        return chosen

    def release(self, gpus: tuple[int, ...], need: Need) -> None:
        for i in gpus:
            self.used[i] = max(0.0, self.used.get(i, 0.0) - need.gib)


def pack(needs: list[Need], memory_gib: list[float]) -> list[tuple[int, ...] | None]:
    """All points at once, in order: each one's GPUs, or None for a point that must wait
    for others to finish. What the first wave of a sweep looks like."""
    inv = Inventory.of(memory_gib)
    return [inv.place(n) for n in needs]


def cuda_visible_devices(gpus: tuple[int, ...]) -> str:
    return ",".join(str(i) for i in gpus)
