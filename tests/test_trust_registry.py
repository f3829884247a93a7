"""Forge's tags carry a verifiable annotation (issue 17, item 1): `forge models` marks a
hand-made or forged tag `unverified`, rollback refuses to target one without
--allow-unverified, and a detached HEAD promotes only with an explicit --rev.

A small real project (real git, DVC and GTO): its train stage writes a model file from
`inputs.json`, evaluate writes metrics and per-sample scores from it, and the gate stage
is Forge's own gate, so a commit passes or fails the real gates by the numbers in
`inputs.json`. Forge runs in-process (`invoke`), exactly as the `forge` entry point does.
"""

from __future__ import annotations

import io
import json
import os
import sys
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import pytest

from .conftest import ROOT, sh

MAKE = '''"""python make.py model|metrics|gate: a stand-in DAG; its numbers are inputs.json's."""
import json, sys
from pathlib import Path

step = sys.argv[1]
if step == "model":
    Path("models/candidate").mkdir(parents=True, exist_ok=True)
    Path("models/candidate/model.json").write_text(Path("inputs.json").read_text())
elif step == "metrics":
    em = json.loads(Path("models/candidate/model.json").read_text())["exact_match"]
    out = Path("results/eval")
    out.mkdir(parents=True, exist_ok=True)
    metrics = {"eval/base/exact_match": 0.0, "eval/candidate/exact_match": em,
               "eval/candidate/perplexity": 2.0, "eval/n_test": 20}
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2, sort_keys=True) + "\\n")
    rows = [{"prompt": f"p{i}", "exact_match": float(i < round(em * 20))} for i in range(20)]
    (out / "samples_candidate.jsonl").write_text("".join(json.dumps(r) + "\\n" for r in rows))
else:
    from forge.config.params import load_group
    from forge.evaluate.gate import decide
    decide(load_group("gates"), Path("results/eval/metrics.json"),
           Path("results/gate/decision.json"))
'''

DVC_YAML = """stages:
  train:
    cmd: python make.py model
    deps: [make.py, inputs.json]
    outs: [models/candidate]
  evaluate:
    cmd: python make.py metrics
    deps: [make.py, models/candidate]
    outs:
      - results/eval/metrics.json:
          cache: false
      - results/eval/samples_candidate.jsonl:
          cache: false
  gate:
    cmd: python make.py gate
    deps: [make.py, results/eval/metrics.json]
    params: [gates]
    outs:
      - results/gate/decision.json:
          cache: false
artifacts:
  assistant:
    path: models/candidate
    type: model
"""


def invoke(*args: str, cwd: Path) -> tuple[int, str, str]:
    """`forge ARGS` in this process, through the same entry as the `forge` script:
    (exit code, stdout, stderr)."""
    from forge.cli.main import app
    from forge.errors import entry

    out, err, here = io.StringIO(), io.StringIO(), Path.cwd()
    argv = list(args)
    saved = sys.argv
    os.chdir(cwd)
    sys.argv = ["forge", *(a for a in argv if a != "--debug")]
    try:
        with redirect_stdout(out), redirect_stderr(err):
            entry(lambda: app(args=sys.argv[1:], prog_name="forge"), argv=argv)
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    else:  # entry always exits
        code = -1
    finally:
        os.chdir(here)
        sys.argv = saved
    return code, out.getvalue(), err.getvalue()


def commit_with(project: Path, exact_match: float, note: str) -> str:
    (project / "inputs.json").write_text(json.dumps({"exact_match": exact_match}) + "\n")
    sh(sys.executable, "-m", "dvc", "repro", "-q", cwd=project)
    sh("git", "add", "-A", cwd=project)
    sh("git", "commit", "-qm", note, cwd=project)
    return sh("git", "rev-parse", "HEAD", cwd=project).stdout.strip()


