"""Run the app under uvicorn, after the checks that keep an open API on this machine."""

from __future__ import annotations

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
