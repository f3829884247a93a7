"""forge report and the dashboard's renderer without a browser (tests/test_browser.py opens
them in one): the CLI's output and refusals, a self-contained file, escaping, chart data,
and the router's links, assets and errors under a prefix. Everything runs in a clone of this
repo, whose demo results are committed."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FORGE = Path(sys.executable).parent / "forge"


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> Path:
    repo = tmp_path_factory.mktemp("report") / "demo"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(repo)], check=True)
    return repo


def forge(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "FORGE_DEBUG": ""}
    return subprocess.run(
        [str(FORGE), *args], cwd=cwd, capture_output=True, text=True, env=env, timeout=300
    )


def test_report_writes_one_self_contained_file(demo, tmp_path):
    out = tmp_path / "r.html"
    proc = forge("report", "HEAD", "HEAD~0", "-o", str(out), cwd=demo)
    assert proc.returncode == 0, proc.stderr
    html = out.read_text()
    assert proc.stdout == f"wrote {out} ({len(html) // 1024} KiB): HEAD, HEAD~0\n"
    # nothing is fetched: no external script, stylesheet or image
    for attr in ('src="', "src='", 'href="http', "href='http", "url(http", "@import"):
        assert attr not in html, attr
    assert "uPlot" in html and "window.forgeCharts" in html
    metrics = json.loads((demo / "results/eval/metrics.json").read_text())
    row = html.split('<tr data-metric="eval/candidate/exact_match">', 1)[1].split("</tr>", 1)[0]
    cells = re.findall(r'<td class="num">([^<]*)</td>', row)
    assert [float(c) for c in cells] == [metrics["eval/candidate/exact_match"]] * 2
    assert html.count('<table class="gates">') == 2  # one per revision
    # the second revision is compared with the first (the same commit: no change)
    assert '<table class="comparisons">' in html and "eval/candidate/exact_match" in html
    assert str(metrics["eval/n_test"]) in html


@pytest.mark.parametrize(
    "rev, line",
    [
        ("--upload-pack=touch x", "revision '--upload-pack=touch x': not a revision name "
         "(e.g. HEAD, a tag)"),
        ("nosuch", "revision 'nosuch': not a commit in this repository (give HEAD, a branch, "
         "a commit or a version tag like assistant@v1.0.0)"),
        ("HEAD\nx", "revision 'HEAD\\nx': not a revision name (e.g. HEAD, a tag)"),
    ],
)  # fmt: skip
def test_report_refuses_a_bad_revision(demo, tmp_path, rev, line):
    proc = forge("report", "-o", str(tmp_path / "r.html"), "--", rev, cwd=demo)
    assert (proc.returncode, proc.stderr, proc.stdout) == (2, f"forge: error: {line}\n", "")
    assert not (tmp_path / "r.html").exists() and not (demo / "x").exists()


def test_report_refuses_a_missing_directory(demo, tmp_path):
    out = tmp_path / "no" / "r.html"
    proc = forge("report", "-o", str(out), cwd=demo)
    assert proc.returncode == 2
    assert proc.stderr == f"forge: error: -o {out}: no directory {out.parent} (create it first)\n"


def test_charts_align_series_on_steps():
    from forge.report.render import charts

    series = {
        "loss": [{"step": 0, "value": 3.0}, {"step": 1, "value": 2.0}],
        "eval/loss": [{"step": 1, "value": 2.5}, {"step": 5, "value": 1.5}],
        "grad_norm": [],
    }
    assert charts(series) == [
        {
            "title": "loss",
            "labels": ["loss", "eval/loss"],
            "x": [0, 1, 5],
            "ys": [[3.0, 2.0, None], [None, 2.5, 1.5]],
        }
    ]


def test_numbers_keep_their_kind():
    from forge.report.render import _num

    assert [_num(v) for v in (1.0, 0.0, 49.639061, 192, None, True, 2.05e-07, 731209918464.0)] == [
        "1.0", "0.0", "49.64", "192", "-", "true", "2.050e-07", "7.312e+11"
    ]  # fmt: skip


def test_user_text_cannot_break_out_of_the_page():
    """A card's source and a series' name are user text: escaped in HTML, and in the chart's
    JSON no `</script>` can close the tag."""
    from forge.report.render import page

    hostile = "</script><script>alert(1)</script>"
    card = {"name": "x", "path": "data/x.jsonl", "license": "MIT", "source": hostile, "rows": 1}
    html = page("datasets", {"cards": [card], "problems": [hostile]}, lambda t, **q: f"/{t}")
    assert "<script>alert(1)" not in html and "&lt;/script&gt;&lt;script&gt;alert(1)" in html

    series = {"loss": [{"step": 0, "value": 1.0}]}
    data = {"runs": [], "selected": hostile, "run": None, "series": series, "live": False,
            "problems": []}  # fmt: skip
    html = page("runs", data, lambda t, **q: f"/{t}")
    body = html.split('<script type="application/json">', 1)[1].split("</script>", 1)[0]
    assert json.loads(body)["x"] == [0]
    assert "<script>alert(1)" not in html


@pytest.fixture
def client(demo, monkeypatch):
    from fastapi import FastAPI
    from fastapi.testclient import TestClient

    from forge.report.dashboard import router

    monkeypatch.chdir(demo)
    app = FastAPI()
    app.include_router(router, prefix="/ui")
    return TestClient(app)


def test_router_links_under_a_prefix_and_serves_only_its_assets(client):
    html = client.get("/ui/runs").text
    for href in ('href="/ui/"', 'href="/ui/datasets"', 'href="/ui/evals"',
                 'src="/ui/_dashboard/htmx.min.js"', 'href="/ui/runs?run=workspace"'):  # fmt: skip
        assert href in html, href
    js = client.get("/ui/_dashboard/uPlot.iife.min.js")
    assert js.status_code == 200 and js.headers["content-type"].startswith("text/javascript")
    assert js.content.startswith(b"/*! https://github.com/leeoniya/uPlot (v1.6.32) */")
    for name in ("nope.js", "..%2Fcollect.py", "LICENSE.uPlot", "%2E%2E%2F__init__.py"):
        assert client.get(f"/ui/_dashboard/{name}").status_code == 404, name


def test_a_bad_run_id_is_one_line_on_the_page(client):
    response = client.get("/ui/runs", params={"run": "../../etc"})
    assert response.status_code == 200
    assert (
        "<div>run ../../etc: run id &#39;../../etc&#39;: lower case letters, digits and "
        "&#39;-&#39;, not starting with &#39;-&#39;</div></div>"
    ) in response.text
    assert client.get("/ui/runs/panel").status_code == 422  # run is required


def test_the_dashboard_refuses_another_root(client, tmp_path):
    client.app.state.repo_root = tmp_path
    response = client.get("/ui/datasets")
    assert response.status_code == 500
    assert response.json() == {
        "detail": f"the dashboard reads the current directory ({Path.cwd().resolve()}), "
        f"not repo_root {tmp_path.resolve()}"
    }


def test_every_template_and_asset_ships_as_package_data():
    """pyproject's package-data globs cover every file the renderer loads, so an installed
    (not editable) forge has them; the vendored assets carry their licenses."""
    import fnmatch
    import tomllib

    from forge.report import ASSETS
    from forge.report.render import STATIC

    globs = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"][
        "package-data"
    ]["forge.report"]
    folder = ROOT / "forge" / "report"
    files = [p.relative_to(folder).as_posix() for p in folder.glob("*/*") if p.is_file()]
    files = [f for f in files if "__pycache__" not in f]
    assert {f for f in files if not any(fnmatch.fnmatch(f, g) for g in globs)} == set()
    assert {f"static/{name}" for name in STATIC} <= set(files)
    assert {f"static/{lic}" for *_, lic in ASSETS.values()} <= set(files)


def test_report_outside_a_repository(tmp_path):
    proc = forge("report", cwd=tmp_path)
    assert (proc.returncode, proc.stdout) == (2, "")
    assert (
        proc.stderr
        == f"forge: error: {tmp_path}: not a git repository (run from a Forge project)\n"
    )


def test_every_page_renders_in_an_empty_repository(tmp_path, monkeypatch):
    """No params.yaml, dvc.yaml, cards, results or tags: each page says what is missing, in
    the CLI's words, instead of failing."""
    from fastapi.testclient import TestClient

    from forge.report.dashboard import app

    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    monkeypatch.chdir(tmp_path)
    client = TestClient(app())
    for path in ("/", "/datasets", "/runs", "/models", "/evals", "/runs/panel?run=workspace"):
        response = client.get(path)
        assert response.status_code == 200, (path, response.text[-2000:])
    assert "dvc.yaml: " in client.get("/models").text
    assert "No data cards" in client.get("/datasets").text
    assert "No training series" in client.get("/runs").text
