"""Model references, as `forge chat` (and anything else that loads a model by name) takes
them, resolved to a directory on disk:

- nothing, or `candidate`: the workspace's candidate (the first artifact in dvc.yaml);
- a directory: used as it is (an adapter's base resolves against its git repository);
- `NAME@vX.Y.Z`: the commit GTO's version tag points at;
- `NAME#STAGE`: the version GTO has in that stage.

A version's files come out of the DVC cache, or the default remote, at the tagged commit
(`DVCFileSystem(rev=...)`), into `.forge/models/<commit>/` mirroring the repository's paths,
with the base an adapter was trained on beside it. The files are read, never trusted
blindly: what is fetched is what `dvc.lock` recorded at that commit.
"""

from __future__ import annotations

import json
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

import yaml

from forge.errors import ForgeError

NAME = re.compile(r"[a-z][a-z0-9_-]{0,63}")
VERSION = re.compile(r"v\d{1,6}\.\d{1,6}\.\d{1,6}")
STAGE = re.compile(r"[a-z][a-z0-9_-]{0,63}")
FETCHED = Path(".forge") / "models"


def commit_of(rev: str, repo: Path = Path("."), label: str = "revision") -> str:
    """The commit `rev` names in `repo` (forge promote --rev, forge report's revisions);
    one line naming `label` when it is option-like or names no commit."""
    if not rev or rev.startswith("-") or any(c in rev for c in "\n\r\0") or len(rev) > 200:
        raise ForgeError(f"{label} {rev[:60]!r}: not a revision name", hint="e.g. HEAD, a tag")
    proc = subprocess.run(
        ["git", "rev-parse", "--verify", "--quiet", "--end-of-options", f"{rev}^{{commit}}"],
        cwd=repo,
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        inside = subprocess.run(["git", "rev-parse", "--git-dir"], cwd=repo, capture_output=True)
        if inside.returncode != 0:
            where = repo if repo.is_absolute() else Path.cwd() / repo
            raise ForgeError(f"{where}: not a git repository", hint="run from a Forge project")
        raise ForgeError(
            f"{label} {rev!r}: not a commit in this repository",
            hint="give HEAD, a branch, a commit or a version tag like assistant@v1.0.0",
        )
    return proc.stdout.strip()


@dataclass(frozen=True)
class Resolved:
    """A model directory, the root its adapter's base path is relative to, and its label."""

    path: Path
    root: Path
    label: str


def _git(repo: Path, *args: str) -> str | None:
    proc = subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True)
    return proc.stdout.strip() if proc.returncode == 0 else None


def _artifacts(repo: Path, rev: str | None = None) -> dict:
    if rev is None:
        path = repo / "dvc.yaml"
        text = path.read_text() if path.is_file() else None
    else:
        text = _git(repo, "show", f"{rev}:dvc.yaml")
    if text is None:
        where = f"dvc.yaml at {rev[:7]}" if rev else str(repo / "dvc.yaml")
        raise ForgeError(f"{where}: not found", hint="run from a Forge project")
    return (yaml.safe_load(text) or {}).get("artifacts") or {}


def resolve(ref: str | None, repo: Path = Path(".")) -> Resolved:
    """`ref` as a model directory, fetched from DVC first when it names a registry version."""
    repo = repo.resolve()
    if ref is None or ref == "candidate":
        arts = _artifacts(repo)
        if not arts:
            raise ForgeError("dvc.yaml: no artifacts section", hint="name a model directory")
        name, spec = next(iter(arts.items()))
        return Resolved(repo / spec["path"], repo, f"{name} (candidate, workspace)")
    if ref.startswith("-") or any(c in ref for c in "\n\r\0"):
        raise ForgeError(f"{ref!r}: not a model reference", hint=_FORMS)
    if "@" in ref or "#" in ref:
        return _registry(ref, repo)
    path = Path(ref).expanduser()
    if path.is_dir():
        top = _git(path, "rev-parse", "--show-toplevel")
        return Resolved(path.resolve(), Path(top) if top else repo, str(path))
    if path.exists():
        raise ForgeError(f"{ref}: is a file, not a model directory", hint=_FORMS)
    raise ForgeError(f"{ref}: no such model directory or registry reference", hint=_FORMS)


_FORMS = "give the candidate (default), a directory, NAME@vX.Y.Z or NAME#STAGE"


def _registry(ref: str, repo: Path) -> Resolved:
    name, sep, rest = ref.partition("@") if "@" in ref else ref.partition("#")
    if not NAME.fullmatch(name):
        raise ForgeError(f"{ref!r}: {name!r} is not an artifact name", hint=_FORMS)
    if sep == "@":
        if not VERSION.fullmatch(rest):
            raise ForgeError(f"{ref!r}: {rest!r} is not a version like v1.2.3", hint=_FORMS)
        version = rest
    else:
        if not STAGE.fullmatch(rest):
            raise ForgeError(f"{ref!r}: {rest!r} is not a stage name", hint=_FORMS)
        version = _in_stage(repo, name, rest)
    commit = _git(repo, "rev-list", "-n", "1", f"refs/tags/{name}@{version}")
    if not commit:
        raise ForgeError(
            f"{name}@{version}: no such version tag", hint="`forge models` lists the versions"
        )
    spec = _artifacts(repo, commit).get(name)
    if not spec:
        raise ForgeError(f"{name}@{version}: dvc.yaml at {commit[:7]} has no artifact {name!r}")
    dest = repo / FETCHED / commit
    model = dest / spec["path"]
    _fetch(repo, commit, spec["path"], dest)
    adapter = model / "adapter_config.json"
    if adapter.is_file():
        base = json.loads(adapter.read_text()).get("base_model_name_or_path") or ""
        if base and not Path(base).is_absolute():
            _fetch(repo, commit, base, dest)
    return Resolved(model, dest, f"{name}@{version} ({commit[:7]})")


def _in_stage(repo: Path, name: str, stage: str) -> str:
    """The version in `stage`, as `forge models` and `gto show` have it."""
    from gto import api
    from gto.exceptions import GTOException

    try:
        shown = api.show(str(repo))
    except GTOException as exc:
        raise ForgeError(f"gto: {exc}") from exc
    version = ((shown.get(name) or {}).get("stage") or {}).get(stage)
    if not version:
        raise ForgeError(
            f"{name}#{stage}: no version is in stage {stage!r}",
            hint="`forge models` shows the stages",
        )
    return version


def _fetch(repo: Path, commit: str, path: str, dest: Path) -> None:
    """`path` as DVC tracked it at `commit`, into dest/path (skipped when already whole)."""
    target = dest / path
    marker = dest / f".{path.replace('/', '_')}.fetched"
    if marker.is_file() and target.exists():
        return
    from dvc.fs import DVCFileSystem

    try:
        fs = DVCFileSystem(repo=str(repo), rev=commit)
        target.parent.mkdir(parents=True, exist_ok=True)
        fs.get(path, str(target), recursive=True)
    except Exception as exc:  # dvc raises many kinds: missing cache, no remote, bad rev
        first = (str(exc).splitlines() or [type(exc).__name__])[0]
        raise ForgeError(
            f"{path} at {commit[:7]}: cannot fetch from the DVC cache or remote ({first})",
            hint="`dvc push` it from a machine that has it, or `dvc fetch` with a remote",
        ) from exc
    marker.write_text(commit + "\n")
