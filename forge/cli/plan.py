"""forge plan "<goal>" [--data PATH] [--write] [--backend rules|gemini] [--show-prompt] [--json]"""

from __future__ import annotations

import json
from pathlib import Path

import typer

BACKEND_HELP = "rules (offline, the default in conf/copilot.yaml) or gemini (needs a key)."


def main(
    goal: str = typer.Argument(..., help="What the model should do, in plain words."),
    data: Path = typer.Option(
        None, "--data", help="Raw data file to plan for (default: the configured data.path)."
    ),
    write: bool = typer.Option(False, "--write", help="Write conf/experiment/<slug>.yaml."),
    force: bool = typer.Option(False, "--force", help="With --write: replace an existing one."),
    backend: str = typer.Option(None, "--backend", help=BACKEND_HELP),
    model: str = typer.Option(None, "--model", help="Gemini model (copilot.model)."),
    show_prompt: bool = typer.Option(
        False, "--show-prompt", help="Print exactly what would be sent to Gemini; send nothing."
    ),
    conf: Path = typer.Option(Path("conf"), help="Config directory."),
    as_json: bool = typer.Option(False, "--json", help="Print the plan as JSON."),
) -> None:
    """Propose a training plan for a goal, fitted to this hardware and data.

    Model, recipe, precision, quantization, batch and steps, each with why, from the detected
    hardware, the data's statistics and Forge's memory and cost estimators."""
    from forge.copilot import advisor as advisors
    from forge.copilot import config, plan
    from forge.copilot import schema as answer_schema
    from forge.copilot.wire import request_body

    cfg = config.load(conf / "copilot.yaml", {"backend": backend, "model": model})
    if show_prompt:
        facts, _ = plan.brief(goal, data, conf)
        body = request_body(cfg, "plan", facts, answer_schema.plan_schema(conf))
        typer.echo(json.dumps(body, indent=2, ensure_ascii=False))
        return
    p = plan.make(goal, advisors.make(cfg), data, conf)
    path = plan.write(p, conf, force) if write else None
    if as_json:
        out = {
            "slug": p.slug,
            "advisor": p.advisor,
            "overrides": p.overrides + p.data_overrides,
            "choices": p.answer["choices"],
            "summary": p.answer["summary"],
            "estimate": p.figures,
            "written": path.as_posix() if path else None,
        }
        typer.echo(json.dumps(out, indent=2, sort_keys=True))
        return
    from forge.hardware.cost import duration

    typer.echo(f"plan ({p.advisor}): {p.answer['summary']}")
    for key, choice in p.answer["choices"].items():
        typer.echo(f"  {key}: {choice['value']}  -- {choice['why']}")
    if p.figures:
        f = p.figures
        typer.echo(
            f"estimate: ~{f['memory_gib']:.2f} GiB per device of {f['memory_available_gib']:g} "
            f"({f['breakdown']}); {duration(f['seconds'])}; ${f['dollars']:.2f}"
        )
    if path:
        typer.echo(f"wrote {path.as_posix()} (composes and validates)")
        typer.echo(f"next: forge run experiment={p.slug}")
    else:
        typer.echo(f"as overrides: forge run {' '.join(p.overrides + p.data_overrides)}")
        typer.echo(f"or: forge plan {json.dumps(goal)} --write")
