"""forge init: a Forge project in any git repo, with no Forge source in it (issue 16 item 1).

The default tier runs init into temporary directories and checks what it writes; the slow
test pip-installs Forge from this checkout into a fresh virtualenv (a real wheel build) and
runs `forge init && forge run` in an empty git repo, with no Forge source in reach."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest
import yaml

from .conftest import BIN, GIT_ENV, ROOT, sh
from .test_verify import check_verify_catches_forged_metrics
from .test_workflows import actionlint, needs_actionlint

FORGE = str(BIN / "forge")


def tree(root: Path) -> dict[str, str]:
    """Every file under root but .git, with its content hash."""
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file() and ".git" not in p.relative_to(root).parts[:1]
    }


def init(dest: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    return sh(FORGE, "init", str(dest), *args, cwd=dest.parent, check=check)


def test_init_writes_a_project_without_forge_source(tmp_path):
    dest = tmp_path / "mine"
    out = init(dest).stdout
    assert "initialized git" in out and "initialized dvc" in out and "committed" in out
    files = tree(dest)
    for needed in (
        "conf/config.yaml",
        "conf/eval/tasks/reverse_choice.yaml",
        "dvc.yaml",
        "params.yaml",
        ".dvc/config",
        "data/raw/demo.jsonl",
        "data/cards/demo.yaml",
        "containers/Dockerfile.cpu",
        ".github/workflows/pipeline.yml",
        ".github/workflows/promote.yml",
        ".gitignore",
        ".dvcignore",
        "README.md",
    ):
        assert needed in files, needed
    assert not [f for f in files if f.endswith(".py")]  # no Forge source, no stage scripts
    assert set((ROOT / "conf").rglob("*.yaml")) and all(
        (dest / p.relative_to(ROOT)).read_bytes() == p.read_bytes()
        for p in (ROOT / "conf").rglob("*.yaml")
    )

    ours = yaml.safe_load((ROOT / "dvc.yaml").read_text())
    theirs = yaml.safe_load((dest / "dvc.yaml").read_text())
    assert list(theirs["stages"]) == list(ours["stages"])
    assert theirs["artifacts"] == ours["artifacts"] and theirs["metrics"] == ours["metrics"]
    for name, stage in theirs["stages"].items():
        assert stage["cmd"] == f"python -m forge.stages.{name}"
        assert "forge.version" in stage["params"]
        deps = [d for d in ours["stages"][name].get("deps", []) if not d.startswith("forge/")]
        assert stage.get("deps", []) == deps  # the project's inputs, every one kept
        assert stage["outs"] == ours["stages"][name]["outs"]
    assert "forge/" not in (dest / "dvc.yaml").read_text().replace("forge/stages", "")

    params = yaml.safe_load((dest / "params.yaml").read_text())
    assert (
        params["forge"]["version"]
        == sh(
            sys.executable,
            "-c",
            "import importlib.metadata as m; print(m.version('forge'))",
            cwd=dest,
        ).stdout.strip()
    )
    assert "forge compose" in (dest / "params.yaml").read_text().splitlines()[0]
    sh(FORGE, "compose", "--check", cwd=dest)
    assert "autostage = True" in (dest / ".dvc/config").read_text()
    assert "hydra" in (dest / ".dvc/config").read_text()
    log = sh("git", "log", "--format=%s", cwd=dest).stdout.split()
    assert log == ["forge", "init"]
    status = sh("git", "status", "--porcelain", cwd=dest).stdout
    assert status == ""  # everything init wrote is in that commit


def test_a_second_init_changes_nothing(tmp_path):
    dest = tmp_path / "p"
    init(dest)
    before = tree(dest)
    out = init(dest).stdout
    assert "nothing to do" in out
    assert tree(dest) == before


def test_init_refuses_to_overwrite_and_lists_every_file_then_force_overwrites(tmp_path):
    dest = tmp_path / "p"
    (dest / "conf").mkdir(parents=True)
    (dest / "conf/config.yaml").write_text("mine: true\n")
    (dest / "dvc.yaml").write_text("stages: {}\n")
    sh("git", "init", "-q", cwd=dest)
    before = tree(dest)
    proc = init(dest, check=False)
    assert proc.returncode == 2  # bad input, as for every refused command
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("forge: error: ")
    assert "2 file(s) exist with other content: conf/config.yaml, dvc.yaml" in lines[0]
    assert "--force" in lines[0] and "Traceback" not in proc.stderr
    assert tree(dest) == before  # nothing written, not even .dvc/

    init(dest, "--force")
    assert (dest / "conf/config.yaml").read_bytes() == (ROOT / "conf/config.yaml").read_bytes()
    assert "forge.stages.train" in (dest / "dvc.yaml").read_text()


def test_init_in_an_existing_repo_keeps_its_files_and_adds_missing_lines(tmp_path):
    dest = tmp_path / "p"
    dest.mkdir()
    sh("git", "init", "-q", cwd=dest)
    (dest / ".gitignore").write_text("secrets.env\n.venv/\n")
    (dest / "README.md").write_text("# My project\n\nMine.\n")
    (dest / "app.py").write_text("print('mine')\n")
    sh("git", "add", "-A", cwd=dest)
    sh("git", "commit", "-qm", "mine", cwd=dest)
    out = init(dest).stdout
    assert "committed" not in out  # a repo with history: the user commits
    gitignore = (dest / ".gitignore").read_text().splitlines()
    assert gitignore[:2] == ["secrets.env", ".venv/"]
    assert gitignore.count(".venv/") == 1 and "/models/candidate" in gitignore
    readme = (dest / "README.md").read_text()
    assert readme.startswith("# My project\n\nMine.\n") and readme.count("## Forge") == 1
    assert (dest / "app.py").read_text() == "print('mine')\n"
    init(dest)
    assert (dest / "README.md").read_text() == readme  # the section is added once


def test_forge_run_outside_a_project_or_before_a_commit_says_what_to_do(tmp_path):
    proc = sh(FORGE, "compose", cwd=tmp_path, check=False)
    assert proc.returncode != 0 and "forge init" in proc.stderr
    sh("git", "init", "-q", cwd=tmp_path)
    sh(FORGE, "init", "--force", cwd=tmp_path)
    sh("git", "update-ref", "-d", "HEAD", cwd=tmp_path)  # as if the commit never happened
    proc = sh(FORGE, "run", cwd=tmp_path, check=False)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "forge: error: this git repository has no commit yet (DVC and dvclive record runs "
        "against one) (commit the project first: git add -A && git commit -m 'forge init')"
    ]


@needs_actionlint
def test_the_projects_workflows_pass_actionlint(tmp_path):
    dest = tmp_path / "p"
    init(dest)
    for wf in ("pipeline.yml", "promote.yml"):
        text = (dest / ".github/workflows" / wf).read_text()
        assert "make setup" not in text and '-e "' not in text and "FORGE_PACKAGE" in text
        proc = actionlint(dest / ".github/workflows" / wf)
        assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.slow
def test_pip_install_then_init_and_run_pass_the_gate_with_no_forge_source(tmp_path):
    """Forge built as a wheel from this checkout into a fresh virtualenv (its dependencies
    are this environment's, reached through a .pth file, so nothing is downloaded), then in
    an empty git repo: `forge init && forge run` passes the gate on the tiny default."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    pure = Path(sysconfig.get_paths()["purelib"])  # this environment's site-packages
    site = next((venv / "lib").glob("python3*/site-packages"))
    (site / "deps.pth").write_text(f"{pure}\n")
    py = venv / "bin/python"
    # this pip, run for the new interpreter; the build uses this environment's setuptools
    sh(sys.executable, "-m", "pip", "--python", str(py), "install", "-q", "--no-deps",
       "--no-build-isolation", str(ROOT), cwd=tmp_path)  # fmt: skip
    where = sh(str(py), "-c", "import forge; print(forge.__file__)", cwd=tmp_path).stdout
    assert where.startswith(str(site)), where  # the installed wheel, not this checkout

    project = tmp_path / "empty"
    project.mkdir()
    sh("git", "init", "-q", cwd=project)
    env = {
        **os.environ,
        **GIT_ENV,
        "PATH": f"{venv / 'bin'}:{os.environ['PATH']}",
        "PYTHONPATH": "",
        "HF_HUB_OFFLINE": "1",
    }
    for argv in (["forge", "init"], ["forge", "run"]):
        proc = subprocess.run(argv, cwd=project, env=env, capture_output=True, text=True)
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "gate: PASSED" in proc.stdout or "passed" in proc.stdout.lower(), proc.stdout[-2000:]
    decision = json.loads((project / "results/gate/decision.json").read_text())
    assert decision["passed"] is True

    tracked = sh("git", "ls-files", cwd=project).stdout.split()
    assert not [f for f in tracked if f.endswith(".py") or f.startswith("forge/")]
    lock = yaml.safe_load((project / "dvc.lock").read_text())
    for name, stage in lock["stages"].items():
        assert stage["cmd"] == f"python -m forge.stages.{name}"
        assert not [d["path"] for d in stage.get("deps", []) if d["path"].startswith("forge/")]
        assert stage["params"]["params.yaml"]["forge.version"] == "0.1.0"
    manifest = json.loads((project / "models/candidate/manifest.json").read_text())
    assert manifest["versions"]["forge"] == "0.1.0"

    # promote --verify works in it, and catches forged metrics (tests/test_verify.py)
    check_verify_catches_forged_metrics(project, str(venv / "bin/forge"))
