"""`forge data add` and `forge data scan`: read a raw file once, check every record converts,
scan it for PII, and (add) track it with DVC and write its card."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

from forge.data import cards
from forge.data.files import inside_project
from forge.data.formats import Reader, pii_candidates, preference_parts, texts, to_messages
from forge.data.pii import PiiReport
from forge.errors import DataError
from forge.record import file_hash


def scan_file(path: Path, fmt: str = "auto", progress: Any = None) -> dict[str, Any]:
    """Rows, file type, schema and fields, and the PII report of one file. Every record is
    converted (so a malformed one fails here, naming its line) and scanned once, all its
    text joined (in a JSONL file, only those the prefilter flags: the rest hold none)."""
    inside_project(path)
    reader = Reader(path, fmt, "--format")
    report = PiiReport()
    maybe = pii_candidates(path)  # JSONL: the records a prefilter pass over the file flags
    for where, row, schema in reader:
        if schema == "preference":
            preference_parts(row, where)
        else:
            to_messages(row, schema, where)
        if maybe is None or where in maybe:
            report.add("\n".join(texts(row)), where)
        if progress is not None:
            progress()
    return {**reader.summary(), "pii": report.to_dict()}


def _git_tracked(path: Path) -> bool:
    proc = subprocess.run(
        ["git", "ls-files", "--error-unmatch", path.as_posix()], capture_output=True, text=True
    )
    return proc.returncode == 0


def _dvc_add(path: Path) -> None:
    from forge import dvc

    proc = dvc.run("add", "-q", path.as_posix())
    if proc.returncode != 0:
        lines = [x for x in (proc.stderr + proc.stdout).splitlines() if x.strip()]
        raise DataError(f"{path}: dvc add failed ({lines[0] if lines else proc.returncode})")


def relative(path: Path, root: Path) -> Path:
    try:
        return path.resolve().relative_to(root.resolve())
    except ValueError:
        raise DataError(
            f"{path}: outside the project ({root.resolve()}); copy it under data/raw/ first"
        ) from None


def add(
    path: Path,
    name: str,
    license_id: str,
    source: str,
    pii_policy: str = "block",
    fmt: str = "auto",
    cards_dir: Path = cards.CARDS_DIR,
    progress: Any = None,
    replace: bool = False,
) -> dict[str, Any]:
    """Check and scan `path`, track it (DVC, unless git already tracks it) and write its
    card; returns the card. Nothing is written when a check fails. A card of that name that
    describes another file is replaced only with `replace`."""
    root = Path(".")
    if not (root / ".dvc").is_dir():
        raise DataError("not a DVC project (no .dvc/ here); run from the project root")
    if pii_policy not in cards.POLICIES:
        raise DataError(f"--pii-policy: '{pii_policy}' is not one of {', '.join(cards.POLICIES)}")
    if not source.strip():
        raise DataError("--source: say where the data came from")
    card_file = cards.card_path(name, cards_dir)
    license_id = cards.spdx(license_id)
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    rel = relative(path, root)
    if card_file.is_file() and not replace:
        previous = cards.load(card_file)["path"]
        if previous != rel.as_posix():
            raise DataError(
                f"--name: {card_file} already describes {previous}; nothing was written",
                hint="pick another --name, or add --replace to replace that card",
            )
    other = cards.for_file(rel.as_posix(), cards_dir)
    if other is not None and other[0] != card_file:
        raise DataError(f"{rel}: already has a card, {other[0]} (name '{other[1]['name']}')")

    facts = scan_file(rel, fmt, progress)
    tracked_by = "git" if _git_tracked(rel) else "dvc"
    if tracked_by == "dvc":
        _dvc_add(rel)
    card = {
        "added_at": cards.now(),
        "fields": facts["fields"],
        "file_type": facts["file_type"],
        "license": license_id,
        "name": name,
        "path": rel.as_posix(),
        "pii": facts["pii"],
        "pii_policy": pii_policy,
        "rows": facts["rows"],
        "schema": facts["schema"],
        "sha256": file_hash(rel),
        "source": source.strip(),
        "tracked_by": tracked_by,
    }
    cards.write(card, cards_dir)
    return card
