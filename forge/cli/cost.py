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
    from forge.config import compose as c
    from forge.errors import ForgeError
    from forge.hardware import cost, memory

    cfg = c.to_container(c.compose(overrides or [], conf))
    result = cost.estimate(cfg, tokens)
    if result is None:
        raise ForgeError(
            f"model.hub_id: the shape of {cfg['model'].get('hub_id')} is unknown offline",
            hint="download its config.json into the Hugging Face cache, or add it to "
            "forge/hardware/memory.py KNOWN_SHAPES",
        )
    mem = memory.estimate(memory.plan_from_config(cfg))
    hw = cfg["hardware"]
    if as_json:
        data = {
            "recipe": cfg["recipe"]["method"],
            "model": cfg["model"]["name"],
            "hardware": hw["name"],
            **result.as_dict(),
            "memory": {**mem.as_dict(), "available_gib": hw["memory_gb"]},
        }
        typer.echo(json.dumps(data, indent=2, sort_keys=True))
        return
    typer.echo(
        f"{cfg['recipe']['method']} of {cfg['model']['name']} ({result.params / 1e6:,.1f}M params) "
        f"on {result.num_processes} x {hw['name']}\n"
        f"compute: {result.tokens:,} tokens x {result.flops_per_token:.3g} FLOP/token "
        f"= {result.total_flops:.3g} FLOP\n"
        f"time: {cost.duration(result.seconds)} at {result.mfu:.0%} MFU of "
        f"{result.peak_tflops:g} TFLOP/s per device\n"
        f"money: ${result.dollars:,.2f} at ${result.price_per_hour:g} per device-hour\n"
        f"memory: ~{mem.total_gib:.1f} GiB per device of {hw['memory_gb']:g} ({mem.breakdown()})"
    )
