"""The gate stage: thresholds from gates.* against results/eval/metrics.json."""

from __future__ import annotations

import json
import operator
from pathlib import Path
from typing import Any

from forge.config.schema import GatesConfig
from forge.errors import ForgeError
from forge.record import write_json

OPS = {">=": operator.ge, "<=": operator.le}


def checks(gates: GatesConfig, m: dict[str, float]) -> list[tuple[str, str, float, str, float]]:
    """(gate, metric, value, op, threshold) for every gate that is set."""
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


def decide(gates: GatesConfig, metrics_path: Path, out_path: Path) -> dict[str, Any]:
    if not metrics_path.is_file():
        raise ForgeError(f"{metrics_path} not found", hint="run `dvc repro evaluate`")
    metrics = json.loads(metrics_path.read_text())
    rows = []
    for name, metric, value, op, threshold in checks(gates, metrics):
        rows.append(
            {
                "gate": f"gates.{name}",
                "metric": metric,
                "value": value,
                "op": op,
                "threshold": threshold,
                "passed": bool(OPS[op](value, threshold)),
            }
        )
    decision = {"gates_name": gates.name, "passed": all(r["passed"] for r in rows), "gates": rows}
    write_json(out_path, decision)
    return decision


def summary(decision: dict[str, Any]) -> str:
    lines = [f"gate: {'PASSED' if decision['passed'] else 'FAILED'}"]
    for r in decision["gates"]:
        mark = "ok  " if r["passed"] else "FAIL"
        lines.append(
            f"  {mark} {r['metric']} = {r['value']:.4g} (needs {r['op']} {r['threshold']})"
        )
    return "\n".join(lines)
