"""forge container build|status|list|logs|cleanup [--json]: the training images and containers
that hardware.runtime=docker uses (forge/runtime/docker/)."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import typer

app = typer.Typer(help="Training images and containers (hardware.runtime=docker).")


def _echo_json(data: Any) -> None:
    typer.echo(json.dumps(data, indent=2, sort_keys=True))


def _row(c) -> dict[str, Any]:
    labels = c.labels
    return {
        "name": c.name,
        "status": c.status,
        "target": labels.get("forge.target", ""),
        "image": labels.get("forge.image", ""),
        "base_model": labels.get("forge.base_model", ""),
        "workspace": labels.get("forge.workspace", ""),
        "created": c.attrs.get("Created", "")[:19],
    }


@app.command("build")
def build(
    target: str = typer.Argument(
        None, help="cpu, ampere, ada, hopper or blackwell (default: detected from the GPU)."
    ),
    base_image: str = typer.Option(
        None, "--base-image", help="Override the Dockerfile's BASE_IMAGE (e.g. a local mirror)."
    ),
    wheels: Path = typer.Option(
        None,
        "--wheels",
        help="Fill this wheelhouse with the pinned wheels using this machine's pip, and "
        "install from it (the build then needs no index).",
    ),
    force: bool = typer.Option(False, "--force", help="Rebuild even if the image exists."),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """Build the training image for a target from `containers/Dockerfile.<target>`."""
    from forge.runtime import docker as d

    target = target or d.detect_target("cuda" if d.gpu_capability() else "cpu")
    client = d.connect()
    tag = d.image_tag(target, base_image)
    started = time.time()
    built = force or d.find_image(client, tag) is None
    if built:
        echo = (lambda line: None) if as_json else (lambda line: typer.echo(line, err=True))
        d.build_image(client, target, base_image=base_image, wheels=wheels, echo=echo)
    image = client.images.get(tag)
    result = {
        "target": target,
        "image": tag,
        "id": image.id,
        "built": built,
        "seconds": round(time.time() - started, 1),
        "size_mb": round(image.attrs.get("Size", 0) / 1e6),
    }
    if as_json:
        _echo_json(result)
    else:
        verb = "built" if built else "up to date"
        typer.echo(f"{tag}: {verb} ({result['size_mb']} MB, {result['seconds']} s)")


@app.command("status")
def status(as_json: bool = typer.Option(False, "--json", help="Print as JSON.")) -> None:
    """The engine, the image this machine's target needs, and this workspace's containers."""
    from forge.runtime import docker as d

    client = d.connect()
    version = client.version()
    target = d.detect_target("cuda" if d.gpu_capability() else "cpu")
    base_image = os.environ.get("FORGE_CONTAINER_BASE_IMAGE") or None
    tag = d.image_tag(target, base_image)
    workspace = str(Path.cwd().resolve())
    data = {
        "engine": d.engine_url(),
        "engine_version": version.get("Version", ""),
        "target": target,
        "image": tag,
        "image_built": d.find_image(client, tag) is not None,
        "containers": [
            _row(c)
            for c in d.forge_containers(client)
            if c.labels.get("forge.workspace") == workspace
        ],
    }
    if as_json:
        _echo_json(data)
        return
    typer.echo(f"engine: {data['engine']} (Docker {data['engine_version']})")
    typer.echo(f"target: {target}")
    typer.echo(f"image: {tag} ({'built' if data['image_built'] else 'not built'})")
    for row in data["containers"] or [{"name": "(none for this workspace)"}]:
        typer.echo(f"container: {row['name']} {row.get('status', '')}".rstrip())


@app.command("list")
def list_(
    as_json: bool = typer.Option(False, "--json", help="Print as JSON."),
) -> None:
    """Every Forge training container on this engine."""
    from forge.runtime import docker as d

    rows = [_row(c) for c in d.forge_containers(d.connect())]
    if as_json:
        _echo_json(rows)
        return
    from rich.console import Console
    from rich.table import Table

    table = Table("name", "status", "target", "image", "base model", "workspace")
    for r in rows:
        table.add_row(
            r["name"], r["status"], r["target"], r["image"], r["base_model"], r["workspace"]
        )
    Console().print(table)


@app.command("logs")
def logs(
    name: str = typer.Argument(None, help="Container name (default: this workspace's only one)."),
    tail: int = typer.Option(0, "--tail", help="Only the last N lines (0: all)."),
    as_json: bool = typer.Option(False, "--json", help="Print as JSON: {name, lines}."),
) -> None:
    """The training output kept in a container (every run since it was created)."""
    from forge.runtime import docker as d

    client = d.connect()
    container = _pick(client, name)
    code, out = container.exec_run(["cat", d.LOG_PATH])
    lines = out.decode(errors="replace").splitlines() if code == 0 else []
    if tail:
        lines = lines[-tail:]
    if as_json:
        _echo_json({"name": container.name, "lines": lines})
    else:
        for line in lines:
            typer.echo(line)


def _pick(client, name: str | None):
    from forge.runtime import docker as d

    containers = d.forge_containers(client)
    if name:
        match = [c for c in containers if c.name == name]
        if not match:
            raise d.ContainerError(
                f"no Forge container named '{name}'", hint="forge container list shows them"
            )
        return match[0]
    workspace = str(Path.cwd().resolve())
    mine = [c for c in containers if c.labels.get("forge.workspace") == workspace]
    if len(mine) != 1:
        raise d.ContainerError(
            f"{len(mine)} Forge containers for this workspace; name one",
            hint="forge container list shows them",
        )
    return mine[0]


@app.command("cleanup")
def cleanup(
    all_: bool = typer.Option(
        False, "--all", help="Also remove running containers (default: stopped ones only)."
    ),
    images: bool = typer.Option(False, "--images", help="Also remove Forge's training images."),
    as_json: bool = typer.Option(False, "--json", help="Print what was removed as JSON."),
) -> None:
    """Remove Forge's training containers (and, with --images, its images)."""
    from forge.api.containers import cleanup as remove

    removed = remove(all_=all_, images=images)
    if as_json:
        _echo_json(removed)
    else:
        typer.echo(
            f"removed {len(removed['containers'])} container(s)"
            + (f", {len(removed['images'])} image(s)" if images else "")
        )
