"""forge data add PATH --name NAME --license SPDX --source TEXT [--pii-policy] [--json]
forge data scan PATH [--json]
forge data study PATH [--plot PNG] [--json]"""

from __future__ import annotations

import json
from contextlib import contextmanager
from pathlib import Path

import typer

app = typer.Typer(help="Track, scan and study datasets.", no_args_is_help=True)

FORMAT_HELP = "Row schema: auto, alpaca, sharegpt, messages, prompt_completion or preference."


@contextmanager
def _progress(label: str, quiet: bool):
    """A rich spinner with a record count (stderr), or nothing under --json."""
    from rich.console import Console

    console = Console(stderr=True)
    if quiet or not console.is_terminal:
        yield None
        return
    from rich.progress import Progress, SpinnerColumn, TextColumn

    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description} {task.completed} records"),
        console=console,
        transient=True,
    ) as bar:
        task = bar.add_task(label, total=None)
        yield lambda: bar.advance(task)


def _pii_lines(pii: dict) -> list[str]:
    if not pii["total"]:
        return ["PII: none found"]
    kinds = ", ".join(f"{k} {n}" for k, n in pii["counts"].items() if n)
    lines = [f"PII: {pii['total']} findings in {pii['records_with_pii']} records ({kinds})"]
    lines += [f"  {s['where']}: {s['kind']} {s['masked']}" for s in pii["samples"]]
    return lines


