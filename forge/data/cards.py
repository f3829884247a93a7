"""Dataset cards: data/cards/NAME.yaml, versioned by git beside the file's `.dvc` pointer.

A card says what a raw file is and where it may go: its content hash, rows, file type,
schema and fields, license (SPDX), source, when it was added, how it is tracked, and its
PII summary and policy. `forge data add` writes it; prepare reads it for every file it
turns into training data and carries license and source into the report, the candidate's
manifest and its model card.
"""

from __future__ import annotations

import datetime as dt
import difflib
import re
from pathlib import Path
from typing import Any

import yaml

from forge.errors import DataError

CARDS_DIR = Path("data/cards")
POLICIES = ("block", "redact", "allow")
NAME_RE = re.compile(r"[a-z0-9][a-z0-9_.-]*")  # fullmatch: "$" would let "name\n" through
# Common SPDX ids, for case-insensitive matching and "did you mean". LicenseRef-* is
# accepted as SPDX allows for licenses outside the list.
SPDX = (
    "0BSD",
    "AFL-3.0",
    "AGPL-3.0-only",
    "AGPL-3.0-or-later",
    "Apache-2.0",
    "Artistic-2.0",
    "BSD-2-Clause",
    "BSD-3-Clause",
    "BSL-1.0",
    "CC-BY-4.0",
    "CC-BY-NC-4.0",
    "CC-BY-NC-ND-4.0",
    "CC-BY-NC-SA-4.0",
    "CC-BY-ND-4.0",
    "CC-BY-SA-3.0",
    "CC-BY-SA-4.0",
    "CC0-1.0",
    "CDLA-Permissive-2.0",
    "CDLA-Sharing-1.0",
    "EPL-2.0",
    "GPL-2.0-only",
    "GPL-2.0-or-later",
    "GPL-3.0-only",
    "GPL-3.0-or-later",
    "ISC",
    "LGPL-2.1-only",
    "LGPL-3.0-only",
    "Llama-3.1",
    "MIT",
    "MPL-2.0",
    "ODC-By-1.0",
    "ODbL-1.0",
    "OpenRAIL",
    "PDDL-1.0",
    "Unlicense",
    "Zlib",
)


def spdx(license_id: str) -> str:
    """The canonical spelling of an SPDX id; DataError with a close match otherwise."""
    by_lower = {s.lower(): s for s in SPDX}
    if license_id.lower() in by_lower:
        return by_lower[license_id.lower()]
    if re.fullmatch(r"LicenseRef-[A-Za-z0-9.\-]+", license_id):
        return license_id
    close = difflib.get_close_matches(license_id.lower(), list(by_lower), n=1, cutoff=0.6)
    hint = f"; did you mean '{by_lower[close[0]]}'?" if close else ""
    raise DataError(
        f"--license: '{license_id}' is not a known SPDX id{hint} "
        "(use LicenseRef-<name> for a license outside the SPDX list)"
    )


def card_path(name: str, cards_dir: Path = CARDS_DIR) -> Path:
    if not NAME_RE.fullmatch(name):
        raise DataError(f"--name: {name!r} must be lower case letters, digits, '_', '.', '-'")
    return cards_dir / f"{name}.yaml"


def load(path: Path) -> dict[str, Any]:
    try:
        card = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        raise DataError(f"{where}: not valid YAML ({getattr(exc, 'problem', exc)})") from exc
    missing = [
        k
        for k in ("name", "path", "license", "source")
        if not isinstance(card, dict) or k not in card
    ]
    if missing:
        raise DataError(
            f"{path}: card lacks {', '.join(missing)}; rewrite it with `forge data add`"
        )
    return card


def for_file(data_path: str, cards_dir: Path = CARDS_DIR) -> tuple[Path, dict[str, Any]] | None:
    """The card whose `path` is `data_path`, if any."""
    want = Path(data_path).as_posix()
    for p in sorted(cards_dir.glob("*.yaml")) if cards_dir.is_dir() else []:
        card = load(p)
        if Path(str(card["path"])).as_posix() == want:
            return p, card
    return None


def require(data_path: str, setting: str, cards_dir: Path = CARDS_DIR) -> tuple[Path, dict]:
    found = for_file(data_path, cards_dir)
    if found is None:
        raise DataError(
            f"{data_path} ({setting}) has no card in {cards_dir}/",
            hint=f"run `forge data add {data_path} --name NAME --license SPDX --source TEXT`",
        )
    return found


def write(card: dict[str, Any], cards_dir: Path = CARDS_DIR) -> Path:
    """Write data/cards/NAME.yaml whole (a temporary file, then a rename)."""
    path = card_path(card["name"], cards_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    header = "# forge data add   -- the dataset's card; rerun the command rather than edit it\n"
    tmp = path.with_suffix(".yaml.tmp")
    tmp.write_text(header + yaml.safe_dump(card, sort_keys=True, allow_unicode=True), "utf-8")
    tmp.replace(path)
    return path


def now() -> str:
    return dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")
