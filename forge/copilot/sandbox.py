"""Run generated code in a bubblewrap sandbox, never bare.

    bwrap --unshare-all           new user, pid, ipc, uts, cgroup and network namespaces:
                                  the network namespace has only its own, down loopback,
                                  so there is no route out (127.0.0.1 is not the host's)
          --uid/--gid 65534       an unprivileged id inside; as root, bwrap itself runs as
                                  65534 (setpriv), so the kernel's limits apply to it too
          --ro-bind /usr, IN, code   read-only: the system's Python, the input, the script
          --bind OUT              the only writable place; / is remounted read-only
          --clearenv --cap-drop ALL --new-session --die-with-parent
    prlimit                       CPU seconds, address space, file size, open files, processes
    wall clock                    the process group is killed after `wall_s`

The input is copied into a fresh directory first (the sandbox's uid must be able to read
it, and it sees nothing else of the project). Inside, a guard (GUARD below) runs the
script with Python audit hooks that name each escape attempt on stderr; the kernel, not
the guard, is what blocks them. Where bwrap cannot start (not installed, user namespaces
blocked, seccomp), `probe()` says why and how to fix it, and nothing runs.

`python -m forge.copilot.sandbox SCRIPT INPUT OUT_DIR` is how a generated DVC stage runs
its script (forge prepare writes it), so `dvc repro` runs it sandboxed too.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from forge.errors import ForgeError

NOBODY = 65534
PYTHON = "/usr/bin/python3"  # the system's Python, read-only in the sandbox
FIX = (
    "install bubblewrap (apt-get install bubblewrap) and allow user namespaces "
    "(sysctl kernel.unprivileged_userns_clone=1; in Docker, a seccomp profile that permits "
    "clone(CLONE_NEWUSER)); Forge never runs generated code outside the sandbox"
)

GUARD = r"""
import os, sys, errno
sys.dont_write_bytecode = True
if os.path.isdir("/sandbox/env"):
    sys.path.insert(0, "/sandbox/env")
OK_READ = ("/data/in", "/data/out", "/usr", "/sandbox", "/proc/self", "/dev/null", "/dev/urandom")
seen = set()
last = [None]

def say(kind, detail):
    if (kind, detail) not in seen:
        seen.add((kind, detail))
        os.write(2, f"forge-sandbox: blocked: {kind}: {detail}\n".encode())

def hook(event, args):
    if event == "socket.connect":
        last[0] = ("network", f"connect to {args[1]!r}")
        say(*last[0])
    elif event in ("socket.bind", "socket.sendto"):
        last[0] = ("network", f"{event.split('.')[1]} {args[1]!r}")
        say(*last[0])
    elif event == "open" and isinstance(args[0], (str, bytes)):
        path = os.fsdecode(args[0])
        mode, flags = args[1] or "", args[2] or 0
        write = any(c in mode for c in "wax+") or flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT)
        full = os.path.abspath(path)
        if write and not full.startswith("/data/out/"):
            last[0] = ("write outside the output directory", full)
            say(*last[0])
        elif not write and not full.startswith(OK_READ):
            last[0] = ("read outside the input", full)
            say(*last[0])
    elif event in ("os.fork", "os.forkpty", "os.posix_spawn", "subprocess.Popen", "os.system"):
        last[0] = ("process limit", event)

sys.addaudithook(hook)
script = sys.argv[1]
sys.argv = sys.argv[1:]
try:
    import runpy
    runpy.run_path(script, run_name="__main__")
except MemoryError:
    os.write(2, b"forge-sandbox: blocked: memory limit: MemoryError\n")
    os._exit(1)
except OSError as exc:
    kind = last[0][0] if last[0] else "os"
    if exc.errno == errno.EAGAIN and kind == "process limit":
        os.write(2, f"forge-sandbox: blocked: process limit: {exc}\n".encode())
        os._exit(1)
    raise
