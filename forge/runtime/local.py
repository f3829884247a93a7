"""Run training in a child process on this machine. The parent stays light (no torch), so a
crash, an OOM kill or a SIGKILL in the child is seen here as an exit code, never silence."""

from __future__ import annotations

import signal
import subprocess

from forge.runtime.base import Job


class LocalRuntime:
    name = "local"

    def run(self, job: Job) -> int:
        proc = subprocess.Popen(job.argv, env=job.env)
        previous = {}

        def forward(signum, _frame):
            proc.send_signal(signum)

        for sig in (signal.SIGTERM, signal.SIGINT):
            previous[sig] = signal.signal(sig, forward)
        try:
            code = proc.wait()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        return 128 - code if code < 0 else code
