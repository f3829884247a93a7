"""The CLI as a user sees it: exact output, exit codes, no torch at start-up."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from .conftest import BIN, ROOT, sh


def forge(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return sh(str(BIN / "forge"), *args, cwd=cwd, check=False)


def test_help_does_not_import_torch():
    code = (
        "import sys; sys.argv=['forge','--help']\n"
        "from forge.cli.main import main\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "heavy = [m for m in ('torch', 'transformers', 'trl', 'dvc') if m in sys.modules]\n"
        "print('HEAVY', heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert "HEAVY []" in out.stdout, out.stdout + out.stderr


def test_typo_is_one_line_exit_2():
    proc = forge("compose", "recipe.lora.rnak=8")
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert proc.stderr == "forge: error: recipe.lora.rnak: unknown key; did you mean 'rank'?\n"


def test_out_of_range_is_one_line_exit_2():
    proc = forge("compose", "recipe.lora.dropout=1.0")
    assert (proc.returncode, proc.stdout) == (2, "")
    assert proc.stderr == "forge: error: recipe.lora.dropout: 1.0 is outside [0, 1)\n"


def test_debug_shows_the_traceback():
    proc = forge("compose", "recipe.lora.rnak=8", "--debug")
    assert proc.returncode != 0
    assert "Traceback (most recent call last)" in proc.stderr


def test_compose_and_check(project: Path):
    proc = forge("compose", "recipe.max_steps=7", cwd=project)
    assert (proc.returncode, proc.stdout) == (0, "wrote params.yaml (recipe.max_steps=7)\n")
    proc = forge("compose", "--check", cwd=project)
    assert (proc.returncode, proc.stdout) == (0, "params.yaml matches conf/\n")
    params = project / "params.yaml"
    params.write_text(params.read_text().replace("max_steps: 7", "max_steps: 8"))
    proc = forge("compose", "--check", cwd=project)
    assert proc.returncode == 1
    assert "-  max_steps: 8" in proc.stdout and "+  max_steps: 7" in proc.stdout
    assert "forge compose recipe.max_steps=7" in proc.stderr


def test_validate_writes_nothing(project: Path):
    before = (project / "params.yaml").read_text()
    proc = forge("validate", "recipe=full_sft", cwd=project)
    assert proc.stdout == (
        "valid: recipe=full_sft model=tiny data=demo hardware=cpu eval=default gates=default\n"
    )
    assert (project / "params.yaml").read_text() == before


def test_missing_conf_dir(tmp_path: Path):
    proc = forge("compose", cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stderr == (
        "forge: error: conf/config.yaml not found (run from a Forge project, or `forge init`)\n"
    )
