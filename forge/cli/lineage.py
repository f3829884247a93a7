"""forge lineage NAME[@vX.Y.Z | #STAGE] [--json]"""

from __future__ import annotations

import json

import typer


def _attempt(a: dict) -> str:
    """'2 oom -> recipe.per_device_batch_size=4 ... (by rules)': one attempt of a healed part."""
    fix = " ".join(f"{k}={v}" for k, v in sorted((a.get("fix") or {}).items()))
    by = f" (by {a['by']})" if a.get("by") else ""
    return f"{a['attempt']} {a['class']}" + (f" -> {fix}" if fix else "") + by


def _short(md5: str | None) -> str:
    return (md5 or "-")[:12]


def main(
    ref: str = typer.Argument(
        ..., help="NAME (at HEAD), NAME@vX.Y.Z (a registered version) or NAME#STAGE."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print as JSON."),
) -> None:
    """Walk from a model to its eval metrics, train config, base model, data hashes and sources.

    Read at the model's commit: dvc.lock, the committed metrics and gate decision, the
    manifest stored with the model (from the DVC cache) and the data cards (license, source)."""
    from forge.api.registry import lineage

    data = lineage(ref)
    if as_json:
        typer.echo(json.dumps(data, indent=2, sort_keys=True))
        return
    from rich.console import Console
    from rich.tree import Tree

    model = data["model"]
    root = Tree(
        f"[bold]{data['ref']}[/] {data['commit'][:7]}  {model['path']} {_short(model['md5'])}"
    )
    if data["eval"]:
        ev = root.add("eval")
        for key, value in sorted(data["eval"].items()):
            ev.add(f"{key} = {value}")
    if data["gates"]:
        root.add(
            "gates: "
            + ", ".join(
                f"{g} {'pass' if ok else 'FAIL'}" for g, ok in sorted(data["gates"].items())
            )
        )
    base = data["base_model"]
    root.add(
        f"base model: {base['name']} ({base['source']}"
        + (f", {base['hub_id']}@{base['revision']}" if base["hub_id"] else "")
        + ")"
    )
    recipe = (data["train_config"] or {}).get("recipe") or {}
    if recipe:
        root.add("train config: " + ", ".join(f"{k}={v}" for k, v in sorted(recipe.items())))
    if data.get("healed"):
        fixes = " ".join(f"{k}={v}" for k, v in sorted(data["healed"].items()))
        root.add(f"[yellow]healed:[/] {fixes} (results/train/attempts.json)")
    for part, how in (data.get("healing") or {}).items():
        root.add(f"[yellow]healed {part}:[/] " + "; ".join(_attempt(a) for a in how["attempts"]))
    if data["manifest"] is None:
        root.add("[yellow]manifest: not in the DVC cache or remote[/]")
    stages = root.add("stages")
    for name, stage in data["stages"].items():
        node = stages.add(f"[bold]{name}[/]")
        for dep in stage["deps"]:
            node.add(f"<- {dep['path']} {_short(dep['md5'])} ({dep['kind']})")
        for out in stage["outs"]:
            node.add(f"-> {out['path']} {_short(out['md5'])}")
    sources = root.add("sources")
    for src in data["sources"]:
        sources.add(f"{src['path']} {_short(src['md5'])}")
    datasets = root.add("datasets")
    for ds in data["datasets"]:
        datasets.add(
            f"{ds['name']}: {ds['path']} sha256 {(ds['sha256'] or '-')[:12]}  "
            f"license: {ds['license'] or 'unknown'}  source: {ds['source'] or 'unknown'}"
        )
    if not data["datasets"]:
        datasets.add("[yellow]no data cards: add them with `forge data add`[/]")
    Console().print(root)
