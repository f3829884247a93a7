"""Forge's packaged DVC stages: dvc.yaml runs each as `python -m forge.stages.<stage>`, in
this repo and in every project `forge init` writes, so a project holds no Forge source.

What every stage shares (run_stage): one-line errors and exit codes, `--debug` (or
FORGE_DEBUG=1) for a traceback, and params.yaml checked against the run's record at the
stage's start and end (forge.runlock). A stage module stays a table of contents."""

from __future__ import annotations

from collections.abc import Callable
from typing import NoReturn


def run_stage(main: Callable[[], None]) -> NoReturn:
    from forge.errors import entry
    from forge.runlock import check_params

    def checked() -> None:
        check_params()  # before the stage reads params.yaml
        main()
        check_params()  # before DVC records params.yaml's values in dvc.lock

    entry(checked)
