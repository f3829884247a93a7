"""Typed results. Each keeps the server's whole answer in `raw`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Dataset:
    name: str
    path: str
    license: str
    source: str
    rows: int | None
    pii_policy: str | None
    pii_findings: int | None
    raw: dict[str, Any] = field(repr=False, compare=False)

    @classmethod
    def of(cls, d: dict[str, Any]) -> Dataset:
        return cls(
            name=d["name"],
            path=d["path"],
            license=d["license"],
            source=d["source"],
            rows=d.get("rows"),
            pii_policy=d.get("pii_policy"),
            pii_findings=(d.get("pii") or {}).get("total"),
            raw=d,
        )


@dataclass(frozen=True)
class Job:
    id: str
    kind: str
    status: str  # queued, running, done, failed
    result: Any
    error: str | None
    problems: list[str]
    status_code: int | None

    @classmethod
    def of(cls, d: dict[str, Any]) -> Job:
        return cls(
            id=d["id"],
            kind=d["kind"],
            status=d["status"],
            result=d.get("result"),
            error=d.get("error"),
            problems=d.get("problems") or [],
            status_code=d.get("status_code"),
        )


@dataclass(frozen=True)
class Run:
    id: str
    status: str  # queued, running, done, failed, cancelled
    overrides: list[str]
    exp_ref: str | None
    exp_sha: str | None
    error: str | None
    metrics: dict[str, float] | None
    decision: dict[str, Any] | None
    raw: dict[str, Any] = field(repr=False, compare=False)

    @property
    def finished(self) -> bool:
        return self.status in ("done", "failed", "cancelled")

    @classmethod
    def of(cls, d: dict[str, Any]) -> Run:
        return cls(
            id=d["id"],
            status=d["status"],
            overrides=d.get("overrides") or [],
            exp_ref=d.get("exp_ref"),
            exp_sha=d.get("exp_sha"),
            error=d.get("error"),
            metrics=d.get("metrics"),
            decision=d.get("decision"),
            raw=d,
        )


@dataclass(frozen=True)
class Point:
    step: int
    value: float


@dataclass(frozen=True)
class Metrics:
    run_id: str
    status: str
    series: dict[str, list[Point]]

    @classmethod
    def of(cls, d: dict[str, Any]) -> Metrics:
        return cls(
            run_id=d["id"],
            status=d["status"],
            series={
                k: [Point(int(p["step"]), float(p["value"])) for p in v]
                for k, v in d["series"].items()
            },
        )


@dataclass(frozen=True)
class Promotion:
    name: str
    version: str
    stage: str
    commit: str
    unchanged: bool

    @classmethod
    def of(cls, d: dict[str, Any]) -> Promotion:
        return cls(d["name"], d["version"], d["stage"], d["commit"], bool(d.get("unchanged")))


@dataclass(frozen=True)
class Model:
    name: str
    latest: str | None
    stages: dict[str, str]
    metrics: dict[str, dict[str, float]]  # version -> headline metric -> value
    unverified: dict[str, Any]

    @classmethod
    def of(cls, name: str, d: dict[str, Any]) -> Model:
        return cls(
            name=name,
            latest=d.get("version"),
            stages=d.get("stage") or {},
            metrics=d.get("metrics") or {},
            unverified=d.get("unverified") or {},
        )


@dataclass(frozen=True)
class Comparison:
    metric: str
    baseline: float
    candidate: float
    delta: float
    delta_low: float
    delta_high: float
    p_worse: float
    n: int
    regressed: bool

    @classmethod
    def of(cls, d: dict[str, Any]) -> Comparison:
        return cls(**{k: d[k] for k in cls.__dataclass_fields__})
