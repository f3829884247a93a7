"""forge cost [OVERRIDES] [--tokens N] [--json]"""

from __future__ import annotations

import json
from pathlib import Path

import typer


def main(
    overrides: list[str] = typer.Argument(None, help="Hydra overrides, as for forge compose."),
    tokens: int = typer.Option(
        None,
        "--tokens",
        help="Training tokens (default: max_steps x effective batch x max_length).",
    ),
    conf: Path = typer.Option(Path("conf"), help="Config directory."),
    as_json: bool = typer.Option(False, "--json", help="Print as JSON."),
) -> None:
    """Estimate a training run's time and money, and its memory per device."""
    from forge.api.cluster import cost
    from forge.hardware.cost import duration

    r = cost(overrides or [], tokens, conf)
    if as_json:
        typer.echo(json.dumps(r, indent=2, sort_keys=True))
        return
    mem = r["memory"]
    typer.echo(
        f"{r['recipe']} of {r['model']} ({r['params'] / 1e6:,.1f}M params) "
        f"on {r['num_processes']} x {r['hardware']}\n"
        f"compute: {r['tokens']:,} tokens x {r['flops_per_token']:.3g} FLOP/token "
        f"= {r['total_flops']:.3g} FLOP\n"
        f"time: {duration(r['seconds'])} at {r['mfu']:.0%} MFU of "
        f"{r['peak_tflops']:g} TFLOP/s per device\n"
        f"money: ${r['dollars']:,.2f} at ${r['price_per_hour']:g} per device-hour\n"
        f"memory: ~{mem['total_gib']:.1f} GiB per device of {mem['available_gib']:g} "
        f"({mem['breakdown']})"
    )
