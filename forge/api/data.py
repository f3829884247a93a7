"""Datasets: add, scan, study (with the co-pilot's advice), and the data cards as a
registry: list, show, history (forge/data/)."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

from forge.api.ids import NotFound
from forge.errors import DataError

Progress = Any  # a zero-argument callable ticked once per record, or None


def add(
    path: Path,
    name: str,
    license_id: str,
    source: str,
    pii_policy: str = "block",
    fmt: str = "auto",
    replace: bool = False,
    progress: Progress = None,
) -> dict[str, Any]:
    """Track `path` with DVC, scan it and write its card. Returns the card, plus `replaced`
    (the file the card of that name described before, when `replace` changed it) and
    `card_file` and `stage_files` (what to `git add`)."""
    from forge.data.add import add as add_file
    from forge.data.cards import card_path, load

    previous = card_path(name)
    before = load(previous)["path"] if replace and previous.is_file() else None
    card = add_file(
        path, name, license_id, source, pii_policy, fmt, progress=progress, replace=replace
    )
    card_file = card_path(name).as_posix()
    stage = [card_file]
    if card["tracked_by"] == "dvc":
        p = Path(card["path"])
        stage += [f"{p}.dvc", (p.parent / ".gitignore").as_posix()]
    return {
        "card": card,
        "card_file": card_file,
        "stage_files": stage,
        "replaced": before if before is not None and before != card["path"] else None,
    }


def scan(path: Path, fmt: str = "auto", progress: Progress = None) -> dict[str, Any]:
    """Rows, file type, schema and the PII findings (counts, masked samples, file:line)."""
    from forge.data.add import scan_file

    return scan_file(path, fmt, progress=progress)


def _max_length() -> int | None:
    """recipe.max_length from params.yaml, when there is one."""
    from forge.config.params import load_params
    from forge.errors import ForgeError

    try:
        return int(load_params()["recipe"]["max_length"])
    except (ForgeError, KeyError, TypeError, ValueError):  # no or partial params.yaml
        return None


def _tokenizer_dir(base: Path) -> Path | None:
    """Where the built base model's tokenizer lies (the one loader's base_path: models/base,
    or a hub base's cached snapshot); None before the base stage has run."""
    from forge.errors import ForgeError
    from forge.model.base import BASE_RECORD, base_path

    if not (base / BASE_RECORD).is_file():
        return None
    try:
        return Path(base_path(base))
    except ForgeError:  # a hub base whose snapshot left the cache
        return None


def study(
    path: Path,
    fmt: str = "auto",
    base: Path = Path("models/base"),
    max_length: int | None = None,
    plot: Path | None = None,
    progress: Progress = None,
) -> dict[str, Any]:
    """forge/data/study.py's facts (max_length defaults to recipe.max_length), with the
    length histogram written to `plot` (default .forge/study/<file>_lengths.png)."""
    from forge.data.study import plot as plot_png
    from forge.data.study import study as run_study

    limit = max_length if max_length is not None else _max_length()
    result = run_study(path, fmt, _tokenizer_dir(base), limit, progress=progress)
    png = plot or Path(".forge/study") / f"{path.stem}_lengths.png"
    result["plot"] = plot_png(result, png).as_posix()
    return result


def advice(result: dict[str, Any], path: Path, backend: str | None = None) -> dict[str, Any]:
    """The co-pilot's fixes for a study (it gets counts, never rows): {advice, advisor}."""
    from forge.copilot import advise, config
    from forge.copilot import advisor as advisors

    who = advisors.make(config.load(overrides={"backend": backend}))
    name = "rules" if who.backend == "rules" else f"{who.backend} {who.model}"
    return {"advice": advise.advise(result, path, who), "advisor": name}


def advice_request(result: dict[str, Any], path: Path, backend: str | None = None) -> dict:
    """Exactly what `advice` would send to Gemini; sends nothing."""
    from forge.copilot import advise, config
    from forge.copilot.schema import advice_schema
    from forge.copilot.wire import request_body

    cfg = config.load(overrides={"backend": backend})
    return request_body(cfg, "advise", advise.make_brief(result, path), advice_schema())


def list_cards(cards_dir: Path | None = None) -> list[dict[str, Any]]:
    """Every data card in data/cards/, sorted by name."""
    from forge.data import cards

    folder = cards_dir or cards.CARDS_DIR
    return [cards.load(p) for p in sorted(folder.glob("*.yaml"))] if folder.is_dir() else []


class DatasetNotFound(NotFound, DataError):
    """No data card of that name."""


def show(name: str) -> dict[str, Any]:
    """The card named `name`; DataError when there is none."""
    from forge.data import cards

    path = cards.card_path(name)
    if not path.is_file():
        known = ", ".join(c["name"] for c in list_cards()) or "none"
        raise DatasetNotFound(f"dataset '{name}': no card {path.as_posix()} (known: {known})")
    return cards.load(path)


def _git(*args: str) -> str:
    return subprocess.run(["git", *args], capture_output=True, text=True).stdout


def history(name: str) -> dict[str, Any]:
    """A card's git history (commit, date, subject) and the registered model versions whose
    params.yaml trained on its file (data.path or data.preference_path at the version tag)."""
    import yaml

    card = show(name)
    path = Path(card["path"]).as_posix()
    commits: list[dict[str, str]] = []
    log = _git("log", "--format=%H%x09%cI%x09%s", "--", f"data/cards/{name}.yaml")
    for line in log.splitlines():
        commit, date, subject = (line.split("\t", 2) + ["", ""])[:3]
        commits.append({"commit": commit, "date": date, "subject": subject})
    models: list[dict[str, str]] = []
    for tag in _git("tag", "--list", "*@v*").split():
        params = yaml.safe_load(_git("show", f"refs/tags/{tag}:params.yaml") or "{}") or {}
        data = params.get("data") or {}
        if path in (data.get("path"), data.get("preference_path")):
            artifact, _, version = tag.partition("@")
            commit = _git("rev-list", "-n1", f"refs/tags/{tag}").strip()
            models.append({"name": artifact, "version": version, "commit": commit})
    return {"dataset": name, "card": card, "commits": commits, "models": models}
