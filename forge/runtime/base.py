"""Where a training process runs: `local` (a child process) or `docker` (a container)."""

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
    if name == "docker":
        from forge.runtime.docker import DockerRuntime

        return DockerRuntime()
    raise ForgeError(f"hardware.runtime: unknown runtime '{name}' (known: local, docker)")
