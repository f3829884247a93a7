"""The training child process: python -m forge.train.worker --params P --base B ...

Started by the supervisor through a runtime; one recipe module per method."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def recipe_module(method: str):
    from forge.train import sft

    return {"lora_sft": sft, "full_sft": sft}[method]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="forge.train.worker")
    for name in ("params", "base", "data", "out", "checkpoints", "facts"):
        p.add_argument(f"--{name}", required=True, type=Path)
    a = p.parse_args(argv)

    from forge.config.compose import load_group
    from forge.errors import ForgeError, report
    from forge.model.base import base_path
    from forge.record import write_json

    try:
        recipe, hw = load_group("recipe", a.params), load_group("hardware", a.params)
        facts = recipe_module(recipe.method).train(
            recipe, hw, base_path(a.base), a.data, a.out, a.checkpoints, a.checkpoints / "live"
        )
    except ForgeError as exc:
        report(exc)
        return exc.exit_code
    write_json(a.facts, facts)
    return 0


if __name__ == "__main__":
    sys.exit(main())
