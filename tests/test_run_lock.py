"""One `forge run` at a time per workspace (issue 17, item 2).

A small real project: Forge's conf/, real git and DVC, and one stage that runs through
Forge's stage entry (forge.stages.run_stage) and waits for a `go` file, so a test can act
while a run is inside `dvc repro`. No training: the stage writes a passing gate decision.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from .conftest import BIN, GIT_ENV, make_probe_project, sh

PROBE = '''"""python stages/probe.py -- waits for ./go, then writes a passing gate decision."""
import json
import time
from pathlib import Path

from forge.stages import run_stage


def main() -> None:
    Path("started").write_text("")
    deadline = time.time() + 60
    while not Path("go").exists() and time.time() < deadline:
        time.sleep(0.05)
    out = Path("results/gate")
    out.mkdir(parents=True, exist_ok=True)
    decision = {"gates": [], "gates_name": "probe", "passed": True}
    (out / "decision.json").write_text(json.dumps(decision) + "\\n")


if __name__ == "__main__":
    run_stage(main)
'''

DVC_YAML = """stages:
  gate:
    cmd: python stages/probe.py
    deps: [stages/probe.py]
    params: [gates]
    outs:
      - results/gate/decision.json:
          cache: false
"""


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    dest = tmp_path_factory.mktemp("runlock") / "proj"
    return make_probe_project(dest, PROBE, DVC_YAML)


def start(project: Path, *args: str) -> subprocess.Popen:
    for flag in ("started", "go"):
        (project / flag).unlink(missing_ok=True)
    env = {**os.environ, **GIT_ENV, "PATH": f"{BIN}:{os.environ['PATH']}"}
    return subprocess.Popen(
        [str(BIN / "forge"), "run", *args],
        cwd=project,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for(path: Path, proc: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        if proc.poll() is not None:
            raise AssertionError(f"exited {proc.returncode} first\n{proc.communicate()}")
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.05)


def blocked_on_the_lock(proc: subprocess.Popen, timeout: float = 60) -> None:
    """Until the kernel lists `proc` as waiting for a file lock (/proc/locks: `->`)."""
    deadline = time.monotonic() + timeout
    while not any(
        "->" in line and f" {proc.pid} " in line
        for line in Path("/proc/locks").read_text().splitlines()
    ):
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "never waited for the lock"
        time.sleep(0.05)


def locked_gate_min(project: Path) -> float:
    lock = yaml.safe_load((project / "dvc.lock").read_text())
    return lock["stages"]["gate"]["params"]["params.yaml"]["gates"]["exact_match_min"]


def test_a_second_run_is_refused_at_once_and_never_touches_params(project: Path):
    first = start(project, "gates.exact_match_min=0.5")
    try:
        wait_for(project / "started", first)  # inside dvc repro, holding the lock
        params = (project / "params.yaml").read_bytes()
        t0 = time.monotonic()
        second = sh(
            str(BIN / "forge"), "run", "gates.exact_match_min=0.9", cwd=project, check=False
        )
        assert time.monotonic() - t0 < 30  # at once, not after the first run
        assert (second.returncode, second.stdout) == (1, "")
        assert second.stderr.startswith(
            f"forge: error: .forge/run.lock: another run holds this workspace: pid {first.pid} "
            "(forge run gates.exact_match_min=0.5), started "
        ), second.stderr
        assert second.stderr.endswith("(wait for it to finish, or pass --wait)\n")
        assert second.stderr.count("\n") == 1
        assert (project / "params.yaml").read_bytes() == params
        compose = sh(str(BIN / "forge"), "compose", "gates.exact_match_min=0.1", cwd=project,
                     check=False)  # fmt: skip
        assert compose.returncode == 1 and compose.stderr.startswith(
            "forge: error: .forge/run.lock: forge compose would change params.yaml under a "
            f"running pid {first.pid} (forge run gates.exact_match_min=0.5)"
        ), compose.stderr
        assert (project / "params.yaml").read_bytes() == params

        # --wait queues behind the first run instead, still without touching params.yaml
        third = start(project, "--wait", "gates.exact_match_min=0.7")
        blocked_on_the_lock(third)
        assert (project / "params.yaml").read_bytes() == params
        (project / "go").touch()  # let the first run finish
        out, err = first.communicate(timeout=60)
        assert first.returncode == 0, err
        out3, err3 = third.communicate(timeout=60)
    finally:
        for proc in (first, locals().get("third")):
            if proc is not None and proc.poll() is None:
                proc.kill()
    assert third.returncode == 0, err3
    assert "forge: waiting for pid " in err3
    assert locked_gate_min(project) == 0.7  # the third run's own params, recorded and used
    assert (project / ".forge/run.lock").read_text() == ""  # released


def test_a_stage_fails_when_params_change_under_it(project: Path):
    # a lock left by a run that died is taken over
    dead = subprocess.Popen(["true"])
    dead.wait()
    stale = {"pid": dead.pid, "command": "forge run (killed)", "token": "x", "started": "?"}
    (project / ".forge/run.lock").write_text(json.dumps(stale))
    before = locked_gate_min(project)

    run = start(project, "gates.exact_match_min=0.6")
    try:
        wait_for(project / "started", run)
        params = project / "params.yaml"
        data = yaml.safe_load(params.read_text())
        data["gates"]["exact_match_min"] = 0.1  # another writer, mid-stage
        params.write_text(yaml.safe_dump(data, sort_keys=True))
        (project / "go").touch()
        out, err = run.communicate(timeout=60)
    finally:
        if run.poll() is None:
            run.kill()
    assert run.returncode == 1
    assert f"forge: took over .forge/run.lock from pid {dead.pid} (forge run (killed))" in err
    assert (
        "forge: error: params.yaml changed under this stage: it is no longer what the run "
        f"pid {run.pid} (forge run gates.exact_match_min=0.6)"
    ) in err, err
    assert "(groups changed: gates)" in err
    assert "forge: error: dvc repro failed" in err
    assert locked_gate_min(project) == before  # dvc.lock never recorded the swapped params


def test_a_stage_checks_params_at_its_start(project: Path, tmp_path: Path):
    """The start check, without a run around it: a stage whose run record says other
    params never starts its work; one whose run no longer holds the lock neither."""
    lock = tmp_path / "run.lock"
    record = {"pid": os.getpid(), "command": "forge run x=1", "started": "now", "token": "t1",
              "params_sha256": "0" * 64, "params": {}}  # fmt: skip
    lock.write_text(json.dumps(record))
    (project / "started").unlink(missing_ok=True)
    env = {**os.environ, "FORGE_RUN_TOKEN": "t1", "FORGE_RUN_LOCK": str(lock)}
    proc = subprocess.run(
        [sys.executable, "stages/probe.py"], cwd=project, env=env, capture_output=True, text=True
    )
    assert proc.returncode == 1 and not (project / "started").exists()
    assert proc.stderr.startswith(
        "forge: error: params.yaml changed under this stage: it is no longer what the run "
        f"pid {os.getpid()} (forge run x=1), started now composed ("
    ), proc.stderr
    env["FORGE_RUN_TOKEN"] = "t2"
    proc = subprocess.run(
        [sys.executable, "stages/probe.py"], cwd=project, env=env, capture_output=True, text=True
    )
    assert proc.returncode == 1 and not (project / "started").exists()
    assert proc.stderr.startswith(
        f"forge: error: {lock}: the forge run that started this stage no longer holds the "
        f"workspace (now: pid {os.getpid()} (forge run x=1), started now)"
    ), proc.stderr
