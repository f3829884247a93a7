"""A wheelhouse for an image build: the pinned wheels downloaded with this machine's pip,
served on 127.0.0.1 for the length of the build (the build then needs no index)."""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from forge.runtime.docker.engine import ContainerError


@contextmanager
def serve(directory: Path) -> Iterator[str]:
    """Serve a wheelhouse on 127.0.0.1 for the length of a build; yields its URL."""
    import functools
    from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

    class Quiet(SimpleHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(Quiet, directory=str(directory))
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


def fill_wheelhouse(requirements: list[str], wheels: Path) -> None:
    """Download the pinned wheels (and pip) with this machine's pip: its indexes, find-links
    and cache apply. The image must run the same Python (cp311) as this machine."""
    import subprocess

    wheels.mkdir(parents=True, exist_ok=True)
    req = wheels / "requirements.txt"
    req.write_text("\n".join([*requirements, "pip"]) + "\n")
    cmd = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--quiet",
        "--dest",
        str(wheels),
        "-r",
        str(req),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["(no output)"])[-1]
        raise ContainerError(f"pip download into {wheels} failed: {last}")
