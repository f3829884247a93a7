"""The gate stage: thresholds from gates.* against results/eval/metrics.json, and the data
gates (eval contamination, dataset licenses) against results/prepare/report.json. When a
training part failed and was healed (results/<part>/attempts.json), the decision says how:
each attempt's class and fix, and the fix it trained with (`healed`; absent when none was)."""

from __future__ import annotations

import json
import operator
from pathlib import Path
from typing import Any

from forge.config.schema import GatesConfig
from forge.errors import ForgeError
from forge.record import write_json

OPS = {">=": operator.ge, "<=": operator.le, "in": lambda v, allowed: set(v) <= set(allowed)}
# The training parts' attempt records (forge/train/supervisor.py), in DAG order
ATTEMPTS = {part: f"results/{part}/attempts.json" for part in ("sft", "reward", "train")}
# eval.suites' gates: gate -> (metric, op); a gate that is set applies when its suite ran
# (its metric is in metrics.json), so one gate set serves every eval suite
SUITE_GATES = {
    "toxicity_max": ("eval/candidate/toxicity", "<="),
    "repetition_max": ("eval/candidate/repetition", "<="),
    "distinct_2_min": ("eval/candidate/distinct_2", ">="),
    "answer_perplexity_max": ("eval/candidate/answer_perplexity", "<="),
}


class GateFailed(ForgeError):
    """The gate stage wrote its decision, and a gate failed: `dvc repro` fails too."""

    exit_code = 1


def checks(gates: GatesConfig, m: dict[str, float]) -> list[tuple[str, str, float, str, float]]:
    """(gate, metric, value, op, threshold) for every gate that is set."""
    if "eval/candidate/pairwise_accuracy" in m:  # a reward model scores, it does not answer
        acc = m["eval/candidate/pairwise_accuracy"]
        return [
            ("pairwise_accuracy_min", "eval/candidate/pairwise_accuracy", acc, ">=",
             gates.pairwise_accuracy_min)
        ]  # fmt: skip
    em, base_em = m["eval/candidate/exact_match"], m["eval/base/exact_match"]
    out = [
        ("exact_match_min", "eval/candidate/exact_match", em, ">=", gates.exact_match_min),
        (
            "exact_match_gain_min",
            "eval/candidate/exact_match - eval/base/exact_match",
            round(em - base_em, 6),
            ">=",
            gates.exact_match_gain_min,
        ),
    ]
    if gates.perplexity_max is not None:
        out.append(
            (
                "perplexity_max",
                "eval/candidate/perplexity",
                m["eval/candidate/perplexity"],
                "<=",
                gates.perplexity_max,
            )
        )
    for name, (metric, op) in SUITE_GATES.items():
        if (threshold := getattr(gates, name)) is not None and metric in m:
            out.append((name, metric, m[metric], op, threshold))
    return out


def data_checks(gates: GatesConfig, report: dict[str, Any]) -> list[tuple[str, str, Any, str, Any]]:
    """The gates on the training data, from prepare's report."""
    out: list[tuple[str, str, Any, str, Any]] = []
    if gates.contamination_max is not None:
        c = report["contamination"]
        value = c["test_in_train"] + c["val_in_train"]
        out.append(
            ("contamination_max", "data/contamination", value, "<=", gates.contamination_max)
        )
    if gates.allowed_licenses is not None:
        licenses = sorted({d["license"] for d in report["datasets"]})
        out.append(
            ("allowed_licenses", "data/licenses", licenses, "in", list(gates.allowed_licenses))
        )
    return out


def healing(attempts: dict[str, list[dict[str, Any]] | None]) -> dict[str, Any]:
    """{part: {"attempts": [{attempt, class, fix[, by]}], "fix": the fix it trained with}}
    for each part with a failed attempt (no durations: the same healing gives the same
    record); {} when no part failed."""
    out: dict[str, Any] = {}
    for part, rows in attempts.items():
        rows = [r for r in rows or [] if isinstance(r, dict)]
        if not any(r.get("class") != "ok" for r in rows):
            continue
        merged: dict[str, Any] = {}
        for r in rows:
            merged.update(r.get("fix") or {})
        out[part] = {
            "attempts": [
                {
                    "attempt": r.get("attempt"),
                    "class": r.get("class"),
                    "fix": r.get("fix") or {},
                    **({"by": r["fix_by"]} if r.get("fix_by") else {}),
                }
                for r in rows
            ],
            "fix": merged,
        }
    return out


