"""DockerRuntime: a job runs as a `docker exec` in its reused container, streaming its
output; the exit code comes back as is, and a failed run removes its container.

A run killed by SIGKILL (exit 137) is checked for the OOM killer first: docker's
State.OOMKilled, or the container's memory cgroup counting one more oom_kill than before the
run. The record goes to `last["oom_record"]`, where the supervisor reads it as the kernel's
(a container's cgroup is not the supervisor's, so its own count cannot see it)."""

from __future__ import annotations

import os
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from forge.runtime.base import Job
from forge.runtime.docker.containers import (
    PID_PATH,
    container_argv,
    container_env,
    ensure_container,
)
from forge.runtime.docker.engine import ContainerError, connect
from forge.runtime.docker.images import detect_target, ensure_image

# The run's wrapper inside the container: log both streams, record the child's pid (for
# forwarding a signal), and exit with the child's status (bash reports 128 + N on signal N).
WRAPPER = r"""
log=/tmp/forge-train.log
printf '== forge %s: %s\n' "$(date -u +%FT%TZ)" "$*" >> "$log"
"$@" > >(tee -a "$log") 2> >(tee -a "$log" >&2) &
child=$!
echo "$child" > /tmp/forge-train.pid
trap 'kill -TERM "$child" 2>/dev/null' TERM INT
while :; do wait "$child"; code=$?; kill -0 "$child" 2>/dev/null || break; done
printf '== forge exit %s\n' "$code" >> "$log"
exit "$code"
"""
# The container's own memory cgroup (cgroup v2, else v1), as seen from inside it
OOM_PROBE = (
    "cat /sys/fs/cgroup/memory.events 2>/dev/null || "
    "cat /sys/fs/cgroup/memory/memory.oom_control 2>/dev/null"
)


def oom_kill_count(text: str) -> int | None:
    """The `oom_kill N` line of memory.events (v2) or memory.oom_control (v1)."""
    for line in text.splitlines():
        key, _, value = line.strip().partition(" ")
        if key == "oom_kill" and value.strip().isdigit():
            return int(value)
    return None


def _oom_kills(client: Any, container: Any) -> int | None:
    from docker.errors import APIError

    try:
        exec_id = client.api.exec_create(container.id, ["sh", "-c", OOM_PROBE])["Id"]
        out = client.api.exec_start(exec_id)
    except APIError:
        return None
    return oom_kill_count(out.decode("utf-8", "replace") if isinstance(out, bytes) else "")


def oom_record(client: Any, container: Any, before: int | None) -> str | None:
    """Evidence that the OOM killer ended the run in `container`, else None."""
    from docker.errors import APIError

    try:
        container.reload()
        if (container.attrs.get("State") or {}).get("OOMKilled"):
            return f"container {container.name}: State.OOMKilled"
    except APIError:
        pass
    after = _oom_kills(client, container)
    if before is not None and after is not None and after > before:
        return f"container {container.name}: cgroup oom_kill {before} -> {after}"
    return None


class DockerRuntime:
    name = "docker"

    def __init__(self, echo: Callable[[str], None] | None = None) -> None:
        self.echo = echo or (lambda line: print(line, file=sys.stderr, flush=True))
        self.last: dict[str, Any] = {}

    def run(self, job: Job) -> int:
        from docker.errors import APIError

        client = connect()
        target = detect_target(job.device)
        tag = ensure_image(client, target, self.echo)
        workspace = Path.cwd().resolve()
        started = time.time()
        container, reused = ensure_container(client, tag, target, job.cache_key, workspace)
        self.last = {
            "container": container.name,
            "image": tag,
            "reused": reused,
            "start_s": round(time.time() - started, 2),
        }
        self.echo(f"forge: {'reusing' if reused else 'started'} container {container.name} ({tag})")
        kills = _oom_kills(client, container)
        exec_id = client.api.exec_create(
            container.id,
            ["bash", "-c", WRAPPER, "forge-run", *container_argv(job.argv)],
            environment=container_env(job.env),
            workdir=str(workspace),
            user=f"{os.getuid()}:{os.getgid()}",
        )["Id"]

        def forward(signum, _frame):  # stop the run inside, not just this client
            client.api.exec_start(
                client.api.exec_create(
                    container.id, ["bash", "-c", f"kill -{signum} $(cat {PID_PATH})"]
                )
            )

        previous = {s: signal.signal(s, forward) for s in (signal.SIGTERM, signal.SIGINT)}
        try:
            for out, err in client.api.exec_start(exec_id, stream=True, demux=True):
                if out:
                    sys.stdout.buffer.write(out)
                    sys.stdout.flush()
                if err:
                    sys.stderr.buffer.write(err)
                    sys.stderr.flush()
            code = client.api.exec_inspect(exec_id)["ExitCode"]
        except APIError as exc:
            raise ContainerError(f"container {container.name}: {exc.explanation}") from exc
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        if code is None:
            code = 1
        if code == 128 + signal.SIGKILL:
            self.last["oom_record"] = oom_record(client, container, kills)
        if code != 0:
            self.echo(f"forge: run failed (exit {code}); removing container {container.name}")
            container.remove(force=True)
        self.last["exit_code"] = code
        return code
