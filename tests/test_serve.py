"""`forge serve` (issue 15): a real server subprocess on a loopback port over a small real
project (real git, DVC, GTO and Forge's own gate; tests/test_trust_registry.py's stand-in
DAG, so nothing trains). Auth, id validation, JSON errors, the write queue, promotion
through the gates, and every read endpoint that needs no training."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from forge.serve.server import spawn
from forge.serve.server import stop as stop_server

from .conftest import BIN, GIT_ENV, ROOT, sh
from .test_trust_registry import commit_with, make_registry_project

WRITE = "w" * 8 + "-write-key-for-tests"
READ = "r" * 8 + "-read-key-for-tests"
LOSS = "step\tloss\n0\t3.0\n1\t2.5\n2\t1.75\n3\t1.0\n"


def start_server(project: Path, env: dict[str, str] | None = None, *args: str):
    """`forge serve` on a free loopback port; (process, base url) once it answers."""
    full = {**os.environ, **GIT_ENV, "PATH": f"{BIN}:{os.environ['PATH']}", **(env or {})}
    return spawn(project, args, full)


def make_served_project(dest: Path) -> Path:
    """The stand-in DAG with conf/ (for cost), a dvclive series and a raw data file."""
    project = make_registry_project(dest)
    shutil.copytree(ROOT / "conf", project / "conf", ignore=shutil.ignore_patterns("__pycache__"))
    plots = project / "results/train/plots/metrics"
    plots.mkdir(parents=True)
    (plots / "loss.tsv").write_text(LOSS)
    (project / "data/raw").mkdir(parents=True)
    rows = [{"prompt": f"reverse: ab{i}", "completion": f"{i}ba"} for i in range(30)]
    (project / "data/raw/tickets.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (project / ".gitignore").write_text(".forge/\n")
    commit_with(project, 0.95, "a passing model")
    return project


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    project = make_served_project(tmp_path_factory.mktemp("serve") / "proj")
    proc, url = start_server(project, {"FORGE_API_KEYS": f"write:{WRITE},read:{READ}"})
    yield project, url
    stop_server(proc)


def call(url: str, method: str, path: str, key: str | None = READ, **kw) -> httpx.Response:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return httpx.request(method, url + path, headers=headers, timeout=120, **kw)


def wait_job(url: str, job_id: str) -> dict:
    deadline = time.monotonic() + 120
    while True:
        job = call(url, "GET", f"/jobs/{job_id}").json()
        if job["status"] in ("done", "failed"):
            return job
        assert time.monotonic() < deadline, job
        time.sleep(0.2)


def one_line_error(r: httpx.Response, status: int) -> str:
    assert r.status_code == status, r.text
    body = r.json()
    assert set(body) == {"error", "problems", "type"}, body
    assert "\n" not in body["error"] and "Traceback" not in r.text
    return body["error"]


def test_no_key_and_a_wrong_key_are_401_a_read_key_on_a_write_is_403(served):
    _, url = served
    assert "no API key" in one_line_error(call(url, "GET", "/models", key=None), 401)
    assert "unknown API key" in one_line_error(call(url, "GET", "/models", key="x" * 30), 401)
    assert call(url, "GET", "/datasets", key=READ).status_code == 200
    r = call(url, "POST", "/runs/launch", key=READ, json={"overrides": []})
    assert "only read" in one_line_error(r, 403)
    r = call(url, "POST", "/models/promote", key=READ, json={"name": "assistant", "stage": "x"})
    assert one_line_error(r, 403)


@pytest.mark.parametrize(
    ("path", "status", "words"),
    [
        ("/datasets/..%2F..%2Fetc%2Fpasswd", 404, "Not Found"),
        ("/datasets/%2E%2E", 400, "not a valid dataset"),
        ("/datasets/--upload-pack=evil", 400, "not a valid dataset"),
        ("/datasets/demo%0Aevil", 400, "not a valid dataset"),
        ("/runs/--upload-pack=evil", 400, "run id"),
        ("/runs/%2E%2E", 400, "run id"),
        ("/runs/run-1%0A/metrics", 400, "run id"),
        ("/evals/HEAD/compare/--upload-pack=evil", 400, "not a commit, tag or branch"),
        ("/evals/HEAD/compare/HEAD..main", 400, "not a commit, tag or branch"),
        ("/evals/HEAD%0A/compare/HEAD", 400, "not a commit, tag or branch"),
        ("/jobs/%2E%2E", 404, "no such job"),
    ],
)
def test_path_traversal_and_option_injection_ids_are_refused(served, path, status, words):
    _, url = served
    assert words in one_line_error(call(url, "GET", path), status)


def test_promote_and_stage_ids_are_checked_before_git(served):
    project, url = served
    for body in (
        {"name": "--upload-pack=x", "stage": "prod"},
        {"name": "assistant", "stage": "prod\nx"},
        {"name": "assistant", "stage": "prod", "version": "../v1"},
    ):
        assert one_line_error(call(url, "POST", "/models/promote", key=WRITE, json=body), 400)
    r = call(
        url, "PATCH", "/models/..%2Fx/status", key=WRITE, json={"stage": "p", "action": "assign"}
    )
    assert r.status_code in (400, 404)
    assert sh("git", "tag", cwd=project).stdout == ""


def test_a_non_loopback_bind_without_keys_is_refused(tmp_path: Path):
    env = {k: v for k, v in os.environ.items() if k != "FORGE_API_KEYS"}
    proc = subprocess.run(
        [str(BIN / "forge"), "serve", "--host", "0.0.0.0", "--keys-file", str(tmp_path / "k")],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert proc.stderr == (
        "forge: error: --host 0.0.0.0: refusing a non-loopback bind without API keys (set "
        "FORGE_API_KEYS or create a key with `forge serve --add-key --scope read`)\n"
    )


def test_add_key_prints_the_key_once_and_stores_only_a_salted_hash(tmp_path: Path):
    keys = tmp_path / "keys.json"
    out = sh(str(BIN / "forge"), "serve", "--add-key", "--scope", "write", "--keys-file",
             str(keys), cwd=tmp_path)  # fmt: skip
    key = out.stdout.strip()
    assert key.startswith("fk_") and len(key) > 40
    stored = keys.read_text()
    assert key not in stored and key[3:20] not in stored
    (row,) = json.loads(stored)
    assert set(row) == {"scope", "salt", "sha256", "name"} and row["scope"] == "write"
    assert oct(keys.stat().st_mode & 0o777) == "0o600"
    from forge.serve.auth import load

    loaded = load(keys)
    assert loaded.scope_of(key) == "write" and loaded.scope_of(key + "x") is None


def test_read_endpoints_answer_from_the_repo(served):
    project, url = served
    assert call(url, "GET", "/datasets").json() == []
    runs = call(url, "GET", "/runs").json()
    assert runs[-1]["id"] == "workspace" and runs[-1]["status"] == "done"
    loss = call(url, "GET", "/runs/workspace/metrics?last_n=2").json()["series"]["loss"]
    assert loss == [{"step": 2, "value": 1.75}, {"step": 3, "value": 1.0}]
    assert (
        call(url, "GET", "/runs/workspace").json()["metrics"]["eval/candidate/exact_match"] == 0.95
    )
    evals = {e["id"]: e for e in call(url, "GET", "/evals").json()}
    assert evals["HEAD"]["metrics"]["eval/candidate/exact_match"] == 0.95
    hw = call(url, "GET", "/cluster/status").json()
    assert hw["device"] in ("cpu", "cuda") and "cpu" in hw
    cost = call(url, "GET", "/cluster/cost", params={"overrides": ["recipe=full_sft"]}).json()
    assert cost["recipe"] == "full_sft" and cost["tokens"] > 0 and cost["dollars"] >= 0
    assert "/runs/launch" in call(url, "GET", "/openapi.json").json()["paths"]
    assert call(url, "GET", "/docs").status_code == 200


def test_concurrent_composes_do_not_collide(served):
    """Hydra composes through process-global state; the server's threads take turns."""
    import concurrent.futures as cf

    _, url = served
    overrides = [{"overrides": [f"recipe.max_steps={n}"]} for n in range(10, 14)]
    with cf.ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(lambda p: call(url, "GET", "/cluster/cost", params=p), overrides))
    assert [a.status_code for a in answers] == [200] * 4, [a.text for a in answers]


