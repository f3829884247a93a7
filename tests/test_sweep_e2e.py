"""forge sweep for real on the tiny model: DVC experiments in a temporary git repo, the
shared stages run once, -j 2, a killed sweep rerun, a Ray head, submitit's local executor.

Stage executions are counted independently of forge and DVC: a sitecustomize on the
stages' PYTHONPATH appends the name of every `python -m forge.stages.<stage>` that starts to a
file."""

from __future__ import annotations

import collections
import glob
import json
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

from forge.config import compose as c

from .conftest import BIN, GIT_ENV, make_project, sh

pytestmark = pytest.mark.slow
FAST = ["recipe.max_steps=3", "eval.limit=4", "model.tiny.pretrain_steps=5"]
COUNTER = """
import os, sys
log = os.environ.get("FORGE_TEST_STAGE_LOG")
argv = getattr(sys, "orig_argv", [])  # at startup, before -m has set sys.argv[0]
if log and "-m" in argv[:-1] and argv[argv.index("-m") + 1].startswith("forge.stages."):
    with open(log, "a") as f:
        f.write(argv[argv.index("-m") + 1][len("forge.stages."):] + "\\n")
"""


@pytest.fixture(scope="module")
def proj(tmp_path_factory) -> tuple[Path, Path, dict[str, str]]:
    root = tmp_path_factory.mktemp("sweep")
    project = make_project(root / "proj")
    site = root / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(COUNTER)
    log = root / "stages.log"
    env = {
        **GIT_ENV,
        "PYTHONPATH": str(site),
        "FORGE_TEST_STAGE_LOG": str(log),
        "PATH": f"{BIN}:{os.environ['PATH']}",
    }
    return project, log, env


def ran_since(log: Path, mark: int) -> collections.Counter:
    lines = log.read_text().splitlines() if log.is_file() else []
    return collections.Counter(lines[mark:])


def points_ran(counts: collections.Counter) -> dict[str, int]:
    """The stages a point runs; the shared ones run at most once (0: an earlier test's
    upstream is reused from the run's lock entries)."""
    assert all(counts[s] <= 1 for s in ("base", "prepare", "sft", "reward")), counts
    return {s: n for s, n in counts.items() if s not in ("base", "prepare", "sft", "reward")}


def lines(log: Path) -> int:
    return len(log.read_text().splitlines()) if log.is_file() else 0


def forge(project: Path, env: dict[str, str], *args: str, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(BIN / "forge"), "sweep", *args],
        cwd=project,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        **kw,
    )


def summary_of(project: Path, out: str) -> dict:
    sid = next(line for line in out.splitlines() if "results/sweeps/" in line)
    sid = sid.split("results/sweeps/")[1].split(".json")[0]
    return json.loads((project / f"results/sweeps/{sid}.json").read_text())


def test_two_points_at_j2_share_upstream_and_become_experiments(proj):
    project, log, env = proj
    mark = lines(log)
    proc = forge(project, env, "recipe.learning_rate=1e-3,3e-3", *FAST, "-j", "2",
                 "--metric", "eval/candidate/perplexity")  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    # upstream once: N train points, exactly 1 base and 1 prepare (and warm start, reward)
    assert ran_since(log, mark) == {
        "base": 1, "prepare": 1, "sft": 1, "reward": 1,
        "train": 2, "contract": 2, "evaluate": 2, "gate": 2,
    }  # fmt: skip
    summary = summary_of(project, proc.stdout)
    assert summary["upstream"]["ran"] == ["base", "prepare", "sft", "reward"]
    names = [p["name"] for p in summary["points"]]
    for p in summary["points"]:
        assert p["status"] == "done" and p["ran"] == ["train", "contract", "evaluate", "gate"]
        assert p["reused"] == ["base", "prepare", "sft", "reward"]
        # the experiment's params.yaml is what forge compose writes for that point
        text = sh("git", "show", f"{p['exp_sha']}:params.yaml", cwd=project).stdout
        assert text == c.render(c.compose(p["overrides"], project / "conf"), p["overrides"])
    shown = sh(str(BIN / "dvc"), "exp", "show", "--csv", cwd=project).stdout
    assert all(n in shown for n in names)
    # the better point (lower perplexity) is marked in the table and the JSON
    ppl = {p["name"]: p["metrics"]["eval/candidate/perplexity"] for p in summary["points"]}
    assert summary["best"] == min(ppl, key=ppl.get)
    marked = [line for line in proc.stdout.splitlines() if "sweep-" in line and " * " in line]
    assert len(marked) == 1 and summary["best"] in marked[0]
    # a rerun of a finished sweep runs nothing
    mark = lines(log)
    again = forge(project, env, "recipe.learning_rate=1e-3,3e-3", *FAST, "-j", "2")
    assert again.returncode == 0 and ran_since(log, mark) == {}


