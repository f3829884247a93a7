"""Raw rows -> data/prepared/ in one canonical form, and results/prepare/report.json.

- SFT rows from `data.path` (any file type and schema, see formats.py) become
  data/prepared/{train,val,test}.jsonl as {"messages": [...]}.
- Preference rows from `data.preference_path` become
  data/prepared/preference/{train,val,test}.jsonl in TRL's conversational preference form,
  and data/prepared/unpaired/{train,val,test}.jsonl in TRL's unpaired form (KTO): each pair
  gives a desirable row (the chosen answer, label true) and an undesirable one (label false).
- data/prepared/datasets.json lists each source file with its card's license and source,
  for the train stage's manifest and model card.

A row's split is a hash of its normalized prompt, for both kinds of row, so the same prompt
always lands in the same split: a test prompt can never reach any train split. Every record
is scanned for PII once (its text joined) and handled by the policy: block fails, redact
writes "[REDACTED:KIND]" in place of each finding, allow records and goes on. Duplicates
(exact, and equal after case and whitespace normalization) are dropped and counted; near
duplicates in train and eval prompts found in train are reported.

Rows stream through; only a few 8-byte digests are kept per row. Outputs go to a temporary
directory that replaces data/prepared/ only when every row was read and every check held.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import unicodedata
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from forge.config.schema import DataConfig
from forge.data import cards
from forge.data.formats import Messages, Reader, pii_candidates, preference_parts, to_messages
from forge.data.pii import Finding, PiiReport
from forge.errors import DataError
from forge.record import file_hash, write_json

SPLITS = ("train", "val", "test")
SAMPLES = 5
_PUNCT = re.compile(r"[^\w\s]+")


def _normalize(text: str) -> str:
    return " ".join(text.lower().split())


def near_key(text: str) -> str:
    """Looser than _normalize: NFKC, case-folded, punctuation as space, whitespace collapsed
    ("Reverse:  ABC!" and "reverse abc" agree; "1+23" and "12+3" do not)."""
    return " ".join(_PUNCT.sub(" ", unicodedata.normalize("NFKC", text).casefold()).split())


def _digest(text: str) -> int:
    """8 bytes of blake2b as an int: ~50 bytes a set entry, a collision ~1e-7 at 1M rows."""
    h = hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=8).digest()
    return int.from_bytes(h, "big")


def split_of(prompt: str, cfg: DataConfig) -> str:
    digest = hashlib.sha256(f"{cfg.seed}\0{_normalize(prompt)}".encode()).digest()
    u = int.from_bytes(digest[:8], "big") / 2**64
    if u < cfg.test_fraction:
        return "test"
    if u < cfg.test_fraction + cfg.val_fraction:
        return "val"
    return "train"


def redact_fields(contents: list[str], findings: list[Finding], sep: str) -> list[str]:
    """Apply `findings` (offsets into sep.join(contents)) to each field, as pii.redact does."""
    out, start = [], 0
    for text in contents:
        end = start + len(text)
        parts, pos = [], 0
        for f in findings:
            if f.end <= start or f.start >= end:
                continue
            a, b = max(f.start, start) - start, min(f.end, end) - start
            parts.append(text[pos:a])
            parts.append(f"[REDACTED:{f.kind.upper()}]")
            pos = b
        parts.append(text[pos:])
        out.append("".join(parts))
        start = end + len(sep)
    return out


class _Pii:
    """One PII report across files, and the policy applied to each record."""

    SEP = "\n"

    def __init__(self, policy: str) -> None:
        self.policy = policy
        self.report = PiiReport()
        self.maybe: set[str] | None = None

    def reading(self, path: Path) -> None:
        """The records of `path` come next: in a JSONL file only those that a prefilter
        pass over the file flags can hold PII, so the rest are not scanned."""
        self.maybe = pii_candidates(path)

    def apply(self, groups: list[Messages], where: str) -> list[Messages]:
        if self.maybe is not None and where not in self.maybe:
            return groups
        contents = [m["content"] for g in groups for m in g]
        findings = self.report.add(self.SEP.join(contents), where)
        if not findings or self.policy != "redact":
            return groups
        redacted = iter(redact_fields(contents, findings, self.SEP))
        return [[{**m, "content": next(redacted)} for m in g] for g in groups]


class _Stats:
    """Duplicates and contamination, from 8-byte digests (memory stays small)."""

    def __init__(self) -> None:
        self.exact: set[int] = set()
        self.normalized: set[int] = set()
        self.near_train: set[int] = set()
        self.prompts: dict[str, set[int]] = {s: set() for s in SPLITS}
        self.first_prompt: dict[int, str] = {}
        self.dups: Counter[tuple[str, str]] = Counter()
        self.samples: dict[str, list[dict[str, str]]] = {"duplicates": [], "near": []}

    def keep(self, kind: str, prompt: str, rest: list[str], exact: str, split: str, where: str):
        """False when the row is a duplicate (and is dropped)."""
        key = _digest(kind + "\0" + _normalize(prompt) + "\0" + "\0".join(map(_normalize, rest)))
        ex = _digest(kind + "\0" + exact)
        if key in self.normalized:
            which = "exact" if ex in self.exact else "normalized"
            self.dups[kind, which] += 1
            if len(self.samples["duplicates"]) < SAMPLES:
                self.samples["duplicates"].append({"kind": which, "where": where})
            return False
        self.normalized.add(key)
        self.exact.add(ex)
        p = _digest(near_key(prompt))
        self.prompts[split].add(p)
        if split != "train":  # where an eval prompt is, for the contamination samples
            self.first_prompt.setdefault(p, where)
        else:
            near = _digest(kind + "\0" + near_key(prompt) + "\0" + near_key(" ".join(rest)))
            if near in self.near_train:
                self.dups[kind, "near_in_train"] += 1
                if len(self.samples["near"]) < SAMPLES:
                    self.samples["near"].append({"where": where})
            self.near_train.add(near)
        return True

    def contamination(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for split in ("test", "val"):
            both = self.prompts[split] & self.prompts["train"]
            out[f"{split}_in_train"] = len(both)
            out[f"{split}_samples"] = sorted(self.first_prompt[p] for p in both)[:SAMPLES]
        return out


def _sft_rows(cfg: DataConfig) -> tuple[Reader, Iterator[tuple[str, Messages]]]:
    reader = Reader(Path(cfg.path), cfg.format, "data.format")

    def rows() -> Iterator[tuple[str, Messages]]:
        for where, row, schema in reader:
            yield where, to_messages(row, schema, where)

    return reader, rows()


def _preference_rows(path: str) -> tuple[Reader, Iterator[tuple[str, list[Messages]]]]:
    reader = Reader(Path(path), "preference", "data.preference_path")

    def rows() -> Iterator[tuple[str, list[Messages]]]:
        for where, row, _ in reader:
            yield where, list(preference_parts(row, where))

    return reader, rows()


def _policy(cfg: DataConfig, found: list[tuple[Path, dict] | None]) -> str:
    """data.pii_policy if set; else the strictest policy on the input files' cards (block
    without a card)."""
    if cfg.pii_policy is not None:
        policy, origin = cfg.pii_policy, "data.pii_policy"
    else:
        policy, origin = "allow", "the dataset card"
        for card_file, card in [f for f in found if f] or [(None, {"pii_policy": "block"})]:
            p = card.get("pii_policy", "block")
            if p not in cards.POLICIES:
                raise DataError(f"{card_file}: pii_policy '{p}' is not one of block, redact, allow")
            policy = min(policy, p, key=cards.POLICIES.index)
    if policy not in cards.POLICIES:
        raise DataError(f"{origin}: '{policy}' is not one of {', '.join(cards.POLICIES)}")
    return policy


def _dataset(role: str, path: str, reader: Reader, found) -> dict[str, Any]:
    card_file, card = found if found else (None, {})
    sha = file_hash(Path(path))
    return {
        "card": card_file.as_posix() if card_file else None,
        "card_current": bool(card) and card.get("sha256") == sha,
        "file_type": reader.file_type,
        "license": card.get("license", "unknown"),
        "name": card.get("name"),
        "path": path,
        "role": role,
        "rows": reader.rows,
        "schema": reader.schema,
        "schemas": dict(sorted(reader.schemas.items())),
        "sha256": sha,
        "source": card.get("source", "unknown"),
    }


def prepare(
    cfg: DataConfig, out_dir: Path, report_path: Path, cards_dir: Path | None = None
) -> dict[str, Any]:
    """Write data/prepared/ and the report; returns the report. With `cards_dir`, every
    input file must have a card there (the prepare stage passes data/cards)."""
    inputs = [("sft", cfg.path, "data.path")]
    if cfg.preference_path is not None:
        inputs.append(("preference", cfg.preference_path, "data.preference_path"))
    found = [
        cards.require(p, setting, cards_dir) if cards_dir is not None else None
        for _, p, setting in inputs
    ]
    pii = _Pii(_policy(cfg, found))
    stats = _Stats()
    counts: dict[str, Counter[str]] = {"sft": Counter(), "preference": Counter()}
    readers: dict[str, Reader] = {}

    tmp = out_dir.with_name(out_dir.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    (tmp / "preference").mkdir(parents=True)
    (tmp / "unpaired").mkdir()
    try:
        files = {("sft", s): (tmp / f"{s}.jsonl").open("w", encoding="utf-8") for s in SPLITS}
        if cfg.preference_path is not None:
            files |= {
                (kind, s): (tmp / kind / f"{s}.jsonl").open("w", encoding="utf-8")
                for kind in ("preference", "unpaired")
                for s in SPLITS
            }
        try:
            reader, sft = _sft_rows(cfg)
            readers["sft"] = reader
            pii.reading(Path(cfg.path))
            for where, messages in sft:
                (messages,) = pii.apply([messages], where)
                prompt = " ".join(m["content"] for m in messages[:-1])
                split = split_of(prompt, cfg)
                exact = json.dumps(messages, ensure_ascii=False)
                if stats.keep("sft", prompt, [messages[-1]["content"]], exact, split, where):
                    counts["sft"][split] += 1
                    files["sft", split].write(
                        json.dumps({"messages": messages}, ensure_ascii=False) + "\n"
                    )
            if cfg.preference_path is not None:
                reader, pref = _preference_rows(cfg.preference_path)
                readers["preference"] = reader
                pii.reading(Path(cfg.preference_path))
                for where, parts in pref:
                    p, c, r = pii.apply(parts, where)
                    prompt = " ".join(m["content"] for m in p)
                    split = split_of(prompt, cfg)
                    rest = [" ".join(m["content"] for m in x) for x in (c, r)]
                    exact = json.dumps([p, c, r], ensure_ascii=False)
                    if stats.keep("preference", prompt, rest, exact, split, where):
                        counts["preference"][split] += 1
                        row = {"prompt": p, "chosen": c, "rejected": r}
                        files["preference", split].write(json.dumps(row, ensure_ascii=False) + "\n")
                        for answer, label in ((c, True), (r, False)):
                            one = {"prompt": p, "completion": answer, "label": label}
                            line = json.dumps(one, ensure_ascii=False)
                            files["unpaired", split].write(line + "\n")
        finally:
            for f in files.values():
                f.close()
        for role, reader in readers.items():
            if reader.rows == 0:
                raise DataError(f"{reader.path}: no rows (the file is empty)")
            for split in ("train", "test"):
                if counts[role][split] == 0:
                    raise DataError(
                        f"{reader.path}: the {split} split is empty; add rows or adjust fractions"
                    )
        pii_summary = {**pii.report.to_dict(), "policy": pii.policy}
        if pii.policy == "block" and pii.report.total:
            kinds = ", ".join(f"{k} {n}" for k, n in pii_summary["counts"].items() if n)
            first = pii_summary["samples"][0]["where"]
            raise DataError(
                f"{first}: PII found ({kinds}; {pii.report.records_with_pii} records) and the "
                "PII policy is block; nothing was written",
                hint="see `forge data scan`; set data.pii_policy=redact or clean the file",
            )
        datasets = [
            _dataset(role, path, readers[role], f)
            for (role, path, _), f in zip(inputs, found, strict=True)
        ]
        write_json(tmp / "datasets.json", datasets)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if cfg.preference_path is None:
        shutil.rmtree(tmp / "preference")
        shutil.rmtree(tmp / "unpaired")

    kinds = ("exact", "normalized", "near_in_train")
    dup = {
        **{k: stats.dups["sft", k] for k in kinds},
        "samples": stats.samples["duplicates"],
        "near_samples": stats.samples["near"],
    }
    if cfg.preference_path is not None:
        dup["preference"] = {k: stats.dups["preference", k] for k in kinds}
    report = {
        "source": {"path": cfg.path, "rows": readers["sft"].rows, "format": readers["sft"].schema},
        "counts": {s: counts["sft"][s] for s in SPLITS},
        "duplicates_dropped": dup["exact"] + dup["normalized"],
        "duplicates": dup,
        "contamination": stats.contamination(),
        "datasets": datasets,
        "licenses": sorted({d["license"] for d in datasets}),
        "pii": {
            **pii_summary,
            "action": {"block": "none found", "redact": "redacted", "allow": "kept"}[pii.policy],
        },
    }
    if cfg.preference_path is not None:
        report["preference_counts"] = {s: counts["preference"][s] for s in SPLITS}
    if out_dir.exists():
        shutil.rmtree(out_dir)
    tmp.replace(out_dir)
    write_json(report_path, report)
    return report
