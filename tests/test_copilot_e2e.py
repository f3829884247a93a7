"""The co-pilot end to end (slow): `forge plan --write` on this machine, then `forge run
experiment=<slug>` passes the gate on the tiny model, with sentinel keys in the environment
and through `forge login`; a generated prepare stage runs in the same DAG; afterwards no
sentinel is anywhere in the work tree, params.yaml, dvc.lock, results/, the DVC cache, the
logs or git's objects."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from .conftest import BIN, GIT_ENV
from .test_copilot import (
    GOAL,
    KEY_VARS,
    _unjoined,
    messy_csv,
    needs_keyctl,
    needs_sandbox,
)

SENTINELS = {
    "GEMINI_API_KEY": "SENTINELgeminiENV7f3a9c",
    "GOOGLE_API_KEY": "SENTINELgoogleENV5e6f7a",
    "HF_TOKEN": "hf_SENTINELhfENV2b8d41e5f6a7b8c9d0e1f2a3",
}
LOGIN_SENTINELS = ("SENTINELgeminiLOGIN9d2e", "hf_SENTINELhfLOGIN0c1d2e3f4a5b6c7d8e9f0a1b2")


def secret_scan(root: Path, needles: list[str]) -> list[str]:
    """Every file under `root` (the work tree with params.yaml, dvc.lock, results/, the DVC
    cache in .dvc/cache and any log; and .git/ itself) and every git object (`git cat-file
    --batch-all-objects`, so packed ones too) that holds a needle."""
    found = []
    for p in root.rglob("*"):
        if p.is_file() and not p.is_symlink():
            data = p.read_bytes()
            found += [f"{p.relative_to(root)}: {n}" for n in needles if n.encode() in data]
    objects = subprocess.run(
        ["git", "cat-file", "--batch-all-objects", "--batch"], cwd=root, capture_output=True
    ).stdout
    assert objects, "git cat-file read no objects"
    found += [f"git objects: {n}" for n in needles if n.encode() in objects]
    return found


@pytest.mark.slow
@needs_sandbox
@needs_keyctl
def test_plan_then_run_passes_the_gate_and_leaves_no_secret(project: Path):
    messy_csv(project / "data/raw/tickets.csv")
    script = (
        "set -e\n"
        f"printf '{LOGIN_SENTINELS[0]}\\n{LOGIN_SENTINELS[1]}\\n' | forge login\n"
        f"forge plan '{GOAL}' --write\n"
        "forge prepare data/raw/tickets.csv --license MIT --source tickets\n"
        "forge run experiment=support_chatbot_answers_politely\n"
        "git add -A && git commit -qm 'planned run'\n"
        "forge logout\n"
    )
    base = {k: v for k, v in os.environ.items() if k not in KEY_VARS}
    env = {**base, **GIT_ENV, **SENTINELS, "PATH": f"{BIN}:{os.environ['PATH']}"}
    proc = _unjoined(
        subprocess.run(
            ["keyctl", "session", "-", "bash", "-c", script],
            cwd=project,
            env=env,
            capture_output=True,
            text=True,
        )
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "wrote conf/experiment/support_chatbot_answers_politely.yaml" in proc.stdout
    assert "gate: PASSED" in proc.stdout
    decision = json.loads((project / "results/gate/decision.json").read_text())
    assert decision["passed"]
    assert (project / "data/generated/tickets/data.jsonl").is_file()  # the generated stage ran
    lock = (project / "dvc.lock").read_text()
    assert "prepare_tickets:" in lock and "train:" in lock
    needles = [*SENTINELS.values(), *LOGIN_SENTINELS]
    assert secret_scan(project, needles) == []
    assert all(n not in proc.stdout + proc.stderr for n in needles)
