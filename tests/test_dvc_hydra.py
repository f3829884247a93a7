"""`dvc exp run -S` composes conf/ into the same params.yaml as `forge compose`."""

from __future__ import annotations

from pathlib import Path

from forge.config import compose as c

from .conftest import sh


def test_dvc_exp_run_writes_what_forge_compose_writes(project: Path):
    overrides = [
        "recipe=full_sft",
        "recipe.learning_rate=0.0007",
        "eval.limit=5",
        "data.path=data/raw/mine.csv",  # resolves forge_for_path in DVC's process too
    ]
    # Queue (not run) an experiment: DVC composes params.yaml into the experiment's stash.
    sh(
        "dvc",
        "exp",
        "run",
        "--queue",
        "-S",
        ",".join(overrides[:1]),
        *[a for o in overrides[1:] for a in ("-S", o)],
        cwd=project,
    )
    stash = sh("git", "rev-parse", "refs/exps/celery/stash", cwd=project).stdout.strip()
    dvc_text = sh("git", "show", f"{stash}:params.yaml", cwd=project).stdout
    forge_text = c.render(c.compose(overrides, project / "conf"), overrides)
    header, body = forge_text.split("\n", 1)
    assert header.startswith(c.HEADER)
    assert dvc_text == body
    assert "method: full_sft" in dvc_text and "learning_rate: 0.0007" in dvc_text
    # another data.path is a whole data config: format detection and no demo pairs
    assert "  format: auto\n" in dvc_text and "  preference_path: null\n" in dvc_text


def test_dvc_refuses_a_typo_too(project: Path):
    proc = sh("dvc", "exp", "run", "--queue", "-S", "recipe.lora_rnak=8", cwd=project, check=False)
    assert proc.returncode != 0
    assert "lora_rnak" in proc.stdout + proc.stderr
