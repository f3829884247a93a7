"""Evaluations: the paired-bootstrap comparison of two revisions, and the evaluations the
repo holds (results/eval/metrics.json at HEAD and at each registered version)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

from forge.errors import ForgeError

METRICS = "results/eval/metrics.json"


def compare(
    baseline: str,
    candidate: str,
    tolerance: float | None = None,
    confidence: float | None = None,
) -> dict[str, Any]:
    """Metric, both scores, delta and its interval, P(worse), n and `regressed`; the
    tolerance and confidence default to params.yaml's gates."""
    from forge.config.params import load_group
    from forge.evaluate.compare import compare_revs

    gates = load_group("gates")
    return compare_revs(
        Path("."),
        baseline,
        candidate,
        gates.regression_tolerance if tolerance is None else tolerance,
        gates.regression_confidence if confidence is None else confidence,
    ).as_dict()


def _show(rev: str, path: str) -> str | None:
    proc = subprocess.run(["git", "show", f"{rev}:{path}"], capture_output=True, text=True)
    return proc.stdout if proc.returncode == 0 else None


def list_evals() -> list[dict[str, Any]]:
    """One row per evaluation: id (`workspace`, `HEAD` or a version tag), commit, metrics."""
    rows: list[dict[str, Any]] = []
    if Path(METRICS).is_file():
        rows.append({"id": "workspace", "commit": None, **_metrics(Path(METRICS).read_text())})
    head = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True)
    revs = ["HEAD"] if head.returncode == 0 else []
    tags = subprocess.run(["git", "tag", "--list", "*@v*"], capture_output=True, text=True)
    revs += tags.stdout.split()
    for rev in revs:
        text = _show(rev, METRICS)
        if text is None:
            continue
        commit = subprocess.run(
            ["git", "rev-list", "-n1", rev], capture_output=True, text=True
        ).stdout.strip()
        rows.append({"id": rev, "commit": commit, **_metrics(text)})
    return rows


def _metrics(text: str) -> dict[str, Any]:
    try:
        data = json.loads(text)
    except ValueError:
        return {"metrics": {}}
    return {"metrics": data if isinstance(data, dict) else {}}


def run(model: str, suite: str = "default") -> dict[str, Any]:
    """Queue an evaluation of a registered version (NAME@vX.Y.Z, NAME#STAGE, or NAME at
    HEAD) with an eval suite (conf/eval/SUITE.yaml): a run at the version's commit whose
    config is that commit's params.yaml overrides plus `eval=SUITE`, so only evaluate and
    what follows it rerun (train comes from the DVC cache). Returns the queued run."""
    import io
    import shutil
    import tarfile
    import tempfile

    from forge.api import runs
    from forge.api.ids import check, check_model_ref
    from forge.config import compose as c
    from forge.registry.lineage import resolve

    check_model_ref(model)
    check("eval suite", suite)
    _, commit, label = resolve(Path("."), model)
    params = _show(commit, "params.yaml")
    if params is None or not params.startswith(c.HEADER):
        raise ForgeError(f"{label}: its commit has no params.yaml written by forge compose")
    overrides = [
        o for o in c.recorded_overrides(params, Path("params.yaml")) if not o.startswith("eval=")
    ]
    tmp = Path(tempfile.mkdtemp(prefix="forge-eval-conf-"))
    try:
        archive = subprocess.run(["git", "archive", commit, "conf"], capture_output=True)
        if archive.returncode != 0:
            raise ForgeError(f"{label}: no conf/ at {commit[:7]}")
        with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
            tar.extractall(tmp, filter="data")
        if not (tmp / "conf" / "eval" / f"{suite}.yaml").is_file():
            raise ForgeError(f"eval suite '{suite}': no conf/eval/{suite}.yaml at {label}")
        record = runs.launch([*overrides, f"eval={suite}"], commit, tmp / "conf", kind="eval")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return {**record, "model": label}
