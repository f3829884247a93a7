"""`forge prepare RAW [--goal TEXT]`: agentic preprocessing, made reproducible.

1. The raw file's profile (forge/copilot/share.py: columns, lengths, malformed and repeated
   header rows, PII counts; rows only with --share-samples, redacted) goes to the advisor,
   which answers with a program (script_schema).
2. The program runs in the sandbox (forge/copilot/sandbox.py): no network, RAW read-only,
   only its output directory writable, an unprivileged uid, CPU, memory, file-size,
   process and wall-clock limits. Where the sandbox cannot start, nothing runs.
3. Its output is checked by Forge's own loaders: every row converts (forge/data/formats.py),
   there are rows, and the PII policy holds. On a failure the exit, the blocked escapes,
   the redacted end of stderr and the loader's problems go back to the advisor, up to
   `attempts` times, each shown.
4. The accepted program becomes stages/generated/prepare_<name>.py and a dvc.yaml stage
   `prepare_<name>` (RAW its dependency, data/generated/<name>/ its output, run in the
   sandbox by `python -m forge.copilot.sandbox`), which `dvc repro` runs with no advisor.
   The output's card (data/cards/<name>.yaml) records that it was generated and by which
   backend and model; conf/data/<name>.yaml points prepare at it.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from forge.copilot import sandbox, share
from forge.copilot.advisor import Advisor
from forge.copilot.schema import AdvisorError, script_schema
from forge.data import cards
from forge.errors import DataError, ForgeError

ATTEMPTS = 3
OUTPUT = "data.jsonl"


def name_for(raw: Path) -> str:
    name = re.sub(r"[^a-z0-9]+", "_", raw.stem.lower()).strip("_")
    return name or "raw"


def make_brief(raw: Path, goal: str | None, share_samples: int) -> dict[str, Any]:
    """What the advisor is given: the goal, RAW's profile, N redacted rows on request, and
    the failed attempts so far."""
    return {
        "goal": goal or "turn this file into chat training data",
        "profile": share.profile(raw),
        "samples": share.samples(raw, share_samples),
        "previous_attempts": [],
    }


def validate(out: Path, fmt: str, pii_policy: str) -> tuple[list[str], dict[str, Any]]:
    """(problems, facts) of a generated file, read by Forge's loaders: each row converts,
    there are rows, and the PII policy holds (block: no finding)."""
    from forge.data.add import scan_file

    if not out.is_file():
        return [f"{OUTPUT} was not written"], {}
    try:
        facts = scan_file(out, fmt)
    except DataError as exc:
        return [str(exc).replace(str(out.parent) + "/", "")], {}
    problems = []
    pii = facts["pii"]
    if pii["total"] and pii_policy == "block":
        kinds = ", ".join(f"{k} {n}" for k, n in pii["counts"].items() if n)
        problems.append(
            f"{OUTPUT}: {pii['total']} PII findings ({kinds}) under PII policy block; "
            "redact them in the script or choose --pii-policy redact"
        )
    return problems, facts


def _install(requires: list[str], allow: bool, confirm: Callable[[str], bool]) -> Path | None:
    """A sandbox-only environment with `requires` (pip --target under .forge/), never
    Forge's own; only with the user's yes."""
    if not requires:
        return None
    want = ", ".join(requires)
    if not (allow or confirm(f"the script needs {want}; install them for the sandbox only?")):
        raise ForgeError(
            f"the generated script needs {want}; nothing was installed",
            hint="rerun with --allow-install to install them into a sandbox-only environment",
        )
    import hashlib

    key = hashlib.sha256("\n".join(sorted(requires)).encode()).hexdigest()[:12]
    target = Path(".forge/sandbox-env") / key
    if not target.is_dir():
        proc = subprocess.run(
            [sys.executable, "-m", "pip", "install", "--quiet", "--target", str(target), *requires],
            capture_output=True,
            text=True,
            check=False,
        )
        if proc.returncode != 0:
            lines = (proc.stderr or proc.stdout).strip().splitlines()
            raise ForgeError(f"pip could not install {want} ({lines[-1] if lines else ''})")
    return target


def run(
    raw: Path,
    advisor: Advisor,
    *,
    name: str | None = None,
    goal: str | None = None,
    share_samples: int = 0,
    license_id: str | None = None,
    source: str | None = None,
    pii_policy: str | None = None,
    allow_install: bool = False,
    confirm: Callable[[str], bool] = lambda _: False,
    echo: Callable[[str], None] = print,
    attempts: int = ATTEMPTS,
    limits: sandbox.Limits = sandbox.Limits(),
    force: bool = False,
) -> dict[str, Any]:
    """Ask, run sandboxed, check, retry; then write the stage, the card and conf/data/.
    Returns the card."""
    from forge.data.add import relative

    if not Path("dvc.yaml").is_file() or not Path(".dvc").is_dir():
        raise ForgeError("not a Forge project (no dvc.yaml and .dvc/ here); run from its root")
    rel = relative(raw, Path("."))
    name = name or name_for(rel)
    cards.card_path(name)  # a bad name is refused before anything runs
    stage = f"prepare_{name}"
    script_path = Path("stages/generated") / f"{stage}.py"
    out_dir = Path("data/generated") / name
    if not force:
        for p in (script_path, cards.card_path(name), Path("conf/data") / f"{name}.yaml"):
            if p.exists():
                raise ForgeError(f"{p}: exists; nothing was written", hint="pass --force or --name")
    license_id, source, pii_policy = _provenance(rel, license_id, source, pii_policy)
    sandbox.require()  # before the advisor is asked: generated code never runs bare

    brief = make_brief(rel, goal, share_samples)
    accepted = None
    for attempt in range(1, attempts + 1):
        answer = advisor.ask("script", brief, script_schema())
        env_dir = _install(answer["requires"], allow_install, confirm)
        with tempfile.TemporaryDirectory(prefix="forge-prepare-") as tmp:
            script = Path(tmp) / "script.py"
            script.write_text(answer["script"], encoding="utf-8")
            out = Path(tmp) / "out"
            result = sandbox.run(script, rel, out, limits, env_dir)
            problems, facts = (
                validate(out / OUTPUT, answer["output_format"], pii_policy)
                if result.ok
                else ([], {})
            )
        head = f"attempt {attempt}/{attempts} ({_who(advisor)}): {answer['notes']}"
        if result.ok and not problems:
            echo(
                f"{head} -> ok: {facts['rows']} rows ({facts['schema']}) in {result.seconds:.1f} s"
            )
            accepted = answer
            break
        why = result.describe() if not result.ok else "; ".join(problems)
        echo(f"{head} -> failed: {why}")
        tail = share.feedback(result.stderr.strip())
        if tail:
            echo("  " + tail.splitlines()[-1][:300])
        brief["previous_attempts"].append(
            {"attempt": attempt, "result": why, "problems": problems, "stderr_tail": tail}
        )
    if accepted is None:
        raise AdvisorError(
            f"forge prepare: no working script after {attempts} attempts; nothing was written "
            f"(last: {brief['previous_attempts'][-1]['result']})"
        )
    return _accept(
        rel, name, stage, script_path, out_dir, accepted, advisor, attempt,
        license_id, source, pii_policy, echo,
    )  # fmt: skip


def _provenance(
    raw: Path, license_id: str | None, source: str | None, policy: str | None
) -> tuple[str, str, str]:
    """License, source and PII policy: the options, else RAW's card."""
    found = cards.for_file(raw.as_posix())
    card = found[1] if found else {}
    license_id = license_id or card.get("license")
    source = source or card.get("source")
    if not license_id or not source:
        raise ForgeError(
            f"{raw} has no card to take its license and source from",
            hint="pass --license SPDX --source TEXT, or `forge data add` it first",
        )
    policy = policy or card.get("pii_policy") or "block"
    if policy not in cards.POLICIES:
        raise ForgeError(f"--pii-policy: '{policy}' is not one of {', '.join(cards.POLICIES)}")
    return cards.spdx(license_id), str(source), policy


