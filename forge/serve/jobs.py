"""Jobs: long operations answered 202 with a job id, polled at GET /jobs/{id}.

Three executors, one worker thread each:
- `writes`: every operation that writes the repo (git tags, DVC-tracked files, cards,
  experiment refs) runs here, one at a time, so git and DVC operations never interleave;
- `runs`: training runs, one at a time (each trains in its own clone and writes nothing in
  the repo; bringing its experiment in is a `writes` job);
- `reads`: long read-only work (a PII scan)."""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from forge.errors import ForgeError


def error_body(exc: BaseException) -> dict[str, Any]:
    """The JSON error: the CLI's one line, and each problem where there are several."""
    if isinstance(exc, ForgeError):
        problems = getattr(exc, "problems", None) or [str(exc)]
        return {"error": "; ".join(problems), "problems": problems, "type": type(exc).__name__}
    return {"error": f"internal error ({type(exc).__name__})", "problems": [], "type": "Bug"}


class Jobs:
    def __init__(self, status_of: Callable[[BaseException], int]) -> None:
        self.writes = ThreadPoolExecutor(1, thread_name_prefix="forge-writes")
        self.runs = ThreadPoolExecutor(1, thread_name_prefix="forge-runs")
        self.reads = ThreadPoolExecutor(2, thread_name_prefix="forge-reads")
        self.status_of = status_of
        self._jobs: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()

    def submit(self, kind: str, fn: Callable[[], Any], where: str = "writes") -> dict[str, Any]:
        """Queue `fn` on an executor; returns the job (status queued)."""
        job = {
            "id": f"job-{secrets.token_hex(6)}",
            "kind": kind,
            "status": "queued",
            "created": time.time(),
            "finished": None,
            "result": None,
            "error": None,
            "problems": [],
            "status_code": None,
        }
        with self._lock:
            self._jobs[job["id"]] = job

        def work() -> None:
            self._set(job["id"], status="running")
            try:
                result = fn()
            except BaseException as exc:  # noqa: BLE001  a job's failure is its record
                self._set(
                    job["id"],
                    status="failed",
                    finished=time.time(),
                    status_code=self.status_of(exc),
                    **{k: v for k, v in error_body(exc).items() if k in ("error", "problems")},
                )
                return
            self._set(job["id"], status="done", finished=time.time(), result=result)

        getattr(self, where).submit(work)
        return dict(job)

    def write(self, fn: Callable[[], Any]) -> Any:
        """Run `fn` in the write queue and wait for it (a short write answered at once)."""
        future: Future = self.writes.submit(fn)
        return future.result()

    def _set(self, job_id: str, **changes: Any) -> None:
        with self._lock:
            self._jobs[job_id].update(changes)

    def get(self, job_id: str) -> dict[str, Any] | None:
        with self._lock:
            job = self._jobs.get(job_id)
            return dict(job) if job else None

    def all(self) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(j) for j in self._jobs.values()]

    def shutdown(self) -> None:
        for ex in (self.reads, self.runs, self.writes):
            ex.shutdown(wait=False, cancel_futures=True)
