"""Running DVC: this environment's DVC (`python -m dvc`, whatever PATH says), with the
stages' `python` on PATH resolving to the interpreter that runs Forge."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Mapping
from pathlib import Path


def argv(*args: str) -> list[str]:
    return [sys.executable, "-m", "dvc", *args]


def env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """os.environ plus `extra`, unbuffered, with this interpreter's bin first on PATH."""
    path = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    return {**os.environ, **(extra or {}), "PYTHONUNBUFFERED": "1", "PATH": path}


def run(*args: str, cwd: Path = Path("."), extra_env: Mapping[str, str] | None = None):
    """`dvc ARGS` to completion, output captured."""
    return subprocess.run(argv(*args), cwd=cwd, env=env(extra_env), capture_output=True, text=True)


def stream(
    *args: str,
    cwd: Path = Path("."),
    extra_env: Mapping[str, str] | None = None,
    on_line: Callable[[str], None] | None = None,
    on_start: Callable[[subprocess.Popen], None] | None = None,
    new_session: bool = False,
) -> int:
    """`dvc ARGS` with stdout and stderr merged, each line (no newline) to `on_line`;
    returns the exit code. `on_start` gets the process; `new_session` puts it in its own
    process group (a server cancels it with killpg; a terminal's Ctrl-C then misses it)."""
    proc = subprocess.Popen(
        argv(*args),
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env(extra_env),
        bufsize=1,
        start_new_session=new_session,
    )
    if on_start is not None:
        on_start(proc)
    assert proc.stdout is not None
    for line in proc.stdout:
        if on_line is not None:
            on_line(line.rstrip("\n"))
    return proc.wait()
