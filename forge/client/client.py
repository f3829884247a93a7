"""ForgeClient: one method per endpoint the SDK covers, typed results, errors raised."""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import quote

import httpx

from forge.client.errors import ForgeError, Timeout, for_status
from forge.client.types import Comparison, Dataset, Job, Metrics, Model, Promotion, Run


class ForgeClient:
    """A client for `forge serve`.

    >>> with ForgeClient("http://127.0.0.1:8000", api_key="fk_...") as forge:
    ...     run = forge.wait_for(forge.launch_run(["recipe.max_steps=40"]).id)
    """

    def __init__(self, base_url: str, api_key: str | None = None, timeout: float = 60.0):
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._http = httpx.Client(base_url=base_url.rstrip("/"), headers=headers, timeout=timeout)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> ForgeClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _call(self, method: str, path: str, **kw: Any) -> Any:
        r = self._http.request(method, path, **kw)
        if r.status_code < 400:
            return r.json()
        try:
            body = r.json()
            reason, problems = body["error"], body.get("problems")
        except (ValueError, KeyError, TypeError):
            reason, problems = f"HTTP {r.status_code}: {r.text[:200]}", None
        raise for_status(r.status_code)(reason, r.status_code, problems)

    # ---- jobs
    def get_job(self, job_id: str) -> Job:
        return Job.of(self._call("GET", f"/jobs/{_seg(job_id)}"))

    def wait_job(self, job_id: str, timeout: float = 600.0, poll: float = 0.5) -> Any:
        """Wait for a job; its result, or its error raised as the matching ForgeError."""
        deadline = time.monotonic() + timeout
        while True:
            job = self.get_job(job_id)
            if job.status == "done":
                return job.result
            if job.status == "failed":
                raise for_status(job.status_code)(
                    job.error or "job failed", job.status_code, job.problems
                )
            if time.monotonic() > deadline:
                raise Timeout(f"job {job_id} is still {job.status} after {timeout:g} s")
            time.sleep(poll)

    # ---- datasets
    def register_dataset(
        self,
        path: str,
        name: str,
        license: str,
        source: str,
        pii_policy: str = "block",
        format: str = "auto",
        replace: bool = False,
        timeout: float = 600.0,
    ) -> Dataset:
        """`forge data add` on the server (a file already in the project); waits for it."""
        body = {
            "path": path,
            "name": name,
            "license": license,
            "source": source,
            "pii_policy": pii_policy,
            "format": format,
            "replace": replace,
        }
        job = Job.of(self._call("POST", "/datasets/register", json=body))
        return Dataset.of(self.wait_job(job.id, timeout)["card"])

    def list_datasets(self) -> list[Dataset]:
        return [Dataset.of(d) for d in self._call("GET", "/datasets")]

    def get_dataset(self, name: str) -> Dataset:
        return Dataset.of(self._call("GET", f"/datasets/{_seg(name)}"))

    # ---- runs
    def launch_run(self, overrides: list[str] | None = None) -> Run:
        """Queue a training run (a DVC experiment); returns it queued."""
        out = self._call("POST", "/runs/launch", json={"overrides": list(overrides or [])})
        return self.get_run(out["run_id"])

    def list_runs(self) -> list[Run]:
        return [Run.of(r) for r in self._call("GET", "/runs")]

    def get_run(self, run_id: str) -> Run:
        return Run.of(self._call("GET", f"/runs/{_seg(run_id)}"))

    def get_metrics(self, run_id: str, last_n: int | None = None) -> Metrics:
        params = {"last_n": last_n} if last_n is not None else None
        return Metrics.of(self._call("GET", f"/runs/{_seg(run_id)}/metrics", params=params))

    def cancel_run(self, run_id: str) -> Run:
        return Run.of(self._call("POST", f"/runs/{_seg(run_id)}/cancel"))

    def wait_for(self, run_id: str, timeout: float = 3600.0, poll: float = 2.0) -> Run:
        """Poll until the run is done, failed or cancelled; returns it (Timeout if not)."""
        deadline = time.monotonic() + timeout
        while True:
            run = self.get_run(run_id)
            if run.finished:
                return run
            if time.monotonic() > deadline:
                raise Timeout(f"run {run_id} is still {run.status} after {timeout:g} s")
            time.sleep(poll)

    # ---- models
    def promote_model(
        self, name: str, stage: str, version: str | None = None, bump: str | None = None
    ) -> Promotion:
        """`forge promote` through the gates; Refused (409) with every reason otherwise."""
        body = {"name": name, "stage": stage, "version": version, "bump": bump}
        return Promotion.of(self._call("POST", "/models/promote", json=body))

    def list_models(self) -> list[Model]:
        return [Model.of(n, d) for n, d in sorted(self._call("GET", "/models").items())]

    # ---- evals
    def run_eval(self, model: str, suite: str = "default") -> Run:
        """Evaluate a registered version with a suite (a run at its commit)."""
        out = self._call("POST", "/evals/run", json={"model": model, "suite": suite})
        return self.get_run(out["run_id"])

    def compare(self, candidate: str, baseline: str) -> Comparison:
        """The paired bootstrap of two revisions' evaluations."""
        path = f"/evals/{_seg(candidate)}/compare/{_seg(baseline)}"
        return Comparison.of(self._call("GET", path))


def _seg(value: str) -> str:
    """One path segment, escaped ('/', '#', '?' and '..' stay inside it)."""
    return quote(value, safe="@")


__all__ = ["ForgeClient", "ForgeError"]
