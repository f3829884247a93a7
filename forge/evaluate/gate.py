"""The gate stage: thresholds from gates.* against results/eval/metrics.json, and the data
gates (eval contamination, dataset licenses) against results/prepare/report.json."""

from __future__ import annotations

import json
import operator
from pathlib import Path
from typing import Any

from forge.config.schema import GatesConfig
from forge.errors import ForgeError
from forge.record import write_json

OPS = {">=": operator.ge, "<=": operator.le, "in": lambda v, allowed: set(v) <= set(allowed)}


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


def verdict(
    gates: GatesConfig, metrics: dict[str, Any], report: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Every gate's verdict, from the metrics (and, with prepare's report, the data gates):
    what the gate stage writes, and what promotion recomputes to check it."""
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
    return {"gates_name": gates.name, "passed": all(r["passed"] for r in rows), "gates": rows}


def decide(
    gates: GatesConfig, metrics_path: Path, out_path: Path, report_path: Path | None = None
) -> dict[str, Any]:
    """Every gate's verdict into `out_path`; with `report_path` (results/prepare/report.json)
    the data gates too."""
    if not metrics_path.is_file():
        raise ForgeError(f"{metrics_path} not found", hint="run `dvc repro evaluate`")
    report = None
    if report_path is not None:
        if not report_path.is_file():
            raise ForgeError(f"{report_path} not found", hint="run `dvc repro prepare`")
        report = json.loads(report_path.read_text())
    decision = verdict(gates, json.loads(metrics_path.read_text()), report)
    write_json(out_path, decision)
    return decision


def summary(decision: dict[str, Any], attempts: list[dict[str, Any]] | None = None) -> str:
    """The verdict, one line per gate; with the train stage's attempts
    (results/train/attempts.json), a line saying whether the candidate was healed and how."""
    lines = [f"gate: {'PASSED' if decision['passed'] else 'FAILED'}"]
    healed = [(a["attempt"], a["fix"]) for a in attempts or [] if a.get("fix")]
    if healed:
        failed = ", ".join(f"{a['attempt']} {a['class']}" for a in attempts if a["class"] != "ok")
        fixes = "; ".join(
            f"attempt {n}: " + " ".join(f"{k}={v}" for k, v in sorted(fix.items()))
            for n, fix in healed
        )
        lines.append(f"  note: the candidate was healed (failed: {failed}; then {fixes})")
    for r in decision["gates"]:
        mark = "ok  " if r["passed"] else "FAIL"
        if r["op"] == "in":
            value, needs = ", ".join(r["value"]), f"each in {', '.join(r['threshold'])}"
        else:
            value, needs = f"{r['value']:.4g}", f"{r['op']} {r['threshold']}"
        lines.append(f"  {mark} {r['metric']} = {value} (needs {needs})")
    return "\n".join(lines)
