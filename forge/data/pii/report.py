"""Counts and masked samples of the findings in many records (`forge data scan`, `study`,
`add` and prepare's report)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import Any

from forge.data import pii  # scan and scan_many, through the package (its ENGINE applies)
from forge.data.pii.patterns import PII_TYPES, Finding

SAMPLES_PER_KIND = 3


# --- masking for report samples ----------------------------------------------------------


def _stars(s: str, keep_last: int = 0) -> str:
    """Every letter and digit of `s` but the last `keep_last` of them as '*'."""
    total = sum(ch.isalnum() for ch in s)
    out, seen = [], 0
    for ch in s:
        if ch.isalnum():
            seen += 1
            out.append(ch if seen > total - keep_last else "*")
        else:
            out.append(ch)
    return "".join(out)


def mask(kind: str, value: str) -> str:
    """A hint of `value` for a report that never reveals it: `j***@e***.com`,
    `****-****-****-1111`, `AKIA****************`."""
    if kind == "email":
        local, _, domain = value.partition("@")
        host, _, tld = domain.rpartition(".")
        return f"{local[:1]}***@{host[:1]}***.{tld}"
    if kind in ("credit_card", "us_ssn"):
        return _stars(value, keep_last=4)
    if kind == "phone":
        return _stars(value, keep_last=2)
    if kind == "ipv4":
        first = value.split(".", 1)[0]
        return f"{first}.***.***.***"
    if kind == "ipv6":
        return value.split(":", 1)[0] + ":****:****"
    if kind == "iban":
        return value[:2] + _stars(value[2:], keep_last=2)
    if kind == "private_key":
        header = value.split("-----", 2)[1] if value.count("-----") >= 2 else "PRIVATE KEY"
        return f"-----{header}----- [{len(value)} chars]"
    keep = min(4, len(value) // 4)
    return value[:keep] + "*" * (len(value) - keep)


class PiiReport:
    """Counts and masked samples of the findings in many records.

    report = PiiReport()
    for n, line in enumerate(lines, 1):
        report.add(line, f"data/raw/x.jsonl:{n}")
    report.to_dict()
    """

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        self.records_with_pii = 0
        self.samples: dict[str, list[dict[str, str]]] = {kind: [] for kind in PII_TYPES}

    def add(self, text: str, where: str) -> list[Finding]:
        """Scan one record's text; `where` (file:line) is kept with up to 3 samples a kind."""
        findings = pii.scan(text)
        self._count(findings, where)
        return findings

    def add_many(self, records: Iterable[tuple[str, str]]) -> list[list[Finding]]:
        """`[self.add(text, where) for text, where in records]`, scanned in one `scan_many`
        call: the same counts, samples and findings, faster on many short records."""
        records = list(records)
        found = pii.scan_many([text for text, _ in records])
        for findings, (_, where) in zip(found, records, strict=True):
            self._count(findings, where)
        return found

    def _count(self, findings: list[Finding], where: str) -> None:
        if findings:
            self.records_with_pii += 1
        for f in findings:
            self.counts[f.kind] += 1
            kept = self.samples[f.kind]
            if len(kept) < SAMPLES_PER_KIND:
                kept.append({"kind": f.kind, "where": where, "masked": mask(f.kind, f.value)})

    def merge(self, other: PiiReport) -> None:
        """Add `other`'s counts and records; keep samples up to 3 a kind, ours first."""
        self.counts.update(other.counts)
        self.records_with_pii += other.records_with_pii
        for kind in PII_TYPES:
            room = SAMPLES_PER_KIND - len(self.samples[kind])
            self.samples[kind].extend(other.samples[kind][: max(room, 0)])

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def to_dict(self) -> dict[str, Any]:
        return {
            "counts": {kind: self.counts[kind] for kind in PII_TYPES},
            "total": self.total,
            "records_with_pii": self.records_with_pii,
            "samples": [s for kind in PII_TYPES for s in self.samples[kind]],
        }