def make_registry_project(dest: Path) -> Path:
    dest.mkdir(parents=True)
    (dest / "make.py").write_text(MAKE)
    (dest / "dvc.yaml").write_text(DVC_YAML)
    (dest / "params.yaml").write_bytes((ROOT / "params.yaml").read_bytes())
    sh("git", "init", "-q", cwd=dest)
    sh(sys.executable, "-m", "dvc", "init", "-q", cwd=dest)
    sh(sys.executable, "-m", "dvc", "config", "core.autostage", "true", cwd=dest)
    return dest


def tags(project: Path) -> list[str]:
    return sorted(sh("git", "tag", cwd=project).stdout.split())


def note(project: Path, tag: str) -> dict:
    text = sh("git", "tag", "-l", "--format=%(contents)", tag, cwd=project).stdout
    return json.loads(text)


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    project = make_registry_project(tmp_path_factory.mktemp("registry") / "proj")
    commit_with(project, 0.9, "a passing model")
    return project


def test_a_promotion_tag_carries_evidence_that_verifies(project: Path):
    import hashlib

    head = sh("git", "rev-parse", "HEAD", cwd=project).stdout.strip()
    code, out, err = invoke("promote", "assistant", "--stage", "prod", cwd=project)
    assert (code, err) == (0, ""), err
    assert out == f"promoted assistant@v0.0.1 to prod ({head[:7]})\n"
    for tag in ("assistant@v0.0.1", "assistant#prod#1"):
        got = note(project, tag)
        assert got["forge"] == 1 and got["commit"] == head and got["passed"] is True
        committed = sh("git", "show", f"{head}:results/eval/metrics.json", cwd=project).stdout
        assert got["metrics_sha256"] == hashlib.sha256(committed.encode()).hexdigest()
        assert got["metrics"] == json.loads(committed)
        lock = sh("git", "show", f"{head}:dvc.lock", cwd=project).stdout
        assert got["dvc_lock_sha256"] == hashlib.sha256(lock.encode()).hexdigest()
        assert got["gates"] == {"gates.exact_match_gain_min": True, "gates.exact_match_min": True}
    code, out, _ = invoke("models", "--json", cwd=project)
    row = json.loads(out)["assistant"]
    assert row["unverified"] == {"versions": {}, "stages": {}}
    assert row["stage"] == {"prod": "v0.0.1"}
    code, out, _ = invoke("models", cwd=project)
    assert code == 0 and "verified" in out and "unverified" not in out


def test_a_hand_made_tag_on_a_failing_commit_is_unverified_and_rollback_refuses_it(
    project: Path, monkeypatch
):
    monkeypatch.setenv("COLUMNS", "250")  # rich: one table row per line
    failing = commit_with(project, 0.1, "a failing model")
    for tag in ("assistant@v9.9.9", "assistant#prod#2"):
        sh("git", "tag", "-a", tag, "-m", "x", cwd=project)

    code, out, err = invoke("models", "--json", cwd=project)
    assert code == 0, err
    row = json.loads(out)["assistant"]
    assert row["version"] == "v9.9.9" and row["stage"] == {"prod": "v9.9.9"}  # GTO's view
    why = "no Forge annotation (a tag `forge promote` did not write)"
    assert row["unverified"] == {"versions": {"v9.9.9": why}, "stages": {"prod": why}}
    code, out, _ = invoke("models", cwd=project)
    assert code == 0 and "prod (unverified)" in out and "unverified: no Forge" in out

    # promotion refuses the failing commit itself, and tags nothing
    code, _, err = invoke("promote", "assistant", "--stage", "prod", cwd=project)
    assert code == 1 and "forge: error: gates.exact_match_min failed" in err
    # a passing model goes to prod; rolling back would land on the hand-made v9.9.9
    commit_with(project, 0.95, "a better model")
    code, out, err = invoke("promote", "assistant", "--stage", "prod", cwd=project)
    assert code == 0 and out.startswith("promoted assistant@v9.9.10 to prod"), err
    before = tags(project)
    code, out, err = invoke("rollback", "assistant", "--stage", "prod", cwd=project)
    assert (code, out) == (1, "")
    assert err == (
        f"forge: error: assistant@v9.9.9, the version prod held before v9.9.10, is unverified "
        f"({why}); pass --allow-unverified to roll back to it anyway\n"
    )
    assert tags(project) == before

    code, out, err = invoke(
        "rollback", "assistant", "--stage", "prod", "--allow-unverified", cwd=project
    )
    assert (code, err) == (0, "")
    assert out == "rolled back assistant#prod: v9.9.10 -> v9.9.9 (unverified)\n"
    assert note(project, "assistant#prod#4")["passed"] is False  # it says what it is
    code, out, _ = invoke("models", "--json", cwd=project)
    row = json.loads(out)["assistant"]
    assert row["stage"] == {"prod": "v9.9.9"}
    assert row["unverified"]["stages"]["prod"].startswith(
        f"at {failing[:7]}: gates.exact_match_min failed: eval/candidate/exact_match = 0.1"
    )


