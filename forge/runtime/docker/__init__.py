"""Run a job (forge.runtime.base.Job) inside a Docker container (hardware.runtime=docker),
through the docker SDK.

- Image: one per target (`cpu`, `ampere`, `ada`, `hopper`, `blackwell`), picked from the
  detected GPU's compute capability and built from `containers/Dockerfile.<target>` when
  missing. Its tag hashes the Dockerfile, the pins and the build args, so a change rebuilds.
- Container: long-lived (`sleep infinity` under `--init`), keyed by image, the job's
  cache_key (the model it works on) and workspace, and reused by the next run. It mounts
  the workspace at the same path (so every path in a job's command means the same thing
  inside), the HF cache, and the host's `forge` package read-only (so the container runs
  the host's Forge code).
- A run is a `docker exec` as the host's uid:gid. Its environment (secrets included) goes
  to that exec only: never into the container's config, labels, logs or files.
  Output streams to this process and is kept in the container's log file for
  `forge container logs`. The exit code comes back as is (128 + N for signal N);
  a failed run removes its container.

The package: engine.py (the client, ContainerError), images.py (targets, pins, Dockerfiles,
tags, the build), wheelhouse.py (the build's local wheel index), containers.py (lifecycle,
naming, mounts, a run's environment and command), runtime.py (DockerRuntime).
"""

from forge.runtime.docker.containers import (
    HF_CACHE_IN,
    LOG_PATH,
    container_argv,
    container_env,
    forge_containers,
)
from forge.runtime.docker.engine import LABEL, ContainerError, connect, engine_url
from forge.runtime.docker.images import (
    TARGETS,
    build_image,
    detect_target,
    dockerfile,
    find_image,
    gpu_capability,
    image_requirements,
    image_tag,
    target_for,
)
from forge.runtime.docker.runtime import DockerRuntime

__all__ = [
    "HF_CACHE_IN",
    "LABEL",
    "LOG_PATH",
    "TARGETS",
    "ContainerError",
    "DockerRuntime",
    "build_image",
    "connect",
    "container_argv",
    "container_env",
    "detect_target",
    "dockerfile",
    "engine_url",
    "find_image",
    "forge_containers",
    "gpu_capability",
    "image_requirements",
    "image_tag",
    "target_for",
]