def test_bad_input_is_the_clis_one_line_never_a_traceback(served):
    _, url = served
    r = call(url, "GET", "/cluster/cost", params={"overrides": ["recipe.lora_rnak=8"]})
    assert "recipe.lora_rnak" in one_line_error(r, 400)
    assert "no such run" in one_line_error(call(url, "GET", "/runs/nope"), 404)
    assert "no card" in one_line_error(call(url, "GET", "/datasets/nope"), 404)
    r = call(url, "POST", "/runs/launch", key=WRITE, json={"overrides": ["recipe=nope"]})
    assert "recipe" in one_line_error(r, 400)
    r = call(url, "POST", "/runs/launch", key=WRITE, json={"overrides": "x"})
    assert one_line_error(r, 422)
    r = call(url, "POST", "/runs/workspace/cancel", key=WRITE)
    assert "only a queued or running run" in one_line_error(r, 409)


def test_promotion_goes_through_the_gates_and_a_failing_candidate_gets_no_tag(served):
    project, url = served
    sh("git", "tag", "-l", cwd=project)
    r = call(url, "POST", "/models/promote", key=WRITE, json={"name": "assistant", "stage": "prod"})
    assert r.status_code == 200, r.text
    assert r.json()["version"] == "v0.0.1"
    models = call(url, "GET", "/models").json()
    assert models["assistant"]["stage"] == {"prod": "v0.0.1"}

    before = sh("git", "tag", cwd=project).stdout
    commit_with(project, 0.1, "a failing model")
    r = call(
        url, "POST", "/models/promote", key=WRITE, json={"name": "assistant", "stage": "staging"}
    )
    reason = one_line_error(r, 409)
    assert "gates.exact_match_min" in reason, reason
    assert sh("git", "tag", cwd=project).stdout == before
    compared = call(url, "GET", "/evals/HEAD/compare/HEAD~1").json()
    assert compared["n"] == 20 and compared["regressed"] is True
    assert (compared["baseline"], compared["candidate"]) == (0.95, 0.1)

    r = call(url, "PATCH", "/models/assistant/status", key=WRITE,
             json={"stage": "prod", "action": "assign"})  # fmt: skip
    assert "gates.exact_match_min" in one_line_error(r, 409)  # the same gates: no bypass
    assert sh("git", "tag", cwd=project).stdout == before


