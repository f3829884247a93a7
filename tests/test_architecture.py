"""The import-linter contracts in pyproject.toml hold, and each one breaks on a planted import
(issue 11 item 6).

The contracts state forge's layers: config knows no trainer, data no trainer, the registry
never trains, the runtime runs commands without knowing what they train, recipes do not know
the pipeline, no cycles inside a package, and one layers contract for the whole tree.
`make lint` runs the same `lint-imports`.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"


def lint_imports(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    """`lint-imports` on the `forge` package that `cwd` holds (import-linter puts cwd first on
    sys.path; PYTHONPATH makes sure, ahead of the editable install of the real tree)."""
    assert LINT_IMPORTS.exists(), f"{LINT_IMPORTS} missing: pip install -e '.[dev]'"
    env = {**os.environ, "PYTHONPATH": str(cwd)}
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-logo", "--no-cache", *args, "pyproject.toml"],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_contracts_hold():
    proc = lint_imports(ROOT)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    assert "0 broken" in out, out


# contract id -> (file in forge/ to plant into, planted line, what the report must name)
PLANTS = {
    "layers": (
        "evaluate/gate.py",
        "from forge.train import run",
        "forge.evaluate.gate -> forge.train.run",
    ),
    "config": (
        "config/schema.py",
        "from forge.train import supervisor",
        "forge.config.schema -> forge.train.supervisor",
    ),
    "data": (
        "data/prepare.py",
        "from forge.model import load",
        "forge.data.prepare -> forge.model.load",
    ),
    "registry": (
        "registry/promote.py",
        "from forge.train import supervisor",
        "forge.registry.promote -> forge.train.supervisor",
    ),
    "runtime": (
        "runtime/local.py",
        "from forge.recipes import registry",
        "forge.runtime.local -> forge.recipes.registry",
    ),
    "recipes": (
        "recipes/sft.py",
        "from forge.evaluate import run",
        "forge.recipes.sft -> forge.evaluate.run",
    ),
    # worker imports run already; the report names the package whose children form the cycle
    "acyclic": (
        "train/run.py",
        "from forge.train import worker",
        "cycles are allowed in forge.train",
    ),
}


@pytest.mark.parametrize("contract", sorted(PLANTS))
def test_planted_violation_breaks_the_contract(tmp_path, contract):
    """A copy of forge/ with one import planted: its contract reports BROKEN, naming the import.
    The planted import is not in the real tree, so the report naming it shows that the copy,
    not the installed forge, was analysed."""
    path, line, named = PLANTS[contract]
    shutil.copytree(
        ROOT / "forge", tmp_path / "forge", ignore=shutil.ignore_patterns("__pycache__")
    )
    shutil.copy2(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    planted = tmp_path / "forge" / path
    planted.write_text(planted.read_text() + f"\n{line}  # planted\n")

    proc = lint_imports(tmp_path, "--contract", contract)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0, out
    assert "0 kept, 1 broken" in out, out
    assert named in out, out