def _who(advisor: Advisor) -> str:
    return "rules" if advisor.backend == "rules" else f"{advisor.backend} {advisor.model}"


def stage_block(stage: str, script: Path, raw: Path, out_dir: Path) -> str:
    deps = [script.as_posix(), raw.as_posix()]
    deps += [p for p in ("forge/copilot/sandbox.py", "forge/errors.py") if Path(p).is_file()]
    lines = [
        f"  # written by forge prepare: {raw.as_posix()} -> {out_dir.as_posix()}, in the sandbox",
        f"  {stage}:",
        f"    cmd: python -m forge.copilot.sandbox {script.as_posix()} {raw.as_posix()} "
        f"{out_dir.as_posix()}",
        "    deps:",
        *[f"      - {d}" for d in deps],
        "    outs:",
        f"      - {out_dir.as_posix()}",
        "",
    ]
    return "\n".join(lines) + "\n"


def add_stage(stage: str, block: str, dvc_yaml: Path = Path("dvc.yaml")) -> None:
    """Insert the stage before `prepare` (or at the end of `stages:`), editing the text so
    comments stay; an existing stage of that name is replaced."""
    import yaml

    text = dvc_yaml.read_text(encoding="utf-8")
    stages = (yaml.safe_load(text) or {}).get("stages") or {}
    lines = text.splitlines(keepends=True)
    if stage in stages:
        start = next(i for i, ln in enumerate(lines) if ln.rstrip() == f"  {stage}:")
        while start > 0 and lines[start - 1].startswith("  # written by forge prepare"):
            start -= 1
        end = start + 1
        while end < len(lines) and (lines[end].startswith("    ") or not lines[end].strip()):
            end += 1
        lines[start:end] = []
    at = next((i for i, ln in enumerate(lines) if ln.rstrip() == "  prepare:"), None)
    if at is None:
        at = next(
            (i for i, ln in enumerate(lines) if i > 0 and re.match(r"\S", ln)
             and any(x.startswith("stages:") for x in lines[:i])),
            len(lines),
        )  # fmt: skip
    lines[at:at] = [block]
    new = "".join(lines)
    loaded = yaml.safe_load(new)
    assert stage in loaded["stages"], "dvc.yaml edit lost the stage"
    dvc_yaml.write_text(new, encoding="utf-8")


