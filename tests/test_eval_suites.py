"""Eval suites (issue 16 item 5): eval.tasks, eval.suites (toxicity, coherence), their gates
and their part in the regression check; and forge validate's file checks. Offline, fast."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from forge.config import compose as c
from forge.config.schema import GatesConfig
from forge.config.validate import check_files
from forge.errors import ConfigError, ForgeError
from forge.evaluate import suites
from forge.evaluate.compare import compare_all, compare_revs
from forge.evaluate.gate import verdict

from .conftest import ROOT, sh

EXAMPLE_TASK = "conf/eval/tasks/reverse_choice.yaml"


def test_repetition_and_distinct_n():
    assert suites.repetition("the cat sat on the mat") == 0.0
    assert suites.repetition("go go go go") == pytest.approx(2 / 3)  # bigrams: 3, distinct: 1
    assert suites.repetition("one") == 0.0  # no bigram, nothing repeats
    answers = ["a b c", "a b d"]
    assert suites.distinct(answers, 1) == pytest.approx(4 / 6)
    assert suites.distinct(answers, 2) == pytest.approx(3 / 4)
    assert suites.distinct(["one", "two"], 2) == 0.0  # one-word answers have no bigrams


def test_the_shipped_classifier_scores_profanity_offline():
    clean, rude = suites.profanity(["have a nice day", "you are a fucking idiot"])
    assert clean < 0.2 < 0.8 < rude


def test_suites_score_answers_with_the_given_model_functions():
    answers = {"Say hello to a new colleague.": "hello hello hello"}

    def answer(conversations):
        return [answers.get(conv[-1]["content"], "fine thanks") for conv in conversations]

    def base_logprobs(pairs):
        return [
            (-2.0 * len(a[0]["content"].split()), len(a[0]["content"].split())) for _, a in pairs
        ]

    metrics, rows = suites.run_suites(["toxicity", "coherence"], answer, base_logprobs, limit=3)
    assert [r["prompt"] for r in rows] == list(suites.PROMPTS[:3])
    assert rows[0] == {
        "prompt": suites.PROMPTS[0],
        "answer": "hello hello hello",
        "toxicity": rows[0]["toxicity"],
        "repetition": 0.5,
        "answer_nll": 2.0,
    }
    assert metrics["eval/suite/n_prompts"] == 3
    assert metrics["eval/candidate/repetition"] == pytest.approx(0.5 / 3, abs=1e-6)
    assert metrics["eval/candidate/answer_perplexity"] == pytest.approx(2.718282**2, rel=1e-5)
    assert metrics["eval/candidate/toxic_share"] == 0.0
    assert 0 < metrics["eval/candidate/toxicity"] < 0.2


def test_task_metrics_are_named_per_role_task_and_filter():
    results = {
        "mine": {"acc,none": 0.5, "acc_stderr,none": 0.1, "alias": "mine"},
        "gen": {"exact_match,strip": 1, "exact_match_stderr,strip": "N/A"},
    }
    assert suites.task_metrics("candidate", results, ["mine", "gen"]) == {
        "eval/candidate/task/mine/acc": 0.5,
        "eval/candidate/task/gen/exact_match/strip": 1.0,
    }


def test_local_tasks_resolve_and_hub_tasks_say_they_need_network(tmp_path, monkeypatch):
    local, hub = suites.resolve_tasks([EXAMPLE_TASK], ROOT)
    assert local == {"reverse_choice": ROOT / EXAMPLE_TASK} and hub == []
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ForgeError) as exc:
        suites.resolve_tasks([EXAMPLE_TASK, "hellaswag"], ROOT)
    assert str(exc.value).startswith(
        "eval.tasks: hellaswag: lm-eval hub tasks download their datasets, and "
        "HF_HUB_OFFLINE/HF_DATASETS_OFFLINE is set"
    )
    (tmp_path / "t.yaml").write_text("dataset_path: json\n")
    with pytest.raises(ForgeError, match="has no `task:` name"):
        suites.resolve_tasks(["t.yaml"], tmp_path)
    (tmp_path / "f.yaml").write_text("task: f\nprocess_docs: !function utils.process\n")
    assert suites.resolve_tasks(["f.yaml"], tmp_path)[0] == {"f": tmp_path / "f.yaml"}


def test_an_offline_hub_task_stops_the_evaluate_stage_in_one_line(project):
    sh(str(Path(sys.executable).parent / "forge"), "compose", "eval.tasks=[hellaswag]", cwd=project)
    (project / "models/base").mkdir(parents=True)
    (project / "models/base/forge_base.json").write_text("{}")  # no model: it must not load one
    proc = subprocess.run(
        [sys.executable, "-m", "forge.stages.evaluate"],
        cwd=project,
        capture_output=True,
        text=True,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )
    assert proc.returncode == 2
    assert proc.stderr.splitlines() == [
        "forge: error: eval.tasks: hellaswag: lm-eval hub tasks download their datasets, and "
        "HF_HUB_OFFLINE/HF_DATASETS_OFFLINE is set (unset it on a machine with network, or "
        "use a local YAML task file)"
    ]


METRICS = {
    "eval/base/exact_match": 0.0,
    "eval/candidate/exact_match": 1.0,
    "eval/candidate/perplexity": 1.4,
}
SUITE_METRICS = {
    "eval/candidate/toxicity": 0.3,
    "eval/candidate/repetition": 0.1,
    "eval/candidate/distinct_2": 0.5,
    "eval/candidate/answer_perplexity": 80.0,
}


def test_suite_gates_apply_when_their_suite_ran():
    gates = GatesConfig(name="t", exact_match_min=0.8, toxicity_max=0.2, repetition_max=0.3)
    plain = verdict(gates, METRICS)
    assert plain["passed"] and [g["gate"] for g in plain["gates"]] == [
        "gates.exact_match_min",
        "gates.exact_match_gain_min",
    ]
    suite = verdict(gates, {**METRICS, **SUITE_METRICS})
    rows = {g["gate"]: (g["value"], g["op"], g["passed"]) for g in suite["gates"]}
    assert rows["gates.toxicity_max"] == (0.3, "<=", False)
    assert rows["gates.repetition_max"] == (0.1, "<=", True)
    assert "gates.distinct_2_min" not in rows  # not set: not gated
    assert not suite["passed"]


def _gate(project: Path, metrics: dict, **env: str) -> subprocess.CompletedProcess:
    (project / "results/eval").mkdir(parents=True, exist_ok=True)
    (project / "results/eval/metrics.json").write_text(json.dumps(metrics))
    (project / "results/prepare").mkdir(parents=True, exist_ok=True)
    report = {"contamination": {"test_in_train": 0, "val_in_train": 0}, "datasets": []}
    (project / "results/prepare/report.json").write_text(json.dumps(report))
    return subprocess.run(
        [sys.executable, "-m", "forge.stages.gate"],
        cwd=project,
        capture_output=True,
        text=True,
        env={**{k: v for k, v in os.environ.items() if k != "DVC_EXP_BASELINE_REV"}, **env},
    )


def test_a_failed_gate_fails_the_stage_after_writing_its_decision(project):
    decision = project / "results/gate/decision.json"
    ok = _gate(project, METRICS)
    assert ok.returncode == 0 and ok.stdout.startswith("gate: PASSED"), ok.stderr
    bad = _gate(project, {**METRICS, "eval/candidate/exact_match": 0.5})
    assert bad.returncode == 1 and bad.stdout.startswith("gate: FAILED")
    assert bad.stderr == (
        "forge: error: the gate did not pass (gates.exact_match_min); see "
        "results/gate/decision.json\n"
    )
    assert json.loads(decision.read_text())["passed"] is False  # written whole, first
    # how forge run tells this verdict from a stage that broke: the decision is this run's
    from forge.evaluate.gate import written_since

    mtime = decision.stat().st_mtime
    assert written_since(decision, mtime)["passed"] is False
    assert written_since(decision, mtime + 1) is None
    assert written_since(project / "results/gate/none.json", 0) is None
    # under `dvc exp run` the experiment is kept with its verdict
    exp = _gate(project, {**METRICS, "eval/candidate/exact_match": 0.5}, DVC_EXP_BASELINE_REV="x")
    assert exp.returncode == 0 and exp.stdout.startswith("gate: FAILED"), exp.stderr


def _commit(repo: Path, candidate: list[dict], suite: list[dict]) -> str:
    for name, rows in (("samples_candidate", candidate), ("samples_suite", suite)):
        path = repo / f"results/eval/{name}.jsonl"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    sh("git", "add", "-A", cwd=repo)
    sh("git", "commit", "-qm", "eval", cwd=repo)
    return sh("git", "rev-parse", "HEAD", cwd=repo).stdout.strip()


def test_suite_scores_take_part_in_the_regression_check(tmp_path):
    sh("git", "init", "-q", cwd=tmp_path)
    em = [{"prompt": f"reverse: {i}", "exact_match": 1.0} for i in range(50)]

    def suite(tox: float) -> list[dict]:
        return [
            {"prompt": p, "toxicity": tox, "repetition": 0.0, "answer_nll": 3.0}
            for p in suites.PROMPTS
        ]

    clean = _commit(tmp_path, em, suite(0.05))
    rude = _commit(tmp_path, em, suite(0.6))
    found = compare_all(tmp_path, clean, rude, tolerance=0.02, confidence=0.95)
    assert [x.metric for x in found] == [
        "eval/candidate/exact_match",
        "eval/candidate/answer_nll",
        "eval/candidate/repetition",
        "eval/candidate/toxicity",
    ]
    worst = compare_revs(tmp_path, clean, rude, tolerance=0.02, confidence=0.95)
    assert worst.metric == "eval/candidate/toxicity" and worst.regressed
    assert worst.delta == pytest.approx(0.55) and not worst.higher_is_better
    assert not compare_revs(tmp_path, rude, clean, tolerance=0.02, confidence=0.95).regressed
    no_suite = _commit(tmp_path, em, [])  # a commit without eval.suites: the headline only
    assert len(compare_all(tmp_path, no_suite, rude, tolerance=0.02, confidence=0.95)) == 1


def test_validate_checks_data_and_task_files(tmp_path):
    cfg = c.to_container(c.compose([], ROOT / "conf"))
    assert check_files(cfg, ROOT) == []
    cfg["eval"]["tasks"] = ["conf/eval/tasks/missing.yaml", "hellaswag"]
    cfg["data"]["path"] = "data/raw/tickets.csv"
    cfg["data"]["preference_path"] = "data/raw/demo_preference.jsonl"
    (tmp_path / "data/raw").mkdir(parents=True)
    assert check_files(cfg, tmp_path) == [
        "data.path: data/raw/tickets.csv not found (nor data/raw/tickets.csv.dvc); add it with "
        "`forge data add data/raw/tickets.csv --license SPDX --source TEXT`",
        "data.preference_path: data/raw/demo_preference.jsonl not found (nor "
        "data/raw/demo_preference.jsonl.dvc); add it with `forge data add "
        "data/raw/demo_preference.jsonl --license SPDX --source TEXT`",
        "eval.tasks: conf/eval/tasks/missing.yaml not found (a YAML task file from the repo root)",
    ]
    cfg["data"]["preference_path"] = None
    (tmp_path / "data/raw/tickets.csv.dvc").write_text("outs: []\n")  # tracked, not pulled
    assert check_files(cfg, tmp_path)[0] == (
        "data.path: data/raw/tickets.csv has no card in data/cards/; run "
        "`forge data add data/raw/tickets.csv --license SPDX --source TEXT`"
    )


def test_suites_need_a_recipe_that_answers():
    with pytest.raises(ConfigError) as exc:
        c.compose(["recipe=reward_model", "eval=toxicity"], ROOT / "conf")
    assert (
        "eval.suites: recipe=reward_model trains a scorer that does not answer, so toxicity "
        "cannot run; set eval.suites=[]"
    ) in exc.value.problems
