"""Run the app under uvicorn, after the checks that keep an open API on this machine."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from forge.errors import ForgeError
from forge.serve.auth import Keys, check_bind


def serve(host: str, port: int, keys: Keys) -> None:
    import uvicorn

    from forge.serve.app import create_app, recover

    check_bind(host, keys)
    if not Path("dvc.yaml").is_file() or not Path(".git").exists():
        raise ForgeError(
            "forge serve: no dvc.yaml and .git here", hint="run it from a Forge project's root"
        )
    recover()
    app = create_app(keys)
    where = f"http://{'[' + host + ']' if ':' in host else host}:{port}"
    print(
        f"forge serve: {where} (OpenAPI at {where}/docs; "
        f"{'keys required' if keys else 'open, loopback only'})",
        file=sys.stderr,
        flush=True,
    )
    try:
        uvicorn.run(app, host=host, port=port, log_level="warning", server_header=False)
    finally:
        app.state.jobs.shutdown()
        stop_runs()


def stop_runs() -> None:
    """A stopping server stops its runs too: a run it no longer watches would train on,
    and its experiment would never come into the repo."""
    from forge.api import runs

    for record in runs.list_runs():
        if record.get("status") in runs.FINAL and record["id"] != "workspace":
            runs.cancel(record["id"])


def spawn(
    project: Path,
    args: tuple[str, ...] = (),
    env: dict[str, str] | None = None,
    timeout: float = 60,
    stdout: int | None = subprocess.PIPE,
):
    """`forge serve` started in `project` on a free loopback port, in its own process group:
    (process, base url) once it answers GET /openapi.json. For scripts and tests that need
    a real server (tests/test_serve.py, benchmarks/serve_load.py); RuntimeError with its
    output when it does not start."""
    import socket
    import time

    import httpx

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    forge = Path(sys.executable).parent / "forge"
    proc = subprocess.Popen(
        [str(forge), "serve", "--port", str(port), *args],
        cwd=project,
        env=env,
        stdout=stdout,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout
    while True:
        try:
            httpx.get(url + "/openapi.json", timeout=2)
            return proc, url
        except httpx.TransportError:
            if proc.poll() is not None or time.monotonic() > deadline:
                stop(proc)
                raise RuntimeError(f"forge serve did not start: {proc.communicate()}") from None
            time.sleep(0.2)


def stop(proc: subprocess.Popen) -> None:
    """Stop a spawned server's process group: SIGTERM, then SIGKILL after 20 s."""
    import os
    import signal

    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
