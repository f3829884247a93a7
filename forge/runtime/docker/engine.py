"""The Docker engine: one client for DOCKER_HOST, and the error every part of the docker
runtime raises."""

from __future__ import annotations

import os

from forge.errors import ForgeError

LABEL = "forge.managed"  # on every image and container Forge makes


class ContainerError(ForgeError):
    """The Docker engine, an image build or a container refused; says what to do."""

    exit_code = 1


def engine_url() -> str:
    return os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")


def connect():
    """A docker client for DOCKER_HOST (or the default socket), or one clear error."""
    try:
        import docker
        from docker.errors import DockerException
    except ImportError as exc:
        raise ContainerError(
            "the docker runtime needs the docker SDK", hint="pip install docker==7.2.0"
        ) from exc
    try:
        client = docker.from_env(timeout=120)
        client.ping()
    except (DockerException, OSError) as exc:  # requests' ConnectionError is an OSError
        raise ContainerError(
            f"no Docker engine at {engine_url()}",
            hint="start dockerd, set DOCKER_HOST, or use hardware.runtime=local",
        ) from exc
    return client