@pytest.mark.slow  # four real promotions one after another: ~25 s
def test_concurrent_writes_never_interleave(served):
    """Four promotions at once: the write queue runs them one by one, so exactly one
    version is tagged per stage and git stays consistent."""
    import concurrent.futures as cf

    project, url = served
    # back to the passing commit (an earlier test of this module may have added a failing one)
    passing = sh("git", "log", "--format=%H", "--grep=^a passing model$", cwd=project)
    sh("git", "reset", "-q", "--hard", passing.stdout.split()[0], cwd=project)
    sh(sys.executable, "-m", "dvc", "checkout", "-q", cwd=project)
    stages = [f"s{i}" for i in range(4)]

    def promote(stage: str) -> httpx.Response:
        body = {"name": "assistant", "stage": stage}
        return call(url, "POST", "/models/promote", key=WRITE, json=body)

    with cf.ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(promote, stages))
    assert [a.status_code for a in answers] == [200] * 4, [a.text for a in answers]
    shown = call(url, "GET", "/models").json()["assistant"]["stage"]
    assert {s: shown[s] for s in stages} == {s: "v0.0.1" for s in stages}
    sh("git", "fsck", "--no-progress", cwd=project)


def test_deprecating_a_stage_takes_it_from_its_version_and_keeps_the_history(served):
    project, url = served
    held = call(url, "GET", "/models").json()["assistant"]["stage"]
    stage, version = "prod", held["prod"]
    change = {"stage": stage, "action": "deprecate"}
    r = call(url, "PATCH", "/models/assistant/status", key=READ, json=change)
    assert "may only read" in one_line_error(r, 403)
    r = call(url, "PATCH", "/models/assistant/status", key=WRITE, json=change)
    assert r.status_code == 200, r.text
    assert r.json() == {"name": "assistant", "stage": stage, "version": version}
    assert stage not in call(url, "GET", "/models").json()["assistant"]["stage"]
    assert f"assistant#{stage}!#" in sh("git", "tag", cwd=project).stdout  # GTO's unassign
    r = call(url, "PATCH", "/models/assistant/status", key=WRITE, json=change)
    assert "nothing to deprecate" in one_line_error(r, 400)


def test_register_a_dataset_then_scan_it_through_the_job_queue(served):
    """Last: the card it writes leaves the tree dirty, which promotion would refuse."""
    project, url = served
    body = {"path": "data/raw/tickets.jsonl", "name": "tickets", "license": "mit",
            "source": "support tickets 2026-10"}  # fmt: skip
    r = call(url, "POST", "/datasets/register", key=WRITE, json=body)
    assert r.status_code == 202, r.text
    job = wait_job(url, r.json()["id"])
    assert job["status"] == "done", job
    assert job["result"]["card"]["license"] == "MIT"  # the CLI's SPDX spelling
    assert job["result"]["card"]["tracked_by"] == "git"  # committed: git keeps it
    assert (project / "data/cards/tickets.yaml").is_file()
    assert call(url, "GET", "/datasets/tickets").json()["rows"] == 30
    lineage = call(url, "GET", "/datasets/tickets/lineage").json()
    assert lineage["card"]["name"] == "tickets" and lineage["models"] == []
    job = wait_job(url, call(url, "POST", "/datasets/tickets/scan-pii", key=WRITE).json()["id"])
    assert job["result"]["rows"] == 30 and job["result"]["pii"]["total"] == 0
    body["license"] = "Apache 2"
    job = wait_job(url, call(url, "POST", "/datasets/register", key=WRITE, json=body).json()["id"])
    assert job["status"] == "failed" and job["status_code"] == 400
    assert job["error"] == (
        "--license: 'Apache 2' is not a known SPDX id; did you mean 'Apache-2.0'? "
        "(use LicenseRef-<name> for a license outside the SPDX list)"
    )
