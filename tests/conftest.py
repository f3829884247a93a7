"""Shared fixtures. Tests never touch the network or the hub."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
GIT_ENV = {
    "GIT_AUTHOR_NAME": "t",
    "GIT_AUTHOR_EMAIL": "t@t",
    "GIT_COMMITTER_NAME": "t",
    "GIT_COMMITTER_EMAIL": "t@t",
}
PROJECT_FILES = [
    "conf",
    "containers",  # as forge init writes them (hardware.runtime=docker builds from them)
    "forge",
    "data/raw",
    "data/cards",
    "dvc.yaml",
    "params.yaml",
    ".dvc/config",
    ".dvcignore",
    ".gitignore",
]


def sh(*args: str, cwd: Path, check: bool = True, **kw) -> subprocess.CompletedProcess:
    env = {**os.environ, **GIT_ENV, "PATH": f"{BIN}:{os.environ['PATH']}"}
    proc = subprocess.run(list(args), cwd=cwd, env=env, capture_output=True, text=True, **kw)
    if check and proc.returncode != 0:
        raise AssertionError(f"{args} exited {proc.returncode}\n{proc.stdout}\n{proc.stderr}")
    return proc


def make_project(dest: Path) -> Path:
    """A fresh Forge project (this repo's configs, stages and demo data) in its own git repo."""
    for rel in PROJECT_FILES:
        src = ROOT / rel
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        if src.is_dir():
            shutil.copytree(src, target, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(src, target)
    sh("git", "init", "-q", cwd=dest)
    sh("git", "add", "-A", cwd=dest)
    sh("git", "commit", "-qm", "init", cwd=dest)
    return dest


def make_probe_project(dest: Path, probe: str, dvc_yaml: str) -> Path:
    """A small real project without training: Forge's conf/ and params.yaml, real git and
    DVC, and one stage, stages/probe.py (`probe`'s text), declared by `dvc_yaml`."""
    shutil.copytree(ROOT / "conf", dest / "conf", ignore=shutil.ignore_patterns("__pycache__"))
    for rel in ("params.yaml", ".gitignore", ".dvcignore"):
        shutil.copy2(ROOT / rel, dest / rel)
    (dest / "stages").mkdir()
    (dest / "stages/probe.py").write_text(probe)
    (dest / "dvc.yaml").write_text(dvc_yaml)
    sh("git", "init", "-q", cwd=dest)
    sh(sys.executable, "-m", "dvc", "init", "-q", cwd=dest)
    sh("git", "add", "-A", cwd=dest)
    sh("git", "commit", "-qm", "init", cwd=dest)
    return dest


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return make_project(tmp_path / "proj")