def verdict(
    gates: GatesConfig,
    metrics: dict[str, Any],
    report: dict[str, Any] | None = None,
    attempts: dict[str, list[dict[str, Any]] | None] | None = None,
) -> dict[str, Any]:
    """Every gate's verdict, from the metrics (and, with prepare's report, the data gates;
    with the parts' attempts, how the candidate was healed): what the gate stage writes, and
    what promotion recomputes to check it."""
    found = checks(gates, metrics)
    if report is not None:
        found += data_checks(gates, report)
    rows = [
        {
            "gate": f"gates.{name}",
            "metric": metric,
            "value": value,
            "op": op,
            "threshold": threshold,
            "passed": bool(OPS[op](value, threshold)),
        }
        for name, metric, value, op, threshold in found
    ]
    decision = {"gates_name": gates.name, "passed": all(r["passed"] for r in rows), "gates": rows}
    if healed := healing(attempts or {}):
        decision["healed"] = healed
    return decision


def decide(
    gates: GatesConfig,
    metrics_path: Path,
    out_path: Path,
    report_path: Path | None = None,
    attempts_paths: dict[str, Path] | None = None,
) -> dict[str, Any]:
    """Every gate's verdict into `out_path`; with `report_path` (results/prepare/report.json)
    the data gates too; with `attempts_paths` ({part: results/<part>/attempts.json}, absent
    files skipped: a part the recipe does not train) how the candidate was healed."""
    if not metrics_path.is_file():
        raise ForgeError(f"{metrics_path} not found", hint="run `dvc repro evaluate`")
    report = None
    if report_path is not None:
        if not report_path.is_file():
            raise ForgeError(f"{report_path} not found", hint="run `dvc repro prepare`")
        report = json.loads(report_path.read_text())
    attempts = {
        part: json.loads(path.read_text())
        for part, path in (attempts_paths or {}).items()
        if path.is_file()
    }
    try:
        decision = verdict(gates, json.loads(metrics_path.read_text()), report, attempts)
    except KeyError as exc:  # metrics from another recipe or an older Forge
        raise ForgeError(
            f"{metrics_path} has no {exc} to gate on", hint="rerun `dvc repro evaluate`"
        ) from exc
    write_json(out_path, decision)
    return decision


def written_since(path: Path, since: float) -> dict[str, Any] | None:
    """The decision at `path` if the gate stage wrote it at or after `since` (a time.time()),
    else None. The stage writes it whole and then exits 1 on a failed gate, so after a
    failed `dvc repro` this tells a verdict (report it) from a stage that broke."""
    try:
        if path.stat().st_mtime < since:
            return None
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


PART_NAMES = {"train": "the candidate", "sft": "its warm start", "reward": "its reward model"}


def summary(decision: dict[str, Any], attempts: list[dict[str, Any]] | None = None) -> str:
    """The verdict, one line per gate, after a line per healed part saying how (from the
    decision's `healed`, or from the train stage's `attempts` rows when given)."""
    lines = [f"gate: {'PASSED' if decision['passed'] else 'FAILED'}"]
    healed = decision.get("healed") or healing({"train": attempts})
    for part, how in healed.items():
        rows = how["attempts"]
        failed = ", ".join(f"{a['attempt']} {a['class']}" for a in rows if a["class"] != "ok")
        fixes = "; ".join(
            f"attempt {a['attempt']}: " + " ".join(f"{k}={v}" for k, v in sorted(a["fix"].items()))
            for a in rows
            if a["fix"]
        )
        then = fixes or "resumed as is"
        name = PART_NAMES.get(part, part)
        lines.append(f"  note: {name} was healed (failed: {failed}; then {then})")
    for r in decision["gates"]:
        mark = "ok  " if r["passed"] else "FAIL"
        if r["op"] == "in":
            value, needs = ", ".join(r["value"]), f"each in {', '.join(r['threshold'])}"
        else:
            value, needs = f"{r['value']:.4g}", f"{r['op']} {r['threshold']}"
        lines.append(f"  {mark} {r['metric']} = {value} (needs {needs})")
    return "\n".join(lines)
