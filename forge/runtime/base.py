"""Where a training process runs: `local` (a child process) or `docker` (a container).

A runtime runs a `Job`: a command, its environment, and the little it needs to pick where
(the device, for the container image) and what to reuse (the cache key, for the container).
It never learns what the command trains."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class Job:
    """One command for a runtime to run. It says where and with what, never what it trains."""

    argv: list[str]  # the command, e.g. [sys.executable, "-m", "forge.train.worker", "RUN_FILE"]
    env: dict[str, str]  # its environment (secrets go to this process/exec only)
    device: str = "cpu"  # cpu or cuda: picks the container image target
    # identity of the model it works on (e.g. "tiny@<sha>" or "hub@<revision>"); a reused
    # container is keyed by image, this and the workspace
    cache_key: str = ""


class Runtime(Protocol):
    name: str

    def run(self, job: Job) -> int:
        """Run the job's command to completion, streaming its output; return its exit code
        (128 + N when killed by signal N)."""
        ...
