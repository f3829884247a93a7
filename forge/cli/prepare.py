"""forge prepare RAW [--goal TEXT] [--name NAME] [--share-samples N] [--show-prompt]
[--allow-install] [--backend rules|gemini]"""

from __future__ import annotations

from pathlib import Path

import typer


def main(
    raw: Path = typer.Argument(..., help="Raw data file (csv, jsonl, json) in the project."),
    goal: str = typer.Option(None, "--goal", help="What the data is for, in plain words."),
    name: str = typer.Option(None, "--name", help="Dataset name (default: from RAW's name)."),
    share_samples: int = typer.Option(
        0, "--share-samples", min=0, help="Send N rows, PII redacted (default: none)."
    ),
    show_prompt: bool = typer.Option(
        False, "--show-prompt", help="Print exactly what would be sent to Gemini; run nothing."
    ),
    allow_install: bool = typer.Option(
        False, "--allow-install", help="Install packages the script needs (sandbox-only env)."
    ),
    license_id: str = typer.Option(None, "--license", help="SPDX id (default: RAW's card)."),
    source: str = typer.Option(None, "--source", help="Where RAW came from (default: card)."),
    pii_policy: str = typer.Option(
        None, "--pii-policy", help="block, redact or allow (default: RAW's card, else block)."
    ),
    backend: str = typer.Option(None, "--backend", help="rules (offline) or gemini."),
    model: str = typer.Option(None, "--model", help="Gemini model (copilot.model)."),
    force: bool = typer.Option(False, "--force", help="Replace a stage, card or conf of NAME."),
) -> None:
    """Write a sandboxed preprocessing stage that turns RAW into training data.

    The advisor writes a script from RAW's profile; it runs in a bubblewrap sandbox, its
    output is checked by Forge's loaders, and failures go back to the advisor (3 attempts).
    The accepted script becomes a dvc.yaml stage that `dvc repro` reruns with no advisor."""
    import json

    from forge.copilot import advisor as advisors
    from forge.copilot import config
    from forge.copilot import prepare as prep
    from forge.copilot.schema import script_schema
    from forge.copilot.wire import request_body

    cfg = config.load(Path("conf/copilot.yaml"), {"backend": backend, "model": model})
    if show_prompt:
        from forge.data.add import relative

        brief = prep.make_brief(relative(raw, Path(".")), goal, share_samples)
        body = request_body(cfg, "script", brief, script_schema())
        typer.echo(json.dumps(body, indent=2, ensure_ascii=False))
        return
    prep.run(
        raw,
        advisors.make(cfg),
        name=name,
        goal=goal,
        share_samples=share_samples,
        license_id=license_id,
        source=source,
        pii_policy=pii_policy,
        allow_install=allow_install,
        confirm=lambda q: typer.confirm(q, default=False) if _tty() else False,
        echo=typer.echo,
        force=force,
    )


def _tty() -> bool:
    import sys

    return sys.stdin.isatty()
