"""A run records itself: git SHA, library versions, seeds, input hashes (STYLE 8).

Two records, so that a rerun of the same inputs on a machine of the same kind writes the
same bytes into DVC's outputs: `manifest()` (beside the outputs, DVC-cached) holds only facts
that the inputs and the kind of machine decide (library versions, seeds, input hashes...);
`write_volatile()` puts what differs from run to run (the git commit, which is not yet the
one that will hold dvc.lock; the kernel version; wall-clock time) in `.forge/volatile/
<stage>.json`, untracked (.forge/ is gitignored) and outside every DVC output."""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import platform
import subprocess
import sys
from pathlib import Path
from typing import Any

LIBRARIES = (
    "forge",  # the installed Forge, whose packaged stages ran (forge.version)
    "torch",
    "transformers",
    "tokenizers",
    "peft",
    "trl",
    "accelerate",
    "datasets",
    "dvc",
    "dvclive",
    "hydra-core",
    "lm_eval",
)


def write_json(path: Path, data: Any) -> None:
    """The one way Forge writes a JSON result: parents made, keys sorted, trailing newline."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def file_hash(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def tree_hash(path: Path) -> str:
    """sha256 over (relative name, content hash) of every file under path."""
    if path.is_file():
        return file_hash(path)
    h = hashlib.sha256()
    for p in sorted(q for q in path.rglob("*") if q.is_file()):
        h.update(f"{p.relative_to(path).as_posix()}\0{file_hash(p)}\n".encode())
    return h.hexdigest()


def git_sha() -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True
        )
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"], capture_output=True, text=True
        ).stdout.strip()
        return out.stdout.strip() + ("-dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return None


def versions() -> dict[str, str]:
    """Python's and the libraries' versions, and the kind of system (not its kernel
    version, which differs between machines of the same kind: that is `volatile()`'s)."""
    out = {"python": sys.version.split()[0], "system": f"{platform.system()}-{platform.machine()}"}
    for lib in LIBRARIES:
        try:
            out[lib] = importlib.metadata.version(lib)
        except importlib.metadata.PackageNotFoundError:
            pass
    return out


def environment() -> dict[str, Any]:
    """The code a run ran with, as far as it decides the outputs: the library versions."""
    return {"versions": versions()}


VOLATILE_ROOT = Path(".forge/volatile")


def volatile() -> dict[str, Any]:
    """What a run ran on that differs between runs of the same inputs: the git commit (with
    "-dirty"; the commit that holds dvc.lock comes later) and the full platform string."""
    return {"git_sha": git_sha(), "platform": platform.platform()}


def write_volatile(stage: str, record: dict[str, Any]) -> Path:
    """.forge/volatile/<stage>.json: the last run's volatile facts (untracked, outside DVC's
    outputs), rewritten whole by each run of the stage."""
    path = VOLATILE_ROOT / f"{stage}.json"
    write_json(path, record)
    return path


def manifest(
    hashes: dict[str, str], seeds: dict[str, int], env: dict[str, Any] | None = None, **extra: Any
) -> dict[str, Any]:
    """What a run records beside its outputs; `hashes` are its inputs' tree hashes, `env`
    an `environment()` taken earlier (now if None). Nothing volatile goes in `extra`: that
    is write_volatile()'s."""
    return {
        **(env if env is not None else environment()),
        "seeds": seeds,
        "inputs": dict(sorted(hashes.items())),
        **extra,
    }
