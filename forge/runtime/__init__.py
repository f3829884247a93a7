"""Where a training process runs: `local` (a child process) or `docker` (a container)."""

from __future__ import annotations

from forge.runtime.base import Job, Runtime

__all__ = ["Job", "Runtime", "get_runtime"]


def get_runtime(name: str) -> Runtime:
    from forge.errors import ForgeError

    if name == "local":
        from forge.runtime.local import LocalRuntime

        return LocalRuntime()
    if name == "docker":
        from forge.runtime.docker import DockerRuntime

        return DockerRuntime()
    raise ForgeError(f"hardware.runtime: unknown runtime '{name}' (known: local, docker)")