def test_a_copied_or_edited_annotation_does_not_verify(project: Path):
    from forge.registry.evidence import annotation, unverified

    good = sh("git", "rev-list", "-n", "1", "assistant@v0.0.1", cwd=project).stdout.strip()
    bad = sh("git", "rev-list", "-n", "1", "assistant@v9.9.9", cwd=project).stdout.strip()
    genuine = annotation(project, good)
    assert unverified(project, good, json.dumps(genuine)) is None
    # the good tag's annotation copied onto the failing commit
    assert unverified(project, bad, json.dumps(genuine)) == (
        f"its annotation names commit {good[:7]}, but the tag points at {bad[:7]}"
    )
    # ... and with its commit edited to match: the digests give it away
    assert unverified(project, bad, json.dumps({**genuine, "commit": bad})) == (
        f"its annotation's metrics_sha256, dvc_lock_sha256, metrics, gates, passed "
        f"differ from the files at {bad[:7]}"
    )
    # an annotation that is honest about a failing commit still does not verify
    honest = json.dumps(annotation(project, bad))
    assert unverified(project, bad, honest).startswith(f"at {bad[:7]}: gates.exact_match_min")
    assert unverified(project, good, "not json") == (
        "no Forge annotation (a tag `forge promote` did not write)"
    )


def test_a_detached_head_promotes_only_with_an_explicit_rev(project: Path):
    sh("git", "checkout", "-q", "--detach", cwd=project)
    head = sh("git", "rev-parse", "HEAD", cwd=project).stdout.strip()
    before = tags(project)
    code, _, err = invoke("promote", "assistant", "--stage", "staging", cwd=project)
    assert code == 1
    assert err == (
        f"forge: error: HEAD is detached at {head[:7]}; promote from a branch (git switch "
        f"BRANCH), or name the commit with --rev {head[:7]}\n"
    )
    parent = sh("git", "rev-parse", "HEAD~1", cwd=project).stdout.strip()
    code, _, err = invoke(
        "promote", "assistant", "--stage", "staging", "--rev", "HEAD~1", cwd=project
    )
    assert code == 1 and err.startswith(
        f"forge: error: --rev HEAD~1 is {parent[:7]}, but the checked-out commit is {head[:7]}"
    )
    code, _, err = invoke(
        "promote", "assistant", "--stage", "staging", "--rev", "--all", cwd=project
    )
    assert (code, err) == (
        2,
        "forge: error: --rev '--all': not a revision name (e.g. HEAD, a tag)\n",
    )
    code, _, err = invoke(
        "promote", "assistant", "--stage", "staging", "--rev", "nosuch", cwd=project
    )
    assert err == (
        "forge: error: --rev 'nosuch': not a commit in this repository (give HEAD, a "
        "branch, a commit or a version tag like assistant@v1.0.0)\n"
    )
    assert tags(project) == before

    code, out, err = invoke(
        "promote", "assistant", "--stage", "staging", "--rev", head, cwd=project
    )
    assert code == 0, err
    assert out == f"promoted assistant@v9.9.10 to staging ({head[:7]})\n"
    assert note(project, "assistant#staging#5")["commit"] == head
    sh("git", "checkout", "-q", "-", cwd=project)


