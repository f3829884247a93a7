"""What every stages/<stage>.py shares: one-line errors and exit codes, `--debug` for a
traceback. A stage script stays a table of contents."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable


def run_stage(main: Callable[[], None]) -> None:
    from forge.errors import ForgeError, report

    debug = "--debug" in sys.argv or os.environ.get("FORGE_DEBUG") == "1"
    try:
        main()
    except ForgeError as exc:
        if debug:
            raise
        report(exc)
        sys.exit(exc.exit_code)