"""


@dataclass(frozen=True)
class Limits:
    cpu_s: int = 60
    wall_s: float = 120.0
    memory_mb: int = 2048
    file_mb: int = 1024
    processes: int = 64
    open_files: int = 256


@dataclass
class Result:
    returncode: int
    stdout: str
    stderr: str
    seconds: float
    blocked: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    def describe(self) -> str:
        """One line: how the run ended, and every escape attempt it made."""
        if self.ok:
            head = "exit 0"
        elif self.returncode < 0:
            head = f"killed by {signal.Signals(-self.returncode).name}"
        else:
            head = f"exit {self.returncode}"
        return head + (f"; blocked: {'; '.join(self.blocked)}" if self.blocked else "")


class SandboxUnavailable(ForgeError):
    exit_code = 1


def _as_nobody() -> list[str]:
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        raise SandboxUnavailable(
            "the sandbox needs setpriv (util-linux) to drop root before bwrap",
            hint="apt-get install util-linux",
        )
    ids = str(NOBODY)
    return [setpriv, "--reuid", ids, "--regid", ids, "--clear-groups", "--inh-caps=-all"]


def _bwrap(binds: list[str]) -> list[str]:
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        raise SandboxUnavailable(f"bubblewrap (bwrap) is not installed; {FIX}")
    args = [
        bwrap, "--unshare-all", "--die-with-parent", "--new-session", "--clearenv",
        "--setenv", "PATH", "/usr/bin", "--setenv", "LANG", "C.UTF-8",
        "--setenv", "PYTHONDONTWRITEBYTECODE", "1",
        "--cap-drop", "ALL", "--uid", str(NOBODY), "--gid", str(NOBODY),
        "--ro-bind", "/usr", "/usr", "--symlink", "usr/bin", "/bin", "--symlink", "usr/lib", "/lib",
        "--proc", "/proc", "--dev", "/dev",
    ]  # fmt: skip
    if Path("/usr/lib64").is_dir():
        args += ["--symlink", "usr/lib64", "/lib64"]
    return args + binds + ["--remount-ro", "/"]


def _user_processes() -> int:
    uid, n = os.getuid(), 0
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                n += d.stat().st_uid == uid
            except OSError:
                pass
    return n


def _prlimit(limits: Limits) -> list[str]:
    prlimit = shutil.which("prlimit")
    if prlimit is None:
        raise SandboxUnavailable("the sandbox needs prlimit (util-linux) for its limits")
    # RLIMIT_NPROC counts the real uid's processes: as root the sandbox runs as 65534 alone;
    # otherwise the user's own processes count too
    nproc = limits.processes + (0 if os.geteuid() == 0 else _user_processes())
    return [
        prlimit,
        f"--cpu={limits.cpu_s}:{limits.cpu_s + 2}",  # SIGXCPU, then SIGKILL 2 s later
        f"--as={limits.memory_mb << 20}",
        f"--fsize={limits.file_mb << 20}",
        f"--nofile={limits.open_files}",
        f"--nproc={nproc}",
    ]


def probe() -> str | None:
    """None when the sandbox starts here; else why not, with the fix."""
    if not sys.platform.startswith("linux"):
        return f"the sandbox (bubblewrap) needs Linux, not {sys.platform}; {FIX}"
    if not Path(PYTHON).is_file():
        return f"the sandbox runs scripts with {PYTHON}, which is missing (apt-get install python3)"
    try:
        cmd = _prlimit(Limits()) + _as_nobody() + _bwrap([]) + [PYTHON, "-I", "-c", "pass"]
    except SandboxUnavailable as exc:
        return str(exc)
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=30, check=False)
    if proc.returncode != 0:
        why = (proc.stderr.strip().splitlines() or [f"exit {proc.returncode}"])[-1]
        return f"bubblewrap cannot start a sandbox here ({why}); {FIX}"
    return None


def require() -> None:
    why = probe()
    if why:
        raise SandboxUnavailable(why)


BLOCKED = re.compile(r"^forge-sandbox: blocked: (.*)$", re.M)


def run(
    script: Path,
    inputs: Path,
    out_dir: Path,
    limits: Limits = Limits(),
    env_dir: Path | None = None,
) -> Result:
    """Run `python3 script INPUT OUT` in the sandbox with `inputs` (a file) read-only and
    `out_dir` (emptied first) the only writable place; the output is copied back into
    `out_dir`. Raises SandboxUnavailable where the sandbox cannot start."""
    require()
    stage = Path(tempfile.mkdtemp(prefix="forge-sandbox-"))
    try:
        os.chmod(stage, 0o755)
        for sub in ("in", "code", "out"):
            (stage / sub).mkdir(mode=0o755)
        shutil.copyfile(inputs, stage / "in" / inputs.name)
        shutil.copyfile(script, stage / "code" / "script.py")
        (stage / "code" / "guard.py").write_text(GUARD, encoding="utf-8")
        for p in (
            stage / "in" / inputs.name,
            stage / "code" / "script.py",
            stage / "code" / "guard.py",
        ):
            os.chmod(p, 0o444)
        if os.geteuid() == 0:
            os.chown(stage / "out", NOBODY, NOBODY)
        binds = [
            "--ro-bind", str(stage / "in"), "/data/in",
            "--ro-bind", str(stage / "code"), "/sandbox/code",
            "--bind", str(stage / "out"), "/data/out",
            "--chdir", "/data/out",
        ]  # fmt: skip
        if env_dir is not None:
            binds += ["--ro-bind", str(env_dir), "/sandbox/env"]
        cmd = (
            _prlimit(limits)
            + _as_nobody()
            + _bwrap(binds)
            + [PYTHON, "-I", "/sandbox/code/guard.py", "/sandbox/code/script.py"]
            + [f"/data/in/{inputs.name}", "/data/out"]
        )
        start = time.monotonic()
        proc = subprocess.Popen(
            cmd,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            text=True,
            errors="replace",
            start_new_session=True,
        )
        timed_out = False
        try:
            stdout, stderr = proc.communicate(timeout=limits.wall_s)
        except subprocess.TimeoutExpired:
            timed_out = True
            os.killpg(proc.pid, signal.SIGKILL)
            stdout, stderr = proc.communicate()
        seconds = time.monotonic() - start
        code = proc.returncode
        if code > 128 and code - 128 in (signal.SIGXCPU, signal.SIGKILL, signal.SIGXFSZ):
            code = -(code - 128)  # bwrap reports its child's death by signal as 128 + N
        blocked = list(dict.fromkeys(BLOCKED.findall(stderr)))
        if timed_out:
            blocked.append(f"wall-clock limit: killed after {limits.wall_s:g} s")
            code = -signal.SIGKILL
        elif code == -signal.SIGXCPU:
            blocked.append(f"CPU-time limit: {limits.cpu_s} s")
        elif code == -signal.SIGXFSZ:
            blocked.append(f"file-size limit: {limits.file_mb} MiB")
        _replace(out_dir, stage / "out")
        return Result(code, stdout, stderr, seconds, blocked)
    finally:
        shutil.rmtree(stage, ignore_errors=True)


def _replace(dest: Path, src: Path) -> None:
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    for p in src.iterdir():
        if p.is_file() and not p.is_symlink():
            shutil.copyfile(p, dest / p.name)


def main(argv: list[str] | None = None) -> int:
    """python -m forge.copilot.sandbox SCRIPT INPUT OUT_DIR: a generated stage's command."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 3:
        raise ForgeError("usage: python -m forge.copilot.sandbox SCRIPT INPUT OUT_DIR")
    script, inputs, out = (Path(a) for a in args)
    for p in (script, inputs):
        if not p.is_file():
            raise ForgeError(f"{p}: file not found")
    result = run(script, inputs, out)
    sys.stderr.write(result.stderr)
    if not result.ok:
        raise ForgeError(f"{script}: failed in the sandbox ({result.describe()})")
    print(f"{script}: {result.describe()} in {result.seconds:.1f} s -> {out}")
    return 0


if __name__ == "__main__":
    from forge.errors import entry

    entry(main)
