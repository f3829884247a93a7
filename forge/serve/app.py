"""The REST API: a view and a controller over the repo (data cards, DVC experiments, GTO
tags, committed results), every endpoint one call into forge.api. OpenAPI at /docs.

Errors are JSON, `{"error": "<the CLI's one line>", "problems": [...], "type": ...}`, never
a traceback: 400 bad input, 401 no or wrong key, 403 a read key on a write, 404 unknown
id, 409 refused (a gate, a busy workspace, a finished run), 422 a malformed request."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Literal

from fastapi import Depends, FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse
from fastapi.security import (
    HTTPAuthorizationCredentials,
    HTTPBasic,
    HTTPBasicCredentials,
    HTTPBearer,
)
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from forge.errors import ForgeError, PromotionRefused
from forge.serve.auth import Keys
from forge.serve.jobs import Jobs, error_body

log = logging.getLogger("forge.serve")


def status_of(exc: BaseException) -> int:
    from forge.api.ids import Conflict, NotFound
    from forge.runlock import WorkspaceBusy

    if isinstance(exc, NotFound):
        return 404
    if isinstance(exc, PromotionRefused | Conflict | WorkspaceBusy):
        return 409
    if isinstance(exc, ForgeError):
        return 400
    return 500


class Error(BaseModel):
    error: str = Field(description="The one-line reason, as the CLI prints it.")
    problems: list[str] = Field(description="Each problem, where there are several.")
    type: str


ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": Error, "description": why}
    for code, why in (
        (400, "Bad input (one line naming the key, file or id)"),
        (401, "No API key, or an unknown one"),
        (403, "A read key on a write"),
        (404, "No such dataset, run, job or version"),
        (409, "Refused: a failed gate, a busy workspace, a finished run"),
        (422, "A malformed request"),
    )
}


class Job(BaseModel):
    id: str
    kind: str
    status: Literal["queued", "running", "done", "failed"]
    created: float
    finished: float | None = None
    result: Any = None
    error: str | None = None
    problems: list[str] = []
    status_code: int | None = None


class RegisterDataset(BaseModel):
    path: str = Field(description="Raw file in the project, e.g. data/raw/tickets.csv")
    name: str = Field(description="Dataset name; the card is data/cards/NAME.yaml")
    license: str = Field(description="SPDX license id, e.g. Apache-2.0")
    source: str = Field(description="Where the data came from")
    pii_policy: Literal["block", "redact", "allow"] = "block"
    format: str = "auto"
    replace: bool = False


class Launch(BaseModel):
    overrides: list[str] = Field(default=[], description="Hydra overrides, as for forge run")


class Launched(BaseModel):
    run_id: str
    job_id: str
    status: str


class Promote(BaseModel):
    name: str = Field(description="Artifact name, as in dvc.yaml artifacts:")
    stage: str = Field(description="Stage to assign, e.g. staging or prod")
    version: str | None = Field(default=None, description="Explicit semver, e.g. v1.2.0")
    bump: Literal["major", "minor", "patch"] | None = None
    verify: bool = Field(default=False, description="Re-derive the metrics first (slow: 202)")


class StageChange(BaseModel):
    stage: str
    action: Literal["assign", "rollback", "deprecate"] = Field(
        description="assign: promote the checked-out commit through the gates; rollback: give "
        "the stage back to the version that held it before; deprecate: take the stage away "
        "from the version holding it"
    )
    version: str | None = None
    allow_unverified: bool = False


class EvalRun(BaseModel):
    model: str = Field(description="NAME@vX.Y.Z, NAME#STAGE or NAME (at HEAD)")
    suite: str = Field(default="default", description="conf/eval/SUITE.yaml")


def create_app(keys: Keys, root: Path = Path(".")) -> FastAPI:
    """The app over the project at `root` (the working directory the API functions use)."""
    jobs = Jobs(status_of)
    app = FastAPI(
        title="Forge",
        version="0.1.0",
        description="A REST API over a Forge project: datasets, runs, models, evals, cluster.",
        responses=ERRORS,
    )
    app.state.jobs = jobs
    bearer = HTTPBearer(auto_error=False, description="Authorization: Bearer <API key>")

    def scope(creds: HTTPAuthorizationCredentials | None) -> str:
        if not keys:
            return "write"  # an open server, loopback only (forge serve refuses otherwise)
        if creds is None:
            raise _Auth(401, "no API key: send Authorization: Bearer <key>")
        found = keys.scope_of(creds.credentials)
        if found is None:
            raise _Auth(401, "unknown API key")
        return found

    def read(creds: HTTPAuthorizationCredentials | None = Depends(bearer)) -> str:
        return scope(creds)

    def write(creds: HTTPAuthorizationCredentials | None = Depends(bearer)) -> str:
        if scope(creds) != "write":
            raise _Auth(403, "this key may only read; writes need a write key")
        return "write"

    basic = HTTPBasic(auto_error=False, description="any user name; the API key as password")

    def browse(
        token: HTTPAuthorizationCredentials | None = Depends(bearer),
        login: HTTPBasicCredentials | None = Depends(basic),
    ) -> str:
        """The dashboard's read check: a browser cannot send a Bearer header, so it may give
        the key as the password of HTTP Basic (it prompts for it after this 401)."""
        if not keys or token is not None:
            return scope(token)
        if login is None:
            raise _Auth(401, "no API key: give it as the password", 'Basic realm="forge"')
        if keys.scope_of(login.password) is None:
            raise _Auth(401, "unknown API key", 'Basic realm="forge"')
        return "read"

    # ---- the dashboard (forge.report): server-rendered pages under /ui, read scope
    from forge.report.dashboard import router as dashboard

    app.include_router(dashboard, prefix="/ui", dependencies=[Depends(browse)])

    @app.get("/", include_in_schema=False)
    def home() -> RedirectResponse:
        return RedirectResponse("/ui/")

    @app.exception_handler(_Auth)
    async def _auth(request: Request, exc: _Auth) -> JSONResponse:
        body = {"error": exc.reason, "problems": [exc.reason], "type": "Unauthorized"}
        headers = {"WWW-Authenticate": exc.challenge} if exc.code == 401 else None
        return JSONResponse(body, status_code=exc.code, headers=headers)

    @app.exception_handler(ForgeError)
    async def _forge(request: Request, exc: ForgeError) -> JSONResponse:
        return JSONResponse(error_body(exc), status_code=status_of(exc))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        reason = f"{request.method} {request.url.path[:80]}: {exc.detail}"
        body = {"error": reason, "problems": [reason], "type": "HTTPError"}
        return JSONResponse(body, status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = [
            f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg', 'invalid')}"
            for e in exc.errors()
        ]
        body = {"error": "; ".join(problems), "problems": problems, "type": "Invalid"}
        return JSONResponse(body, status_code=422)

    @app.exception_handler(Exception)
    async def _bug(request: Request, exc: Exception) -> JSONResponse:
        log.error("%s %s failed", request.method, request.url.path, exc_info=exc)
        return JSONResponse(error_body(exc), status_code=500)

    def accepted(job: dict[str, Any]) -> JSONResponse:
        return JSONResponse(Job(**job).model_dump(), status_code=202)

    # ---- datasets
    @app.post("/datasets/register", status_code=202, response_model=Job, tags=["datasets"])
    def register_dataset(body: RegisterDataset, _: str = Depends(write)) -> JSONResponse:
        """`forge data add`: track the file with DVC, scan it for PII, write its card."""
        from forge.api import data, ids

        ids.check("dataset", body.name, ids.DATASET)
        spec = body.model_copy()
        return accepted(
            jobs.submit(
                "datasets.register",
                lambda: data.add(
                    Path(spec.path), spec.name, spec.license, spec.source, spec.pii_policy,
                    spec.format, replace=spec.replace,
                ),
            )
        )  # fmt: skip

    @app.get("/datasets", tags=["datasets"])
    def list_datasets(_: str = Depends(read)) -> list[dict[str, Any]]:
        """The data cards."""
        from forge.api import data

        return data.list_cards()

    @app.get("/datasets/{dataset_id}", tags=["datasets"])
    def get_dataset(dataset_id: str, _: str = Depends(read)) -> dict[str, Any]:
        """One data card."""
        from forge.api import data, ids

        return data.show(ids.check("dataset", dataset_id, ids.DATASET))

    @app.get("/datasets/{dataset_id}/lineage", tags=["datasets"])
    def dataset_lineage(dataset_id: str, _: str = Depends(read)) -> dict[str, Any]:
        """The card's git history and the registered models trained on its file."""
        from forge.api import data, ids

        return data.history(ids.check("dataset", dataset_id, ids.DATASET))

    @app.post(
        "/datasets/{dataset_id}/scan-pii", status_code=202, response_model=Job, tags=["datasets"]
    )
    def scan_dataset(dataset_id: str, _: str = Depends(write)) -> JSONResponse:
        """Scan the card's file for PII (the job's result: counts, masked samples, file:line)."""
        from forge.api import data, ids

        card = data.show(ids.check("dataset", dataset_id, ids.DATASET))
        return accepted(
            jobs.submit("datasets.scan", lambda: data.scan(Path(card["path"])), where="reads")
        )

    # ---- runs
    def start_run(record: dict[str, Any]) -> JSONResponse:
        from forge.api import runs

        def train() -> dict[str, Any]:
            done = runs.execute(record["id"])
            if done.get("status") == "running" and done.get("exp_ref"):
                return jobs.write(lambda: runs.finish(record["id"]))
            return done

        job = jobs.submit("runs.launch", train, where="runs")
        body = {"run_id": record["id"], "job_id": job["id"], "status": record["status"]}
        return JSONResponse(body, status_code=202)

    @app.post("/runs/launch", status_code=202, response_model=Launched, tags=["runs"])
    def launch_run(body: Launch, _: str = Depends(write)) -> JSONResponse:
        """Queue a DVC experiment with these overrides; it trains in its own clone, one run
        at a time, and its experiment ref comes into the repo when it finishes."""
        from forge.api import runs

        return start_run(runs.launch(body.overrides))

    @app.get("/runs", tags=["runs"])
    def list_runs(_: str = Depends(read)) -> list[dict[str, Any]]:
        """Launched runs, other DVC experiments, and the workspace's committed run."""
        from forge.api import runs

        return runs.list_runs()

    @app.get("/runs/{run_id}", tags=["runs"])
    def get_run(run_id: str, _: str = Depends(read)) -> dict[str, Any]:
        """A run's state, with its eval metrics and gate decision once it has them."""
        from forge.api import runs

        return runs.get_run(run_id)

    @app.get("/runs/{run_id}/metrics", tags=["runs"])
    def run_metrics(
        run_id: str,
        last_n: int | None = Query(None, ge=1, le=100000, description="Last N points"),
        _: str = Depends(read),
    ) -> dict[str, Any]:
        """The run's dvclive series (live while it trains)."""
        from forge.api import runs

        return runs.metrics(run_id, last_n)

    @app.post("/runs/{run_id}/cancel", tags=["runs"])
    def cancel_run(run_id: str, _: str = Depends(write)) -> dict[str, Any]:
        """Kill a queued or running run (its whole process group)."""
        from forge.api import runs

        return runs.cancel(run_id)

    # ---- models
    @app.post("/models/promote", tags=["models"], responses={202: {"model": Job}})
    def promote_model(body: Promote, _: str = Depends(write)) -> Any:
        """`forge promote` through the gates; a refusal is a 409 with every reason and no
        tag. With verify (minutes) the answer is a 202 job."""
        from forge.api import ids, registry

        ids.check("artifact", body.name)
        ids.check("stage", body.stage)
        if body.version is not None:
            ids.check("version", body.version, ids.VERSION)

        def tag() -> dict[str, Any]:
            return registry.promote(
                body.name, body.stage, version=body.version, bump=body.bump, verify=body.verify
            )

        if body.verify:
            return accepted(jobs.submit("models.promote", tag))
        return jobs.write(tag)

    @app.get("/models", tags=["models"])
    def list_models(_: str = Depends(read)) -> dict[str, Any]:
        """The GTO registry: versions, stages, headline metrics, unverified tags."""
        from forge.api import registry

        return registry.models()

    @app.patch("/models/{model_id}/status", tags=["models"])
    def model_status(model_id: str, body: StageChange, _: str = Depends(write)) -> dict:
        """Assign a stage (a promotion, through the same gates), roll it back, or deprecate it."""
        from forge.api import ids, registry

        ids.check("artifact", model_id)
        ids.check("stage", body.stage)
        if body.action == "assign":
            if body.version is not None:
                ids.check("version", body.version, ids.VERSION)
            return jobs.write(lambda: registry.promote(model_id, body.stage, version=body.version))
        if body.action == "deprecate":
            return jobs.write(lambda: registry.deprecate(model_id, body.stage))
        return jobs.write(
            lambda: registry.rollback(model_id, body.stage, allow_unverified=body.allow_unverified)
        )

    # ---- evals
    @app.post("/evals/run", status_code=202, response_model=Launched, tags=["evals"])
    def run_eval(body: EvalRun, _: str = Depends(write)) -> JSONResponse:
        """Evaluate a registered version with a suite: a run at its commit with eval=SUITE."""
        from forge.api import evals

        return start_run(evals.run(body.model, body.suite))

    @app.get("/evals", tags=["evals"])
    def list_evals(_: str = Depends(read)) -> list[dict[str, Any]]:
        """Evaluations in the repo: the workspace's, HEAD's and each version tag's."""
        from forge.api import evals

        return evals.list_evals()

    @app.get("/evals/{eval_id}/compare/{baseline}", tags=["evals"])
    def compare(
        eval_id: str,
        baseline: str,
        tolerance: float | None = Query(None, ge=0, le=1),
        confidence: float | None = Query(None, gt=0, lt=1),
        _: str = Depends(read),
    ) -> dict[str, Any]:
        """The paired bootstrap of `eval_id` (a revision) against `baseline`."""
        from forge.api import evals, ids

        return evals.compare(ids.check_rev(baseline), ids.check_rev(eval_id), tolerance, confidence)

    # ---- cluster
    @app.get("/cluster/status", tags=["cluster"])
    def cluster_status(_: str = Depends(read)) -> dict[str, Any]:
        """`forge hw`: GPUs, their health, and the profile hardware=auto picks."""
        from forge.api import cluster

        return cluster.hw()

    @app.get("/cluster/cost", tags=["cluster"])
    def cluster_cost(
        overrides: list[str] = Query([], description="Hydra overrides, repeated"),
        tokens: int | None = Query(None, ge=1, le=10**15),
        _: str = Depends(read),
    ) -> dict[str, Any]:
        """`forge cost`: time, money and memory of a training run with these overrides."""
        from forge.api import cluster

        return cluster.cost(overrides, tokens)

    # ---- jobs
    @app.get("/jobs/{job_id}", response_model=Job, tags=["jobs"])
    def get_job(job_id: str, _: str = Depends(read)) -> dict[str, Any]:
        """A long operation's state and, once done, its result or its error."""
        from forge.api.ids import NotFound

        job = jobs.get(job_id)
        if job is None:
            raise NotFound(f"job {job_id[:60]!r}: no such job on this server")
        return job

    return app


class _Auth(Exception):
    def __init__(self, code: int, reason: str, challenge: str = "Bearer") -> None:
        self.code, self.reason, self.challenge = code, reason, challenge
        super().__init__(reason)


def recover() -> None:
    """Runs a previous server left queued or running never finish: say so in their record."""
    from forge.api import runs

    for record in runs.list_runs():
        if record.get("status") in runs.FINAL and record["id"] != "workspace":
            runs.mark_abandoned(record["id"])
