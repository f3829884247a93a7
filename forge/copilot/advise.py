"""`forge data study PATH --advise`: the advisor reads the study (counts and lengths only,
forge/copilot/share.py study_facts) and the card's license and PII policy, and proposes
concrete fixes: format mapping, dedup, length cut-off, PII policy, license gaps."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from forge.copilot.advisor import Advisor
from forge.copilot.schema import advice_schema
from forge.copilot.share import study_facts


def make_brief(result: dict[str, Any], path: Path) -> dict[str, Any]:
    from forge.data import cards

    found = cards.for_file(path.as_posix())
    return {"study": study_facts(result, found[1] if found else None)}


def advise(result: dict[str, Any], path: Path, advisor: Advisor) -> list[dict[str, str]]:
    return advisor.ask("advise", make_brief(result, path), advice_schema())["fixes"]


def lines(fixes: list[dict[str, str]], who: str) -> list[str]:
    if not fixes:
        return [f"advice ({who}): nothing to fix"]
    out = [f"advice ({who}):"]
    for f in fixes:
        cmd = f"  [{f['command']}]" if f["command"] else ""
        out.append(f"  {f['area']}: {f['finding']} -> {f['fix']}{cmd}")
    return out
