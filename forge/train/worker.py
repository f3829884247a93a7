"""The training child process: python -m forge.train.worker RUN_FILE

Started by the supervisor through a runtime. The run file (forge/train/run.py) says
everything: which part, its typed recipe, the hardware profile and the paths. The recipe
module registered for the method trains (forge/recipes/)."""

from __future__ import annotations

import os
import sys
from pathlib import Path


def train(run_file: Path) -> int:
    from forge.model import load
    from forge.recipes.registry import get
    from forge.record import write_json
    from forge.train.run import RunSpec, TrainRun

    spec = RunSpec.read(run_file)
    if load.backend(spec.hardware) == "unsloth":
        import unsloth  # noqa: F401 - Unsloth patches transformers only if imported first
    facts = get(spec.recipe.method).train(spec.recipe, TrainRun(spec))
    if int(os.environ.get("RANK", "0")) != 0:  # under accelerate launch, rank 0 alone reports
        return 0
    adapter = spec.recipe.adapter
    if adapter is not None and adapter.merge and facts["adapter"]:
        from forge.model import export

        facts["merged"] = export.merge(spec.start, spec.out, spec.hardware)
    write_json(spec.facts_path, facts)
    return 0


def main(argv: list[str] | None = None) -> None:
    from forge.errors import entry

    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        raise SystemExit("usage: python -m forge.train.worker RUN_FILE")
    entry(lambda: train(Path(args[0])))


if __name__ == "__main__":
    main()