def test_a_killed_sweep_reruns_only_the_missing_points(proj):
    project, log, env = proj
    args = ["recipe.learning_rate=5e-4,2e-3", *FAST, "-j", "1"]
    before = set(glob.glob(str(project / ".forge/sweeps/*/state.json")))
    mark = lines(log)
    proc = subprocess.Popen(
        [str(BIN / "forge"), "sweep", *args],
        cwd=project,
        env={**os.environ, **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    state = None
    deadline = time.time() + 600
    while time.time() < deadline and proc.poll() is None:
        new = set(glob.glob(str(project / ".forge/sweeps/*/state.json"))) - before
        if new:
            state = Path(new.pop())
            statuses = sorted(p["status"] for p in json.loads(state.read_text())["points"].values())
            if statuses == ["done", "running"]:  # midway: one finished, one under way
                break
        time.sleep(1)
    assert proc.poll() is None and state is not None, "the sweep ended before it was killed"
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=60) != 0
    points = json.loads(state.read_text())["points"]
    assert sorted(p["status"] for p in points.values()) == ["done", "interrupted"]
    done = next(n for n, p in points.items() if p["status"] == "done")
    first = ran_since(log, mark)
    assert 1 <= first["train"] <= 2 and first["gate"] == 1  # the second point was under way

    mark = lines(log)
    rerun = forge(project, env, *args)
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    assert ran_since(log, mark) == {"train": 1, "contract": 1, "evaluate": 1, "gate": 1}
    summary = summary_of(project, rerun.stdout)
    assert [p["status"] for p in summary["points"]] == ["done", "done"]
    assert (
        next(p for p in summary["points"] if p["name"] == done)["exp_sha"]
        == (points[done]["result"]["exp_sha"])
    )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_ray_head_runs_two_points(proj):
    pytest.importorskip("ray")
    project, log, env = proj
    port = _free_port()
    env = {**env, "RAY_AUTH_MODE": "disabled"}  # a throwaway head on this machine
    head = subprocess.Popen(
        [str(BIN / "ray"), "start", "--head", f"--port={port}", "--num-cpus=2", "--block",
         "--node-ip-address=127.0.0.1",
         "--include-dashboard=false", "--disable-usage-stats"],
        env={**os.environ, **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )  # fmt: skip
    try:
        deadline = time.time() + 120
        while time.time() < deadline:  # the head is up when its GCS port answers
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.5)
        mark = lines(log)
        ray_env = {**env, "RAY_ADDRESS": f"127.0.0.1:{port}"}
        lrs = "recipe.learning_rate=1.5e-3,2.5e-3"
        proc = forge(project, ray_env, lrs, *FAST, "-j", "2", "--launcher", "ray")
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert points_ran(ran_since(log, mark)) == {
            "train": 2,
            "contract": 2,
            "evaluate": 2,
            "gate": 2,
        }
        summary = summary_of(project, proc.stdout)
        shown = sh(str(BIN / "dvc"), "exp", "show", "--csv", cwd=project).stdout
        assert all(p["status"] == "done" and p["name"] in shown for p in summary["points"])
    finally:
        os.killpg(head.pid, signal.SIGKILL)  # the head and every Ray process it started
        head.wait()


def test_slurm_launcher_through_submitits_local_executor(proj):
    """Two SLURM jobs through submitit's local executor; one point fails (its training
    runtime, docker, has no engine) and the other still finishes."""
    pytest.importorskip("submitit")
    project, log, env = proj
    env = {**env, "FORGE_SWEEP_SLURM_CLUSTER": "local", "DOCKER_HOST": "unix:///nonexistent"}
    proc = forge(project, env, "recipe.learning_rate=7e-4", "hardware.runtime=local,docker",
                 *FAST, "-j", "2", "--launcher", "slurm")  # fmt: skip
    assert proc.returncode == 1, proc.stdout + proc.stderr  # a point failed
    summary = summary_of(project, proc.stdout)
    ok, bad = summary["points"]
    assert ok["status"] == "done" and ok["ran"][-4:] == ["train", "contract", "evaluate", "gate"]
    assert bad["status"] == "failed" and bad["error"] and "gate" not in bad["ran"]
    assert "hardware.runtime=docker" in bad["overrides"]
    # submitit ran it as a job: its folder holds the job's pickled result and logs
    jobs = list((project / ".forge/sweeps" / summary["id"] / "slurm").glob("*/*_result.pkl"))
    assert jobs, "no submitit job folder"


def _slurm_partition() -> str | None:
    """The default partition of a reachable SLURM cluster, or None."""
    if shutil.which("sbatch") is None or shutil.which("sinfo") is None:
        return None
    proc = subprocess.run(["sinfo", "-h", "-o", "%P"], capture_output=True, text=True)
    parts = [p for p in proc.stdout.split() if p.endswith("*")] or proc.stdout.split()
    return parts[0].rstrip("*") if proc.returncode == 0 and parts else None


def test_slurm_launcher_on_a_real_cluster(proj):
    partition = _slurm_partition()
    if partition is None:
        pytest.skip("no SLURM cluster here (sbatch/sinfo); see docs/sweeps.md")
    project, log, env = proj
    mark = lines(log)
    options = f"{{partition: {partition}, timeout_min: 20, cpus_per_task: 1, mem_gb: 4}}"
    hardware = ["hardware.launcher=submitit_slurm", f"+hardware.launcher_options={options}"]
    proc = forge(project, env, "recipe.learning_rate=6e-4", *FAST, *hardware, "--launcher", "slurm")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert points_ran(ran_since(log, mark)) == {"train": 1, "contract": 1, "evaluate": 1, "gate": 1}
    summary = summary_of(project, proc.stdout)
    assert summary["points"][0]["status"] == "done"
    scripts = list((project / ".forge/sweeps" / summary["id"] / "slurm").glob("*/*_submission.sh"))
    assert scripts and f"#SBATCH --partition={partition}" in scripts[0].read_text()
