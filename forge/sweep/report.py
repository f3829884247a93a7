"""The sweep's results: every point's varying params, headline metrics, gate verdict and
wall time; the best point by a metric; the same as JSON (results/sweeps/<id>.json)."""

from __future__ import annotations

from typing import Any

LOWER_IS_BETTER = ("loss", "perplexity")


def gate_metric(decision: dict[str, Any] | None) -> tuple[str, str] | None:
    """The gate's headline metric (its first gate) and its direction, 'max' or 'min'."""
    rows = (decision or {}).get("gates") or []
    for row in rows:
        if row.get("op") in (">=", "<="):
            return row["metric"], "max" if row["op"] == ">=" else "min"
    return None


def metric_value(point: dict[str, Any], metric: str) -> float | None:
    value = (point.get("metrics") or {}).get(metric)
    if value is None:
        for row in (point.get("decision") or {}).get("gates") or []:
            if row.get("metric") == metric:
                value = row.get("value")
    return value if isinstance(value, int | float) else None


def direction(metric: str, points: list[dict[str, Any]]) -> str:
    for p in points:
        for row in (p.get("decision") or {}).get("gates") or []:
            if row.get("metric") == metric and row.get("op") in (">=", "<="):
                return "max" if row["op"] == ">=" else "min"
    return "min" if any(word in metric for word in LOWER_IS_BETTER) else "max"


def best(points: list[dict[str, Any]], metric: str | None) -> tuple[str | None, str, str | None]:
    """(metric, direction, name of the best finished point)."""
    if metric is None:
        found = next((gate_metric(p.get("decision")) for p in points if p.get("decision")), None)
        if found is None:
            return None, "max", None
        metric = found[0]
    way = direction(metric, points)
    scored = [(metric_value(p, metric), p["name"]) for p in points if p.get("status") == "done"]
    scored = [(v, n) for v, n in scored if v is not None]
    if not scored:
        return metric, way, None
    pick = max if way == "max" else min
    value = pick(v for v, _ in scored)
    return metric, way, next(n for v, n in scored if v == value)


def headline(points: list[dict[str, Any]]) -> list[str]:
    """The candidate's evaluation metrics every finished point reports."""
    keys: list[str] = []
    for p in points:
        for k in p.get("metrics") or {}:
            if k.startswith("eval/candidate/") and k not in keys:
                keys.append(k)
    return keys


def table(summary: dict[str, Any]) -> Any:
    from rich.table import Table

    points = summary["points"]
    metrics = headline(points)
    t = Table(
        title=f"sweep {summary['id']}: {len(points)} points",
        caption=(
            f"* best by {summary['metric']} ({summary['direction']})"
            if summary.get("best")
            else None
        ),
    )
    t.add_column("", no_wrap=True)
    t.add_column("experiment", no_wrap=True)
    for key in summary["varying"]:
        t.add_column(key)
    for key in metrics:
        t.add_column(key.removeprefix("eval/candidate/"), justify="right")
    t.add_column("gate")
    t.add_column("wall", justify="right")
    for p in points:
        cells = ["*" if p["name"] == summary.get("best") else "", p["name"]]
        cells += [p["params"].get(k, "") for k in summary["varying"]]
        for key in metrics:
            v = (p.get("metrics") or {}).get(key)
            cells.append("" if v is None else f"{v:.4g}")
        if p["status"] != "done":
            cells.append(p["status"] + (f": {p['error']}" if p.get("error") else ""))
        else:
            cells.append("PASSED" if p.get("passed") else "FAILED")
        cells.append(f"{p['wall_s']:.0f} s" if p.get("wall_s") else "")
        t.add_row(*cells)
    return t