def _accept(
    raw: Path, name: str, stage: str, script_path: Path, out_dir: Path, answer: dict[str, Any],
    advisor: Advisor, attempts: int, license_id: str, source: str, pii_policy: str,
    echo: Callable[[str], None],
) -> dict[str, Any]:  # fmt: skip
    from forge.data.add import scan_file
    from forge.record import file_hash

    header = (
        f"# Generated by `forge prepare {raw.as_posix()}` ({_who(advisor)}, attempt "
        f"{attempts}); run by dvc stage {stage} in the sandbox:\n"
        f"#   python -m forge.copilot.sandbox {script_path.as_posix()} {raw.as_posix()} "
        f"{out_dir.as_posix()}\n"
    )
    script_path.parent.mkdir(parents=True, exist_ok=True)
    script_path.write_text(header + answer["script"], encoding="utf-8")
    add_stage(stage, stage_block(stage, script_path, raw, out_dir))
    from forge import dvc

    proc = dvc.run("repro", "--single-item", stage)
    if proc.returncode != 0:
        lines = [x for x in (proc.stderr + proc.stdout).splitlines() if x.strip()]
        raise ForgeError(f"dvc repro {stage} failed ({lines[-1] if lines else proc.returncode})")
    echo(f"dvc repro {stage}: ran the accepted script in the sandbox, no advisor")
    data = out_dir / OUTPUT
    facts = scan_file(data, answer["output_format"])
    card = {
        "added_at": cards.now(),
        "fields": facts["fields"],
        "file_type": facts["file_type"],
        "generated_by": {
            "tool": "forge prepare",
            "backend": advisor.backend,
            "model": advisor.model,
            "attempts": attempts,
            "script": script_path.as_posix(),
            "stage": stage,
            "from": raw.as_posix(),
            "from_sha256": file_hash(raw),
        },
        "license": license_id,
        "name": name,
        "path": data.as_posix(),
        "pii": facts["pii"],
        "pii_policy": pii_policy,
        "rows": facts["rows"],
        "schema": facts["schema"],
        "sha256": file_hash(data),
        "source": f"{source} (generated from {raw.as_posix()} by forge prepare)",
        "tracked_by": f"dvc stage {stage}",
    }
    card_file = cards.write(card)
    conf = Path("conf/data") / f"{name}.yaml"
    pref = data.as_posix() if answer["output_format"] == "preference" else None
    conf.parent.mkdir(parents=True, exist_ok=True)
    conf.write_text(
        f"# forge compose data={name}   -- written by forge prepare: {raw.as_posix()} through "
        f"stage {stage}\n"
        "defaults:\n  - data_schema\n  - _self_\n"
        f"name: {name}\n"
        f"path: {data.as_posix()}\n"
        f"format: {answer['output_format']}\n"
        "pii_policy: null            # null: the card's policy (data/cards/)\n"
        f"preference_path: {pref or 'null'}\n"
        "val_fraction: 0.05\ntest_fraction: 0.05\nseed: 0\n",
        encoding="utf-8",
    )
    echo(
        f"wrote {script_path.as_posix()}, stage {stage} in dvc.yaml, "
        f"{card_file.as_posix()}, {conf.as_posix()}"
    )
    echo(
        f"next: git add {script_path.as_posix()} dvc.yaml dvc.lock {card_file.as_posix()} "
        f"{conf.as_posix()}; forge run data={name}"
    )
    return card
