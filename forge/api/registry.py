"""The model registry (GTO tags): promote, rollback, models, lineage, and model references
resolved to a directory (forge/registry/)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from forge.errors import ForgeError


def promote(
    name: str,
    stage: str,
    version: str | None = None,
    bump: str | None = None,
    verify: bool = False,
    rev: str | None = None,
) -> dict[str, Any]:
    """Tag the checked-out commit NAME@vX.Y.Z and NAME#STAGE#N when every gate holds;
    PromotionRefused (one problem per failed check) otherwise. `unchanged` when the version
    already holds the stage."""
    from forge.registry.promote import promote as tag

    if version and bump:
        raise ForgeError("--version and --bump: give one, not both")
    return tag(Path("."), name, stage, version=version, bump=bump, verify=verify, rev=rev)


def rollback(name: str, stage: str, allow_unverified: bool = False) -> dict[str, Any]:
    """Give STAGE back to the version that held it before the current one."""
    from forge.registry.promote import rollback as back

    return back(Path("."), name, stage, allow_unverified=allow_unverified)


def deprecate(name: str, stage: str) -> dict[str, Any]:
    """Take STAGE away from the version that holds it (no version holds it afterwards)."""
    from forge.registry.promote import deprecate as withdraw

    return withdraw(Path("."), name, stage)


_models_cache: dict[str, Any] = {}


def models() -> dict[str, Any]:
    """Per artifact: latest version, stages, headline metrics per version, unverified tags.

    Everything in it is read from git tags and the commits they point at, so it is cached
    per (project, tags): any new, moved or deleted tag reads it afresh (a server answers
    GET /models from the cache in ~10 ms instead of running GTO each time)."""
    import copy
    import subprocess

    from forge.registry.promote import models as shown

    refs = subprocess.run(["git", "show-ref", "--tags"], capture_output=True, text=True)
    key = f"{Path('.').resolve()}\n{refs.returncode}\n{refs.stdout}"
    cached = _models_cache.get("value")
    if cached is None or _models_cache.get("key") != key:
        cached = shown(Path("."))
        _models_cache.update(key=key, value=cached)
    return copy.deepcopy(cached)


def lineage(ref: str) -> dict[str, Any]:
    """From NAME, NAME@vX.Y.Z or NAME#STAGE to its metrics, config, base model and data."""
    from forge.registry.lineage import lineage as walk

    return walk(Path("."), ref)


def resolve_model(ref: str | None) -> dict[str, str]:
    """A model reference (candidate, a directory, NAME@vX.Y.Z, NAME#STAGE) as a directory
    on disk, fetched from DVC where it names a version: {path, root, label}."""
    from forge.registry.refs import resolve

    r = resolve(ref)
    return {"path": r.path.as_posix(), "root": r.root.as_posix(), "label": r.label}
