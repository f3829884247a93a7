"""Training containers: one long-lived container per (image, model, workspace), its mounts,
its name, and what a run's exec gets (its environment and command)."""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path
from typing import Any

from forge.runtime.docker.engine import LABEL, ContainerError

LOG_PATH = "/tmp/forge-train.log"
PID_PATH = "/tmp/forge-train.pid"
HF_CACHE_IN = "/hf-cache"
FORGE_IN = "/opt/forge"
# The forge package, mounted read-only so the container runs the host's Forge code.
FORGE_PACKAGE = Path(__file__).resolve().parents[2]
# Host variables that name host paths or the host's Python; the container has its own.
HOST_ONLY = re.compile(
    r"^(PATH|HOME|PWD|OLDPWD|SHELL|USER|LOGNAME|TMPDIR|VIRTUAL_ENV|PYTHON(HOME|PATH|STARTUP)"
    r"|HF_HOME|HF_HUB_CACHE|HF_DATASETS_CACHE|TRANSFORMERS_CACHE|LD_\w+|CONDA_\w+|DOCKER_\w+"
    r"|SSH_\w+|DISPLAY|TERM\w*|LS_COLORS|HOSTNAME|_)$"
)


def hf_cache() -> Path:
    home = os.environ.get("HF_HOME") or Path.home() / ".cache" / "huggingface"
    return Path(home).resolve()


def container_name(image_id: str, cache_key: str, workspace: Path) -> str:
    key = hashlib.sha256(f"{image_id}\n{cache_key}\n{workspace}".encode()).hexdigest()[:12]
    return f"forge-train-{key}"


def ensure_container(
    client, tag: str, target: str, cache_key: str, workspace: Path
) -> tuple[Any, bool]:
    """The running container for (image, cache key, workspace); (container, reused). The
    cache key (the job's model) is shown as the container's base model."""
    from docker.errors import APIError, NotFound

    image = client.images.get(tag)
    name = container_name(image.id, cache_key, workspace)
    try:
        container = client.containers.get(name)
    except NotFound:
        container = None
    if container is not None:
        if container.status != "running":
            container.start()
        return container, True
    cache = hf_cache()
    cache.mkdir(parents=True, exist_ok=True)
    kwargs: dict[str, Any] = {}
    if target != "cpu":
        from docker.types import DeviceRequest

        kwargs["device_requests"] = [DeviceRequest(count=-1, capabilities=[["gpu"]])]
        kwargs["shm_size"] = "8g"
    try:
        container = client.containers.run(
            tag,
            ["sleep", "infinity"],
            name=name,
            detach=True,
            init=True,
            labels={
                LABEL: "1",
                "forge.target": target,
                "forge.image": tag,
                "forge.base_model": cache_key,
                "forge.workspace": str(workspace),
            },
            volumes={
                str(workspace): {"bind": str(workspace), "mode": "rw"},
                str(cache): {"bind": HF_CACHE_IN, "mode": "rw"},
                str(FORGE_PACKAGE): {
                    "bind": f"{FORGE_IN}/forge",
                    "mode": "ro",
                },
            },
            working_dir=str(workspace),
            **kwargs,
        )
    except APIError as exc:
        gpu = target != "cpu" and "gpu" in str(exc.explanation)
        raise ContainerError(
            f"cannot start container {name}: {exc.explanation}",
            hint="install the NVIDIA Container Toolkit, or use hardware.runtime=local"
            if gpu
            else "forge container cleanup --all, then rerun",
        ) from exc
    return container, False


def forge_containers(client, all_states: bool = True) -> list[Any]:
    return client.containers.list(all=all_states, filters={"label": LABEL})


def container_env(env: dict[str, str]) -> dict[str, str]:
    """What a run's exec gets: the caller's environment less host paths, plus the container's
    own HOME and HF cache. Secrets (HF_TOKEN, ...) pass here, to this exec only."""
    out = {k: v for k, v in env.items() if not HOST_ONLY.match(k)}
    out.update(HOME="/tmp", HF_HOME=HF_CACHE_IN, PYTHONPATH=FORGE_IN, PYTHONDONTWRITEBYTECODE="1")
    return out


def container_argv(argv: list[str]) -> list[str]:
    """The host's interpreter or launcher becomes the image's (found on its PATH)."""
    head = Path(argv[0]).name
    return ["python3" if head.startswith("python") else head, *argv[1:]]
