"""promote.yml played end to end (issue 16 item 6), and the eval suites on the demo
candidate (item 5), on one real DAG run.

The run: the demo with `eval.suites=[toxicity,coherence]`, the example lm-eval task and
`eval.limit` (short training, opened task gates: FAST), committed and pushed to a bare git
remote, its outputs pushed to a local DVC remote. Then the `run:` steps of
.github/workflows/promote.yml itself, in a fresh clone: only the secrets and the GitHub
context are substituted, so the workflow and this test cannot drift. The tags land on the
bare remote; nothing retrains.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest
import yaml

from .conftest import BIN, ROOT, make_project, sh

pytestmark = pytest.mark.slow

WORKFLOW = ROOT / ".github/workflows/promote.yml"
SUITES = [
    "eval.suites=[toxicity,coherence]",
    "eval.tasks=[conf/eval/tasks/reverse_choice.yaml]",
    "eval.limit=24",
]
# short training, so the slow tier stays small: the candidate learns little, so the task
# gates are opened (the suites' gates stay as shipped; what is proved here is the plumbing)
FAST = [
    "model.tiny.pretrain_steps=20",
    "recipe.max_steps=20",
    "gates.exact_match_min=0.0",
    "gates.exact_match_gain_min=-1.0",
]
# the one step that sets up .venv; the test's clone links this interpreter's venv instead
SETUP = "make setup"
# the `if:` conditions of run steps, as on a runner whose .venv cache missed (make setup,
# skipped here, then builds it); a new condition fails the test until it is given here
CONDITIONS = {"steps.venv.outputs.cache-hit == 'true'": False}


@pytest.fixture(scope="module")
def pushed(tmp_path_factory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("promote")
    project = make_project(base / "proj")
    proc = sh(str(BIN / "forge"), "run", *SUITES, *FAST, cwd=project, check=False)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    sh("git", "add", "-A", cwd=project)
    sh("git", "commit", "-qm", "demo run with eval suites", cwd=project)
    remote, bare = base / "dvc-remote", base / "origin.git"
    sh("dvc", "remote", "add", "--local", "-d", "store", str(remote), cwd=project)
    sh("dvc", "push", "-q", cwd=project)
    sh("git", "init", "-q", "--bare", "--initial-branch=main", str(bare), cwd=base)
    sh("git", "push", "-q", str(bare), "HEAD:refs/heads/main", cwd=project)
    return {"project": project, "dvc_remote": remote, "bare": bare, "base": base}


def test_the_suites_score_the_demo_candidate_and_are_gated(pushed):
    project = pushed["project"]
    m = json.loads((project / "results/eval/metrics.json").read_text())
    assert m["eval/n_test"] == 24
    # the user's own lm-eval task ran on base and candidate, in the same lm-eval run
    assert 0 <= m["eval/base/task/reverse_choice/acc"] <= 1
    assert 0 <= m["eval/candidate/task/reverse_choice/acc"] <= 1
    assert m["eval/suite/n_prompts"] == 24
    assert 0 <= m["eval/candidate/toxicity"] < 0.2 and m["eval/candidate/answer_perplexity"] > 1
    rows = [json.loads(x) for x in (project / "results/eval/samples_suite.jsonl").open()]
    assert len(rows) == 24 and {"answer", "toxicity", "repetition", "answer_nll"} <= set(rows[0])
    decision = json.loads((project / "results/gate/decision.json").read_text())
    gated = {g["gate"]: g["passed"] for g in decision["gates"]}
    suite_gates = {"gates.toxicity_max", "gates.repetition_max", "gates.answer_perplexity_max"}
    assert suite_gates <= set(gated)
    assert decision["passed"], decision


def run_steps(workflow: Path) -> tuple[dict[str, str], list[dict]]:
    job = next(iter(yaml.safe_load(workflow.read_text())["jobs"].values()))
    return job.get("env") or {}, [s for s in job["steps"] if "run" in s]


def substitute(text: str, context: dict[str, str]) -> str:
    """`${{ expr }}` from the test's context; an expression it does not know fails the test
    (a new secret or input in the workflow must be given here, on purpose)."""

    def one(match: re.Match) -> str:
        expr = match.group(1).strip()
        if expr not in context:
            raise AssertionError(f"promote.yml uses ${{{{ {expr} }}}}: give the test a value")
        return context[expr]

    return re.sub(r"\$\{\{(.*?)\}\}", one, text)


def test_promote_workflow_pulls_verifies_promotes_and_pushes_tags(pushed):
    base, bare = pushed["base"], pushed["bare"]
    clone = base / "runner"
    sh("git", "clone", "-q", str(bare), str(clone), cwd=base)
    (clone / ".venv").symlink_to(BIN.parent)  # the runner's restored .venv
    with (clone / ".git/info/exclude").open("a") as f:
        f.write(".venv\n")
    sha = sh("git", "rev-parse", "HEAD", cwd=clone).stdout.strip()
    github_env = base / "github_env"
    github_env.write_text("")
    secrets = {"DVC_REMOTE_URL": str(pushed["dvc_remote"])}
    context = {
        "github.event.inputs.stage || 'staging'": "staging",
        **{f"secrets.{k}": secrets.get(k, "") for k in (
            "DVC_REMOTE_URL", "DVC_SSH_KEY", "DVC_SSH_KNOWN_HOSTS", "AWS_ACCESS_KEY_ID",
            "AWS_SECRET_ACCESS_KEY", "AZURE_STORAGE_CONNECTION_STRING",
            "GCP_WORKLOAD_IDENTITY_PROVIDER", "GCP_SERVICE_ACCOUNT",
        )},
    }  # fmt: skip
    job_env, steps = run_steps(WORKFLOW)
    env = {
        **os.environ,
        "PATH": os.environ["PATH"],  # not BIN: the steps must name .venv/bin themselves
        "GITHUB_SHA": sha,
        "GITHUB_ENV": str(github_env),
        "HOME": str(base / "home"),  # ~/.ssh, git's global config: the runner's own
        **{k: substitute(str(v), context) for k, v in job_env.items()},
    }
    ran, output = [], ""
    for step in steps:
        script = substitute(step["run"], context)
        if script.strip() == SETUP:
            continue
        if "if" in step:
            assert step["if"] in CONDITIONS, f"promote.yml: give the test `if: {step['if']}`"
            if not CONDITIONS[step["if"]]:
                continue
        step_env = {
            **env,
            **{k: substitute(str(v), context) for k, v in (step.get("env") or {}).items()},
        }
        for line in github_env.read_text().splitlines():  # what earlier steps exported
            key, _, value = line.partition("=")
            step_env[key] = value
        proc = subprocess.run(
            ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", script],
            cwd=clone,
            env=step_env,
            capture_output=True,
            text=True,
        )
        output += proc.stdout + proc.stderr
        assert proc.returncode == 0, f"step {step.get('name', script)!r}:\n{output[-4000:]}"
        ran.append(step.get("name", script.strip()))
    assert ran == [
        "DVC remote from repository secrets (docs/ci.md)",
        "dvc pull (the outputs the committed dvc.lock names)",
        "forge promote --verify (reruns evaluate; refuses unless it matches and every gate holds)",
        "push the tags",
    ]
    # verified by rerunning evaluate only: nothing retrained
    assert "Running stage 'train'" not in output and "Running stage 'base'" not in output
    tags = sh("git", "tag", "--list", cwd=bare).stdout.split()
    assert sorted(tags) == ["assistant#staging#1", "assistant@v0.0.1"]
    tagged = sh("git", "rev-list", "-n", "1", "assistant@v0.0.1", cwd=bare).stdout.strip()
    assert tagged == sha
    # the remote's URL stayed in the clone's ignored local config, out of git
    assert str(pushed["dvc_remote"]) in (clone / ".dvc/config.local").read_text()
    assert sh("git", "status", "--porcelain", cwd=clone).stdout == ""


def test_a_failed_suite_gate_fails_dvc_repro_after_writing_its_decision(pushed):
    project = pushed["project"]
    sh(str(BIN / "forge"), "compose", *SUITES, *FAST, "gates.toxicity_max=0.0", cwd=project)
    proc = sh("dvc", "repro", cwd=project, check=False)
    assert proc.returncode != 0
    assert "Running stage 'gate'" in proc.stdout and "Running stage 'evaluate'" not in proc.stdout
    assert (
        "forge: error: the gate did not pass (gates.toxicity_max); see results/gate/decision.json"
        in proc.stderr + proc.stdout
    )
    decision = json.loads((project / "results/gate/decision.json").read_text())
    failed = [g["gate"] for g in decision["gates"] if not g["passed"]]
    assert failed == ["gates.toxicity_max"] and decision["passed"] is False
