"""The training child process: python -m forge.train.worker RUN_FILE

Started by the supervisor through a runtime. The run file (forge/train/run.py) says
everything: which part, its typed recipe, the hardware profile and the paths. The recipe
module registered for the method trains (forge/recipes/).

A failed attempt leaves a failure record beside the checkpoints (forge/train/heal.py
classifies the exception), and its output is also kept in worker.log there, for the
supervisor to read the tail of when the process dies without an exception (a SIGKILL).

Signals: run as one process (not under a launcher), the worker leads its own process group;
a SIGTERM or SIGINT it gets (the local runtime forwards the stage's) goes to that whole group,
so its children stop with it. With PR_SET_PDEATHSIG it also gets SIGTERM if the stage dies.
An interrupted save leaves a checkpoint without trainer_state.json, which is never resumed
from (forge/train/run.py)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path


def train(run_file: Path) -> int:
    from forge.model import load
    from forge.recipes.registry import get
    from forge.record import write_json
    from forge.train.run import RunSpec, TrainRun

    spec = RunSpec.read(run_file)
    rank = int(os.environ.get("RANK", "0"))
    run = None
    try:
        if load.backend(spec.hardware) == "unsloth":
            import unsloth  # noqa: F401 - Unsloth patches transformers only if imported first
        run = TrainRun(spec)
        facts = get(spec.recipe.method).train(spec.recipe, run)
    except BaseException as exc:
        _record_failure(spec.checkpoints, exc, rank, run)
        raise
    if rank != 0:  # under accelerate launch, rank 0 alone reports
        return 0
    adapter = spec.recipe.adapter
    if adapter is not None and adapter.merge and facts["adapter"]:
        from forge.model import export

        facts["merged"] = export.merge(spec.start, spec.out, spec.hardware)
    write_json(spec.facts_path, facts)
    return 0


def _record_failure(checkpoints: Path, exc: BaseException, rank: int, run) -> None:
    """What the supervisor classifies the attempt by (never raises)."""
    try:
        from forge.train.heal import (
            classify_exception,
            disk_full_evidence,
            memory_limit_gib,
            write_failure,
        )

        failure = classify_exception(exc)
        if failure.cls == "unknown" and (full := disk_full_evidence(exc, checkpoints)):
            failure.cls, failure.evidence = "disk_full", [*failure.evidence, full]
        guard = getattr(run, "guard", None)
        failure.step = getattr(guard, "step", None)
        if failure.cls == "cuda_oom":
            failure.memory_gib = _cuda_memory_gib()
        elif failure.cls == "host_oom":
            failure.memory_gib = memory_limit_gib()
        write_failure(checkpoints, failure, rank)
    except Exception as err:  # the original failure matters more than its record
        print(f"forge: could not record the failure: {err}", file=sys.stderr)


def _cuda_memory_gib() -> float | None:
    try:
        import torch

        if torch.cuda.is_available():
            return torch.cuda.mem_get_info()[1] / 2**30
    except Exception:
        pass
    return None


def _tee(log: Path) -> None:
    """Copy this process's stdout and stderr into `log` as well (through `tee` processes in
    their own session, so that they outlive a SIGKILL of this one and ignore its signals)."""
    import shutil

    tee = shutil.which("tee")
    if tee is None:
        return
    log.parent.mkdir(parents=True, exist_ok=True)
    for fd in (1, 2):
        try:
            read, write = os.pipe()
            original = os.dup(fd)
            subprocess.Popen(
                [tee, "-a", "-i", str(log)],
                stdin=read,
                stdout=original,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
                close_fds=True,
            )
            os.close(read)
            os.close(original)
            os.dup2(write, fd)
            os.close(write)
        except OSError:
            return


def _own_process_group() -> None:
    """Lead a process group, forward SIGTERM/SIGINT to all of it, and die with the stage."""
    try:
        os.setpgid(0, 0)
    except OSError:
        return

    def forward(signum, _frame):
        signal.signal(signum, signal.SIG_IGN)  # the group includes this process
        try:
            os.killpg(os.getpgrp(), signum)
        except OSError:
            pass
        signal.signal(
            signum, signal.default_int_handler if signum == signal.SIGINT else signal.SIG_DFL
        )
        if signum == signal.SIGINT:
            raise KeyboardInterrupt
        os.kill(os.getpid(), signum)

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, forward)
    try:  # Linux: SIGTERM when the parent (the stage) dies
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def main(argv: list[str] | None = None) -> None:
    from forge.errors import entry

    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        raise SystemExit("usage: python -m forge.train.worker RUN_FILE")
    run_file = Path(args[0])
    if "LOCAL_RANK" not in os.environ:  # a launcher (accelerate, torchrun) owns its ranks
        _own_process_group()
    from forge.train.heal import LOG_FILE

    _tee(run_file.parent / LOG_FILE)
    entry(lambda: train(run_file))


if __name__ == "__main__":
    main()
