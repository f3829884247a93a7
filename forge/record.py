"""A run records itself: git SHA, library versions, seeds, input hashes (STYLE 8)."""

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
    out = {"python": sys.version.split()[0], "platform": platform.platform()}
    for lib in LIBRARIES:
        try:
            out[lib] = importlib.metadata.version(lib)
        except importlib.metadata.PackageNotFoundError:
            pass
    return out


def environment() -> dict[str, Any]:
    """The code a run ran with: the git commit and the library versions."""
    return {"git_sha": git_sha(), "versions": versions()}


def manifest(
    hashes: dict[str, str], seeds: dict[str, int], env: dict[str, Any] | None = None, **extra: Any
) -> dict[str, Any]:
    """What a run records beside its outputs; `hashes` are its inputs' tree hashes, `env`
    an `environment()` taken earlier (now if None)."""
    return {
        **(env if env is not None else environment()),
        "seeds": seeds,
        "inputs": dict(sorted(hashes.items())),
        **extra,
    }
