"""Where a training process runs. `local` now; a Docker runtime plugs in behind the same call."""

from __future__ import annotations

from typing import Protocol


class Runtime(Protocol):
    name: str

    def run(self, argv: list[str], env: dict[str, str]) -> int:
        """Run argv to completion, streaming its output; return its exit code
        (128 + N when killed by signal N)."""
        ...


def get_runtime(name: str) -> Runtime:
    from forge.errors import ForgeError

    if name == "local":
        from forge.runtime.local import LocalRuntime

        return LocalRuntime()
    raise ForgeError(f"hardware.runtime: unknown runtime '{name}' (known: local)")
