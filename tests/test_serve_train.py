"""POST /runs/launch trains for real (issue 15, done-when): a temporary clone of this demo
repo (its DVC cache copied, so base and prepare come from the run-cache), `forge serve`
on a loopback port, a lean run launched over HTTP, and GET /runs/{id}/metrics showing the
loss falling while and after it trains. The repo's workspace is untouched: the run is a
DVC experiment made in its own clone and fetched in as refs/exps/..."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest

from .conftest import ROOT, sh
from .test_serve import WRITE, call, start_server, stop_server

pytestmark = pytest.mark.slow

LEAN = ["recipe.max_steps=40", "recipe.eval_steps=0", "eval.limit=20"]


def test_a_launched_run_trains_and_its_loss_falls(tmp_path: Path):
    project = tmp_path / "demo"
    sh("git", "clone", "-q", str(ROOT), str(project), cwd=tmp_path)
    if (ROOT / ".dvc/cache").is_dir():
        shutil.copytree(ROOT / ".dvc/cache", project / ".dvc/cache")
    before = sh("git", "status", "--porcelain", cwd=project).stdout
    proc, url = start_server(project, {"FORGE_API_KEYS": f"write:{WRITE}"})
    try:
        r = call(url, "POST", "/runs/launch", key=WRITE, json={"overrides": LEAN})
        assert r.status_code == 202, r.text
        run_id = r.json()["run_id"]
        deadline = time.monotonic() + 600
        live: list[dict] = []
        while True:
            run = call(url, "GET", f"/runs/{run_id}", key=WRITE).json()
            if run["status"] == "running":  # dvclive's series as it trains (not the baseline's)
                series = call(url, "GET", f"/runs/{run_id}/metrics", key=WRITE).json()["series"]
                live = series.get("loss") or live
            if run["status"] in ("done", "failed", "cancelled"):
                break
            assert time.monotonic() < deadline, run
            time.sleep(1)
        assert run["status"] == "done", run.get("error")
        loss = call(url, "GET", f"/runs/{run_id}/metrics", key=WRITE).json()["series"]["loss"]
        assert len(loss) >= 4
        first, last = loss[0]["value"], loss[-1]["value"]
        assert last < 0.8 * first, loss  # measured: 3.20 -> 2.16 in 40 steps
        assert live and live == loss[: len(live)], (live, loss)  # seen live, then kept
        tail = call(url, "GET", f"/runs/{run_id}/metrics?last_n=2", key=WRITE).json()
        assert tail["series"]["loss"] == loss[-2:]
        assert run["decision"] is not None and "eval/candidate/exact_match" in run["metrics"]
        sh("git", "rev-parse", "--verify", run["exp_ref"], cwd=project)
        assert sh("git", "status", "--porcelain", cwd=project).stdout == before
        sh("git", "fsck", "--no-progress", cwd=project)
        print(f"live points seen while training: {len(live)}; loss {first:.3f} -> {last:.3f}")
    finally:
        stop_server(proc)
