"""One `forge run` at a time per workspace, and stages that notice a swapped params.yaml.

`forge run` takes `.forge/run.lock` before it composes and holds it through `dvc repro`:
an exclusive `flock` on the file, whose content is the run's record (holder's pid, command,
start time, a token, and the params it composed). The kernel drops the flock when its
holder dies, so a lock left by a dead run is simply taken over. A second run fails at once
naming the holder, or waits (`--wait`); either way it has not touched params.yaml.

The run hands its token and the lock's path to its stages (FORGE_RUN_TOKEN,
FORGE_RUN_LOCK). Each stage checks at its start and again at its end, before DVC records
params in dvc.lock, that params.yaml is byte for byte what the run composed, and fails
loudly if it changed under it or if the lock is no longer its run's.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from forge.errors import ForgeError

LOCK = Path(".forge") / "run.lock"
TOKEN_ENV = "FORGE_RUN_TOKEN"
LOCK_ENV = "FORGE_RUN_LOCK"


class WorkspaceBusy(ForgeError):
    """Another `forge run` holds this workspace."""

    exit_code = 1


class ParamsChanged(ForgeError):
    """params.yaml changed under a running stage."""

    exit_code = 1


def read(path: Path) -> dict[str, Any] | None:
    """The run record in a lock file; None when there is none (or it is half written)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def describe(record: dict[str, Any] | None) -> str:
    if not record:
        return "another forge run (holder unknown)"
    command = str(record.get("command", "?"))
    if len(command) > 120:
        command = command[:117] + "..."
    return f"pid {record.get('pid', '?')} ({command}), started {record.get('started', '?')}"


def alive(pid: Any) -> bool:
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, under another user
        return True
    return True


def digest(data: bytes | None) -> str | None:
    return None if data is None else hashlib.sha256(data).hexdigest()


class RunLock:
    """A held workspace lock; `record_params` writes what the run composed into it."""

    def __init__(self, path: Path, fd: int, record: dict[str, Any]) -> None:
        self.path = path
        self.fd = fd
        self.record = record

    @property
    def env(self) -> dict[str, str]:
        """What the run's stages need to find and check its record."""
        return {TOKEN_ENV: self.record["token"], LOCK_ENV: str(self.path.resolve())}

    def _write(self) -> None:
        data = (json.dumps(self.record, sort_keys=True) + "\n").encode()
        os.ftruncate(self.fd, 0)
        os.pwrite(self.fd, data, 0)
        os.fsync(self.fd)

    def record_params(self, params: Path) -> None:
        import yaml

        raw = params.read_bytes()
        self.record["params_sha256"] = digest(raw)
        self.record["params"] = yaml.safe_load(raw)
        self._write()


@contextmanager
def hold(root: Path, command: list[str], wait: bool = False) -> Iterator[RunLock]:
    """Hold the workspace's run lock for the `with` body; WorkspaceBusy if another live run
    holds it (unless `wait`, which blocks until it is free)."""
    import fcntl

    path = root / LOCK
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _holder(path)
            if not wait:
                raise WorkspaceBusy(
                    f"{LOCK}: another run holds this workspace: {describe(holder)}",
                    hint="wait for it to finish, or pass --wait",
                ) from None
            print(f"forge: waiting for {describe(holder)} to finish", file=sys.stderr)
            fcntl.flock(fd, fcntl.LOCK_EX)
        stale = read(path)
        if stale and stale.get("pid") != os.getpid():
            print(
                f"forge: took over {LOCK} from {describe(stale)}, which is no longer running",
                file=sys.stderr,
            )
        record = {
            "pid": os.getpid(),
            "command": " ".join(command),
            "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "token": uuid.uuid4().hex,
            "params_sha256": None,
            "params": None,
        }
        lock = RunLock(path, fd, record)
        lock._write()
        try:
            yield lock
        finally:
            os.ftruncate(fd, 0)  # released: nothing left to take over
    finally:
        os.close(fd)  # drops the flock


def refuse_if_busy(root: Path, what: str) -> None:
    """WorkspaceBusy when a live `forge run` holds root's lock (`forge compose` calls this
    before it writes params.yaml); the lock is only probed, never kept."""
    import fcntl

    path = root / LOCK
    if not path.is_file():
        return
    fd = os.open(path, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        raise WorkspaceBusy(
            f"{LOCK}: {what} would change params.yaml under a running {describe(_holder(path))}",
            hint="wait for that run to finish",
        ) from None
    finally:
        os.close(fd)  # closing drops the probe's lock, if it got one


def _holder(path: Path) -> dict[str, Any] | None:
    for _ in range(20):  # the holder may be between truncating and writing its record
        record = read(path)
        if record:
            return record
        time.sleep(0.05)
    return None


def check_params(params: Path = Path("params.yaml")) -> None:
    """In a stage: params.yaml must be what the run that started it composed.

    Started by `forge run` (FORGE_RUN_TOKEN set): the lock must still be that run's, and
    params.yaml must hash to its record. Started otherwise (plain `dvc repro`) while a
    live `forge run` holds the workspace: params.yaml must still be what it composed."""
    token = os.environ.get(TOKEN_ENV)
    lock = Path(os.environ.get(LOCK_ENV) or LOCK)
    record = read(lock)
    if token:
        if record is None or record.get("token") != token:
            raise ParamsChanged(
                f"{lock}: the forge run that started this stage no longer holds the workspace "
                f"(now: {describe(record)}); params.yaml may not be what it composed",
                hint="stop and rerun `forge run`",
            )
    elif record is None or not alive(record.get("pid")):
        return
    want = record.get("params_sha256")
    if want is None:
        return
    raw = params.read_bytes() if params.is_file() else None
    if digest(raw) != want:
        raise ParamsChanged(
            f"{params} changed under this stage: it is no longer what the run "
            f"{describe(record)} composed ({_changed(record.get('params'), raw)}); "
            "the stage's results would not match the params dvc.lock records",
            hint="do not edit params.yaml or run `forge compose` during a run; rerun `forge run`",
        )


def _changed(composed: Any, raw: bytes | None) -> str:
    """Which top-level groups differ, in words."""
    import yaml

    if raw is None:
        return "the file is gone"
    try:
        now = yaml.safe_load(raw)
    except yaml.YAMLError:
        return "it is no longer valid YAML"
    if not isinstance(now, dict) or not isinstance(composed, dict):
        return "it is not a mapping of groups"
    groups = sorted(str(k) for k in composed.keys() | now.keys() if composed.get(k) != now.get(k))
    return f"groups changed: {', '.join(groups)}" if groups else "only its text changed"