@app.command("add")
def add(
    path: Path = typer.Argument(..., help="Raw file (csv, jsonl, json, parquet) in the project."),
    name: str = typer.Option(..., "--name", help="Dataset name; the card is data/cards/NAME.yaml."),
    license_id: str = typer.Option(..., "--license", help="SPDX license id, e.g. Apache-2.0."),
    source: str = typer.Option(..., "--source", help="Where the data came from."),
    pii_policy: str = typer.Option(
        "block", "--pii-policy", help="What prepare does with PII: block, redact or allow."
    ),
    fmt: str = typer.Option("auto", "--format", help=FORMAT_HELP),
    replace: bool = typer.Option(
        False, "--replace", help="Replace a card of this name that describes another file."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the card as JSON."),
) -> None:
    """Track a raw file with DVC, scan it for PII and write its card (data/cards/NAME.yaml).
    An existing card of another file is never overwritten without --replace."""
    from forge.api import data

    with _progress(f"scanning {path}", as_json) as tick:
        added = data.add(
            path, name, license_id, source, pii_policy, fmt, replace=replace, progress=tick
        )
    card, card_file = added["card"], added["card_file"]
    if added["replaced"] is not None and not as_json:
        typer.echo(f"replaced {card_file}, which described {added['replaced']}")
    if as_json:
        typer.echo(json.dumps(card, indent=2, sort_keys=True))
        return
    typer.echo(
        f"added {name}: {card['path']} ({card['rows']} rows, {card['file_type']}, "
        f"{card['schema']}), license {card['license']}, tracked by {card['tracked_by']}"
    )
    for line in _pii_lines(card["pii"]):
        typer.echo(line)
    typer.echo(f"card: {card_file} (PII policy {card['pii_policy']})")
    tracked = " ".join(added["stage_files"])
    typer.echo(f"next: git add {tracked}; point conf/data/ at {card['path']}")


@app.command("scan")
def scan(
    path: Path = typer.Argument(..., help="Raw file (csv, jsonl, json, parquet)."),
    fmt: str = typer.Option("auto", "--format", help=FORMAT_HELP),
    as_json: bool = typer.Option(False, "--json", help="Print as JSON."),
) -> None:
    """Count PII per type, with masked samples and where they are (file:line)."""
    from forge.api.data import scan as scan_file

    with _progress(f"scanning {path}", as_json) as tick:
        facts = scan_file(path, fmt, progress=tick)
    if as_json:
        typer.echo(json.dumps(facts, indent=2, sort_keys=True))
        return
    typer.echo(f"{facts['path']}: {facts['rows']} rows, {facts['file_type']}, {facts['schema']}")
    for line in _pii_lines(facts["pii"]):
        typer.echo(line)


@app.command("study")
def study(
    path: Path = typer.Argument(..., help="Raw file (csv, jsonl, json, parquet)."),
    fmt: str = typer.Option("auto", "--format", help=FORMAT_HELP),
    max_length: int = typer.Option(
        None, "--max-length", help="Overlong above this many tokens (default: recipe.max_length)."
    ),
    base: Path = typer.Option(Path("models/base"), "--base", help="Model whose tokenizer counts."),
    plot: Path = typer.Option(
        None, "--plot", help="Histogram PNG (default: .forge/study/<file>_lengths.png)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print as JSON."),
    advise: bool = typer.Option(
        False, "--advise", help="Ask the co-pilot for fixes (it gets counts, never rows)."
    ),
    backend: str = typer.Option(None, "--backend", help="With --advise: rules or gemini."),
    show_prompt: bool = typer.Option(
        False, "--show-prompt", help="With --advise: print what would be sent; send nothing."
    ),
) -> None:
    """Rows, schema, token lengths, empty/overlong records, duplicates, PII and scripts."""
    from forge.api import data

    with _progress(f"studying {path}", as_json) as tick:
        result = data.study(path, fmt, base, max_length, plot, progress=tick)
    if show_prompt:
        body = data.advice_request(result, path, backend)
        typer.echo(json.dumps(body, indent=2, ensure_ascii=False))
        return
    advice = data.advice(result, path, backend) if advise else None
    if as_json:
        typer.echo(json.dumps({**result, **advice} if advice else result, indent=2, sort_keys=True))
        return
    from rich.console import Console
    from rich.table import Table

    t = result["tokens"]
    table = Table("", "", title=f"{result['path']}", show_header=False)
    table.add_row("rows", str(result["rows"]))
    table.add_row("file / schema", f"{result['file_type']} / {result['schema']}")
    table.add_row("fields", ", ".join(result["fields"]))
    table.add_row("tokenizer", result["tokenizer"])
    table.add_row(
        "tokens",
        f"min {t['min']}, p50 {t['p50']}, p95 {t['p95']}, max {t['max']}, mean {t['mean']}",
    )
    o, e, d = result["overlong"], result["empty"], result["duplicates"]
    table.add_row("overlong", f"{o['count']} (> {o['max_length']})" + _at(o["samples"]))
    table.add_row("empty", str(e["count"]) + _at(e["samples"]))
    table.add_row(
        "duplicates",
        f"{d['exact']} exact, {d['normalized']} normalized"
        + _at([s["where"] for s in d["samples"]]),
    )
    table.add_row("PII", "\n".join(_pii_lines(result["pii"])).removeprefix("PII: "))
    table.add_row("scripts", ", ".join(f"{k} {v}" for k, v in result["scripts"].items()))
    table.add_row("histogram", result["plot"])
    Console().print(table)
    if advice:
        from forge.copilot.advise import lines

        typer.echo("\n".join(lines(advice["advice"], advice["advisor"])))


def _at(samples: list[str]) -> str:
    return f" at {', '.join(samples)}" if samples else ""


@app.command("list")
def list_(as_json: bool = typer.Option(False, "--json", help="Print as JSON.")) -> None:
    """The data cards (data/cards/*.yaml): name, file, rows, license, source, PII policy."""
    from forge.api.data import list_cards

    cards = list_cards()
    if as_json:
        typer.echo(json.dumps(cards, indent=2, sort_keys=True))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table("name", "path", "rows", "license", "PII", "policy", "source")
    for c in cards:
        pii = (c.get("pii") or {}).get("total")
        table.add_row(
            c["name"], c["path"], str(c.get("rows", "-")), c["license"],
            "-" if pii is None else str(pii), c.get("pii_policy", "-"), c["source"],
        )  # fmt: skip
    Console().print(table)


@app.command("show")
def show(
    name: str = typer.Argument(..., help="Dataset name (data/cards/NAME.yaml)."),
    as_json: bool = typer.Option(False, "--json", help="Print as JSON."),
) -> None:
    """One data card, with its git history and the registered models trained on its file."""
    from forge.api.data import history

    data = history(name)
    card = data["card"]
    if as_json:
        typer.echo(json.dumps(data, indent=2, sort_keys=True))
        return
    typer.echo(
        f"{card['name']}: {card['path']} ({card.get('rows', '?')} rows, {card.get('schema')}), "
        f"license {card['license']}, source {card['source']}"
    )
    for line in _pii_lines(card.get("pii") or {"total": 0}):
        typer.echo(line)
    for c in data["commits"]:
        typer.echo(f"commit {c['commit'][:7]} {c['date']} {c['subject']}")
    for m in data["models"] or []:
        typer.echo(f"trained {m['name']}@{m['version']} ({m['commit'][:7]})")
