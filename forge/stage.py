"""What every stages/<stage>.py shares: one-line errors and exit codes, `--debug` (or
FORGE_DEBUG=1) for a traceback, and params.yaml checked against the run's record at the
stage's start and end (forge.runlock). A stage script stays a table of contents."""

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