def test_a_healed_candidate_promotes_and_its_healing_record_is_verified(tmp_path: Path):
    """The gate decision says how the candidate was healed (each attempt's class and fix, from
    results/train/attempts.json) and promotion recomputes that too: a healed candidate
    promotes and its tag verifies; a decision that hides the healing does not, even with a
    consistent dvc.lock; lineage carries the record."""
    from forge.registry.lineage import lineage

    project = tmp_path / "proj"
    make_registry_project(project)
    (project / "make.py").write_text(
        MAKE.replace(
            'Path("models/candidate/model.json").write_text(Path("inputs.json").read_text())',
            'Path("models/candidate/model.json").write_text(Path("inputs.json").read_text())\n'
            '    Path("results/train").mkdir(parents=True, exist_ok=True)\n'
            '    rows = json.loads(Path("inputs.json").read_text())["attempts"]\n'
            '    Path("results/train/attempts.json").write_text(json.dumps(rows))',
        ).replace(
            'Path("results/gate/decision.json"))',
            'Path("results/gate/decision.json"), attempts_paths={"train": '
            'Path("results/train/attempts.json"), "sft": Path("results/sft/attempts.json")})',
        )
    )
    (project / "dvc.yaml").write_text(
        DVC_YAML.replace(
            "    outs: [models/candidate]",
            "    outs:\n      - models/candidate\n      - results/train:\n          cache: false",
        ).replace(
            "deps: [make.py, results/eval/metrics.json]",
            "deps: [make.py, results/eval/metrics.json, results/train]",
        )
    )
    fix = {"recipe.batch_size": 16, "recipe.gradient_accumulation_steps": 2}
    rows = [
        {"attempt": 1, "class": "cuda_oom", "fix": {}, "evidence": ["CUDA out of memory"]},
        {"attempt": 2, "class": "ok", "fix": fix, "fix_by": "advisor"},
    ]
    (project / "inputs.json").write_text(json.dumps({"exact_match": 0.9, "attempts": rows}))
    sh(sys.executable, "-m", "dvc", "repro", "-q", cwd=project)
    sh("git", "add", "-A", cwd=project)
    sh("git", "commit", "-qm", "a healed model", cwd=project)
    decision = json.loads((project / "results/gate/decision.json").read_text())
    assert decision["healed"] == {
        "train": {
            "attempts": [
                {"attempt": 1, "class": "cuda_oom", "fix": {}},
                {"attempt": 2, "class": "ok", "fix": fix, "by": "advisor"},
            ],
            "fix": fix,
        }
    }
    code, out, err = invoke("promote", "assistant", "--stage", "prod", cwd=project)
    assert (code, err) == (0, ""), err
    code, out, _ = invoke("models", "--json", cwd=project)
    assert json.loads(out)["assistant"]["unverified"] == {"versions": {}, "stages": {}}
    data = lineage(project, "assistant@v0.0.1")
    assert data["healing"] == decision["healed"] and data["healed"] == fix

    # a decision that hides the healing, recorded in dvc.lock: refused
    del decision["healed"]
    (project / "results/gate/decision.json").write_text(json.dumps(decision, indent=2) + "\n")
    sh(sys.executable, "-m", "dvc", "commit", "-q", "-f", "gate", cwd=project)
    sh("git", "commit", "-qam", "hide the healing", cwd=project)
    code, _, err = invoke("promote", "assistant", "--stage", "staging", cwd=project)
    assert code == 1 and err.startswith(
        "forge: error: results/gate/decision.json disagrees with the gates recomputed from "
        "results/eval/metrics.json and params.yaml; it was edited or is stale"
    ), err
