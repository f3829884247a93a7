"""The SDK (forge.client) against a real `forge serve` on a loopback port, over the
stand-in project of tests/test_serve.py: its DAG runs in seconds, so a launched run is a
real DVC experiment made by the server, end to end, in the default tier."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from forge.client import (
    BadRequest,
    Comparison,
    ForgeClient,
    NotFound,
    PermissionDenied,
    Refused,
    Run,
    Unauthorized,
)

from .conftest import GIT_ENV, sh
from .test_serve import READ, WRITE, make_served_project, start_server, stop_server
from .test_trust_registry import commit_with


def readme_example() -> str:
    """The README's SDK example, exactly as it is printed there (the python block of the
    Service section), so the README cannot drift from what is tested."""
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    section = readme.split("\n## Service", 1)[1]
    return textwrap.dedent(section.split("```python\n", 1)[1].split("```", 1)[0])


README_EXAMPLE = readme_example()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    project = make_served_project(tmp_path_factory.mktemp("client") / "proj")
    proc, url = start_server(project, {"FORGE_API_KEYS": f"write:{WRITE},read:{READ}"})
    yield project, url
    stop_server(proc)


def test_the_readme_example_runs_as_written(server):
    project, url = server
    env = {**os.environ, **GIT_ENV, "FORGE_URL": url, "FORGE_API_KEY": WRITE}
    proc = subprocess.run(
        [sys.executable, "-c", README_EXAMPLE], env=env, capture_output=True, text=True,
        timeout=600,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("run-") and lines[0].endswith(" done 0.95"), lines
    assert lines[1] == "loss [1.75, 1.0]" or lines[1].startswith("loss ["), lines
    assert lines[2] == "promoted v0.0.1", lines
    tags = sh("git", "tag", cwd=project).stdout.split()
    assert "assistant@v0.0.1" in tags


@pytest.mark.slow  # two runs of the stand-in DAG, one cancelled: ~15 s
def test_runs_are_experiments_with_typed_results(server):
    project, url = server
    with ForgeClient(url, api_key=WRITE) as forge:
        first = forge.launch_run(["gates.exact_match_min=0.99"])
        second = forge.launch_run([])
        assert isinstance(first, Run) and second.status == "queued"
        cancelled = forge.cancel_run(second.id)  # still queued behind the first
        assert cancelled.status == "cancelled"
        with pytest.raises(Refused, match="only a queued or running run"):
            forge.cancel_run(second.id)
        done = forge.wait_for(first.id, timeout=600)
        assert done.status == "done", done.error
        assert done.decision["passed"] is False  # 0.95 < 0.99: the gate's verdict, recorded
        assert done.exp_ref.startswith("refs/exps/") and done.exp_ref.endswith(first.id)
        ref = sh("git", "rev-parse", done.exp_ref, cwd=project).stdout.strip()
        assert ref == done.exp_sha  # the experiment is in the repo, under DVC's refs
        assert forge.get_run(second.id).status == "cancelled"
        ids = [r.id for r in forge.list_runs()]
        assert ids.index(second.id) < ids.index(first.id) < ids.index("workspace")
        metrics = forge.get_metrics(first.id, last_n=2)
        assert [(p.step, p.value) for p in metrics.series["loss"]] == [(2, 1.75), (3, 1.0)]


@pytest.mark.slow  # a run of the stand-in DAG: ~10 s
def test_run_eval_queues_a_run_at_the_versions_commit(server):
    project, url = server
    with ForgeClient(url, api_key=WRITE) as forge:
        if not forge.list_models():  # the README example (default tier) promotes it
            assert forge.promote_model("assistant", "prod").version == "v0.0.1"
        run = forge.run_eval("assistant@v0.0.1", suite="default")
        assert run.raw["kind"] == "eval" and "eval=default" in run.overrides
        tagged = sh("git", "rev-list", "-n1", "assistant@v0.0.1", cwd=project).stdout.strip()
        assert run.raw["baseline"] == tagged
        done = forge.wait_for(run.id, timeout=600)
        assert done.status == "done", done.error
        assert done.metrics["eval/candidate/exact_match"] == 0.95
        with pytest.raises(BadRequest, match="eval suite 'nope'"):
            forge.run_eval("assistant@v0.0.1", suite="nope")
        with pytest.raises(BadRequest):
            forge.run_eval("assistant@../v1")


def test_errors_are_typed_and_carry_the_servers_reason(server):
    project, url = server
    with ForgeClient(url) as anonymous:
        with pytest.raises(Unauthorized, match="no API key"):
            anonymous.list_models()
    with ForgeClient(url, api_key=READ) as reader:
        assert reader.list_datasets() == []
        with pytest.raises(PermissionDenied, match="only read"):
            reader.launch_run([])
        with pytest.raises(NotFound, match="no such run") as err:
            reader.get_run("nope")
        assert err.value.status == 404
        with pytest.raises(BadRequest, match="run id"):
            reader.get_metrics("--upload-pack=x")
    with ForgeClient(url, api_key=WRITE) as forge:
        with pytest.raises(BadRequest, match="recipe.lora_rnak"):
            forge.launch_run(["recipe.lora_rnak=8"])
        with pytest.raises(BadRequest, match="SPDX"):
            forge.register_dataset("data/raw/tickets.jsonl", "tickets", "Apache 2", "tickets")


@pytest.mark.slow  # a dvc repro and real promotions: ~13 s
def test_promotion_refused_and_compare(server):
    project, url = server
    commit_with(project, 0.1, "a failing model")
    before = sh("git", "tag", cwd=project).stdout
    with ForgeClient(url, api_key=WRITE) as forge:
        with pytest.raises(Refused, match="gates.exact_match_min") as err:
            forge.promote_model("assistant", "staging")
        assert len(err.value.problems) >= 1 and err.value.status == 409
        c = forge.compare("HEAD", "HEAD~1")
        assert isinstance(c, Comparison) and c.regressed and c.n == 20
        models = forge.list_models()
        assert [m.name for m in models] == ["assistant"]
        assert models[0].stages.get("prod") == "v0.0.1"  # promoted before, at 0.95
    assert sh("git", "tag", cwd=project).stdout == before
