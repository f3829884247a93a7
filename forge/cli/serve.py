"""forge serve [--host 127.0.0.1] [--port 8000] | forge serve --add-key --scope read|write"""

from __future__ import annotations

from pathlib import Path

import typer


def main(
    host: str = typer.Option("127.0.0.1", "--host", help="Address to bind (loopback by default)."),
    port: int = typer.Option(8000, "--port", min=0, max=65535, help="Port to listen on."),
    keys_file: Path = typer.Option(
        Path(".forge/api-keys.json"), "--keys-file", help="Salted hashes of the API keys."
    ),
    add_key: bool = typer.Option(
        False, "--add-key", help="Create an API key: print it once, store only its hash; exit."
    ),
    scope: str = typer.Option("read", "--scope", help="With --add-key: read or write."),
    name: str = typer.Option(None, "--name", help="With --add-key: a label for the key."),
) -> None:
    """Serve the REST API over this project (OpenAPI at /docs), calling what the CLI calls.

    Keys: FORGE_API_KEYS="write:KEY,read:KEY2" or the keys file (--add-key). Without keys the
    server is open, so it binds only to loopback; any other --host needs keys. Repo writes go
    through one queue; runs train one at a time as DVC experiments in their own clones."""
    from forge.serve import auth

    if add_key:
        key = auth.add_key(scope, name, keys_file)
        typer.echo(key)
        typer.echo(
            f"forge: a {scope} key; only its salted hash is in {keys_file}. "
            "Keep the key now: it is not shown again.",
            err=True,
        )
        return
    from forge.serve.server import serve

    serve(host, port, auth.load(keys_file))
