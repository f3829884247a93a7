"""Forge's training containers and images (hardware.runtime=docker, forge/runtime/docker/)."""

from __future__ import annotations


def cleanup(all_: bool = False, images: bool = False) -> dict[str, list[str]]:
    """Remove Forge's stopped training containers (every one with `all_`) and, with
    `images`, its images no container uses: {containers, images} removed."""
    from forge.runtime import docker as d

    client = d.connect()
    removed: dict[str, list[str]] = {"containers": [], "images": []}
    for c in d.forge_containers(client):
        if all_ or c.status != "running":
            c.remove(force=True)
            removed["containers"].append(c.name)
    if images:
        for image in client.images.list(filters={"label": d.LABEL}):
            in_use = {c.image.id for c in d.forge_containers(client)}
            if image.id in in_use:
                continue
            client.images.remove(image.id, force=True)
            removed["images"].extend(image.tags or [image.short_id])
    return removed
