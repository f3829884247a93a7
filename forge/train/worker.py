"""The training child process: python -m forge.train.worker --params P --part train ...

Started by the supervisor through a runtime. `--part` picks what to train from the recipe
(forge/train/parts.py); each method is one recipe module."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="forge.train.worker")
    for name in ("params", "start", "data", "out", "checkpoints", "facts"):
        p.add_argument(f"--{name}", required=True, type=Path)
    p.add_argument("--base", type=Path, help="models/base (runtimes read its forge_base.json)")
    p.add_argument("--part", required=True, choices=("sft", "reward", "train"))
    p.add_argument("--reward-model", type=Path, help="stage reward's model (rlhf)")
    a = p.parse_args(argv)

    from forge.config.compose import load_group
    from forge.errors import ForgeError, report
    from forge.record import write_json
    from forge.train import backends, parts

    main_process = int(os.environ.get("RANK", "0")) == 0

    try:
        recipe = parts.part_recipe(a.part, load_group("recipe", a.params))
        hw = load_group("hardware", a.params)
        if backends.resolve_backend(hw) == "unsloth":
            import unsloth  # noqa: F401 - Unsloth patches transformers only if imported first
        extra = {"reward_model": a.reward_model} if a.reward_model else {}
        facts = parts.module(recipe.method).train(
            recipe, hw, str(a.start), a.data, a.out, a.checkpoints, a.checkpoints / "live", **extra
        )
        if not main_process:  # under accelerate launch, rank 0 alone exports and reports
            return 0
        if getattr(recipe, "merge_adapter", False) and facts["adapter"]:
            from forge.train import export

            facts["merged"] = export.merge(str(a.start), a.out, hw)
    except ForgeError as exc:
        report(exc)
        return exc.exit_code
    write_json(a.facts, facts)
    return 0


if __name__ == "__main__":
    sys.exit(main())
