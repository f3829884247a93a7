"""What every stages/<stage>.py shares: one-line errors and exit codes, `--debug` (or
FORGE_DEBUG=1) for a traceback. A stage script stays a table of contents."""

from __future__ import annotations

from collections.abc import Callable
from typing import NoReturn


def run_stage(main: Callable[[], None]) -> NoReturn:
    from forge.errors import entry

    entry(main)
