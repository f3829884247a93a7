"""The dashboard as a FastAPI router: `app.include_router(forge.report.dashboard.router)`.

Pages: `/` (overview), `/datasets`, `/runs` (`?run=ID`; its panel polls `/runs/panel` every
2 s with htmx while the run is queued or running), `/models`, `/evals`; the vendored assets
under `/_dashboard/`. Every link is made with `url_for`, so the router works under any
prefix (`include_router(router, prefix="/ui")`).

The pages read the repo through forge.api, which works in the current directory: the app
runs in the project root. `app.state.repo_root`, when set, must be that directory; a page
served from anywhere else would show another repo's data, so it is refused instead.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Request
from fastapi.responses import HTMLResponse, Response

from forge.report import collect, render

router = APIRouter(include_in_schema=False)
ROUTES = {
    "overview": "dashboard_overview",
    "datasets": "dashboard_datasets",
    "runs": "dashboard_runs",
    "models": "dashboard_models",
    "evals": "dashboard_evals",
    "panel": "dashboard_run_panel",
    "asset": "dashboard_asset",
}


def repo_root(request: Request) -> Path:
    """The project root: app.state.repo_root (default: the current directory), which must be
    the current directory, where forge.api reads."""
    here = Path.cwd().resolve()
    root = getattr(request.app.state, "repo_root", None)
    root = Path(root).resolve() if root is not None else here
    if root != here:
        raise HTTPException(
            500, f"the dashboard reads the current directory ({here}), not repo_root {root}"
        )
    return root


def _linker(request: Request) -> Any:
    def link(target: str, /, **query: str) -> str:
        if target == "asset":
            return request.url_for(ROUTES["asset"], name=query["name"]).path
        path = request.url_for(ROUTES[target]).path
        return f"{path}?{urlencode(query)}" if query else path

    return link


def _page(request: Request, name: str, data: dict[str, Any]) -> HTMLResponse:
    return HTMLResponse(render.page(name, data, _linker(request)))


@router.get("/", name=ROUTES["overview"], response_class=HTMLResponse)
def overview(request: Request, root: Path = Depends(repo_root)) -> HTMLResponse:
    return _page(request, "overview", collect.overview(root))


@router.get("/datasets", name=ROUTES["datasets"], response_class=HTMLResponse)
def datasets(request: Request, root: Path = Depends(repo_root)) -> HTMLResponse:
    return _page(request, "datasets", collect.datasets())


@router.get("/runs", name=ROUTES["runs"], response_class=HTMLResponse)
def runs(request: Request, run: str | None = None, root: Path = Depends(repo_root)) -> HTMLResponse:
    return _page(request, "runs", collect.runs(run))


@router.get("/runs/panel", name=ROUTES["panel"], response_class=HTMLResponse)
def run_panel(request: Request, run: str, root: Path = Depends(repo_root)) -> HTMLResponse:
    """The selected run's panel (status, charts, metrics): what htmx polls while it trains."""
    return HTMLResponse(render.fragment("run_panel", collect.runs(run), _linker(request)))


@router.get("/models", name=ROUTES["models"], response_class=HTMLResponse)
def models(request: Request, root: Path = Depends(repo_root)) -> HTMLResponse:
    return _page(request, "models", collect.models(root))


@router.get("/evals", name=ROUTES["evals"], response_class=HTMLResponse)
def evals(request: Request, root: Path = Depends(repo_root)) -> HTMLResponse:
    return _page(request, "evals", collect.evals(root))


@router.get("/_dashboard/{name}", name=ROUTES["asset"])
def asset(name: str) -> Response:
    """A vendored or Forge asset from the package (static/); 404 for any other name."""
    try:
        body = render.asset(name)
    except KeyError:
        raise HTTPException(404, f"no dashboard asset {name[:60]!r}") from None
    return Response(
        body,
        media_type=render.STATIC[name],
        headers={"Cache-Control": "public, max-age=3600"},
    )


def app() -> FastAPI:
    """The dashboard alone, run in the project root: `uvicorn --factory
    forge.report.dashboard:app` (previews, the browser tests). `forge serve` includes the
    router beside its REST API instead."""
    standalone = FastAPI(title="Forge dashboard", docs_url=None, redoc_url=None, openapi_url=None)
    standalone.include_router(router)
    return standalone
