"""The dashboard and `forge report` in a real browser (issue 15, steps 5 and 6).

One real `forge serve` (with a read key) serves the dashboard at /ui on a loopback port, in a
clone of this repo (its demo results are committed), where the demo model is registered and put
in prod with the tags and annotation `forge promote` writes. One headless chromium (Debian's,
driven by Playwright through `executable_path`; nothing is downloaded) opens each page and the
report file. Each must load with no console error, show the demo's values as the repo's files
hold them, draw its charts with every point of the dvclive series, and screenshot non-blank at
the viewport's size. The Runs page must follow a run while it trains: its panel polls (htmx)
and the chart grows as the run's series does, then stops when the run ends.

Skipped without chromium or Playwright unless FORGE_REQUIRE_BROWSER=1 (CI sets it).
FORGE_SCREENSHOTS=DIR keeps the screenshots there (docs/screenshots/ for the README).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
FORGE = Path(sys.executable).parent / "forge"
# Debian's chromium; FORGE_CHROMIUM names another build (e.g. Playwright's own, where allowed)
CHROMIUM = os.environ.get("FORGE_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
VIEWPORT = {"width": 1280, "height": 900}
PAGES = ("overview", "datasets", "runs", "models", "evals")
SERIES = "results/train/plots/metrics"

pytestmark = pytest.mark.browser


def _require_browser() -> None:
    missing = None
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        missing = "playwright is not installed (pip install -e '.[dev]')"
    if missing is None and not Path(CHROMIUM).exists():
        missing = f"no chromium at {CHROMIUM} (apt-get install chromium, or set FORGE_CHROMIUM)"
    if missing:
        if os.environ.get("FORGE_REQUIRE_BROWSER") == "1":
            pytest.fail(f"FORGE_REQUIRE_BROWSER=1: {missing}")
        pytest.skip(missing)


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> Path:
    """A clone of the repo with the demo model registered and assigned to prod, tagged as
    `forge promote` tags (GTO tags carrying Forge's annotation). promote itself also needs the
    model in the DVC cache, which a fresh CI clone does not have; the tags are the same."""
    _require_browser()
    from gto import api as gto

    from forge.registry import evidence

    repo = tmp_path_factory.mktemp("browser") / "demo"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(repo)], check=True)
    for key, value in (("user.name", "t"), ("user.email", "t@t")):  # the tags' tagger
        subprocess.run(["git", "config", key, value], cwd=repo, check=True)
    head = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True, check=True
    ).stdout.strip()
    msg = evidence.message(repo, head)
    gto.register(str(repo), "assistant", head, version="v0.1.0", message=msg)
    gto.assign(
        str(repo), "assistant", "prod", version="v0.1.0", message=msg, skip_registration=True
    )
    return repo


KEY = "read-key-for-the-browser-tests-0123456789"


@pytest.fixture(scope="module")
def server(demo):
    """`forge serve` itself, with a read key: the dashboard is its /ui, behind the key
    (the browser gives it as HTTP Basic's password)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log = demo.parent / "serve.log"
    LOGS.append(log)
    proc = subprocess.Popen(
        [str(FORGE), "serve", "--port", str(port)],
        cwd=demo,
        env={**os.environ, "FORGE_API_KEYS": f"read:{KEY}"},
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    auth = {"Authorization": f"Bearer {KEY}"}
    deadline = time.monotonic() + 90
    while True:
        try:
            req = urllib.request.Request(f"{base}/ui/_dashboard/forge.css", headers=auth)
            with urllib.request.urlopen(req, timeout=2) as r:
                if r.status == 200:
                    break
        except OSError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"forge serve did not serve the dashboard: {log.read_text()}")
        time.sleep(0.2)
    yield base + "/ui"
    proc.terminate()
    proc.wait(timeout=30)


def test_the_dashboard_asks_a_browser_for_the_key(server):
    import urllib.error

    root = server.removesuffix("/ui")
    with pytest.raises(urllib.error.HTTPError) as no_key:
        urllib.request.urlopen(f"{server}/models", timeout=10)
    assert no_key.value.code == 401
    assert no_key.value.headers["WWW-Authenticate"] == 'Basic realm="forge"'
    with pytest.raises(urllib.error.HTTPError) as wrong:
        req = urllib.request.Request(f"{server}/", headers={"Authorization": "Basic eDp5"})
        urllib.request.urlopen(req, timeout=10)
    assert wrong.value.code == 401
    req = urllib.request.Request(root + "/", headers={"Authorization": f"Bearer {KEY}"})
    with urllib.request.urlopen(req, timeout=30) as r:  # / redirects to the dashboard
        assert r.url == server + "/" and b"<nav" in r.read()


@pytest.fixture(scope="module")
def browser(demo):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def shots(tmp_path_factory) -> Path:
    keep = os.environ.get("FORGE_SCREENSHOTS")
    folder = Path(keep) if keep else tmp_path_factory.mktemp("screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


LOGS: list[Path] = []


def server_log() -> str:
    """The tail of the dashboard server's log (its traceback, when a page failed)."""
    return LOGS[-1].read_text()[-4000:] if LOGS else ""


class Page:
    """A browser tab that records console errors and uncaught exceptions."""

    def __init__(self, browser):
        self.page = browser.new_page(
            viewport=VIEWPORT, http_credentials={"username": "forge", "password": KEY}
        )
        self.errors: list[str] = []
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else 0)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))

    def open(self, url: str):
        response = self.page.goto(url, wait_until="load")
        if response is None or not response.ok:
            body = response.text()[:2000] if response is not None else ""
            raise AssertionError(f"{url}: {response and response.status} {body}\n{server_log()}")
        self.page.wait_for_load_state("networkidle")
        return self.page


def check_screenshot(page, path: Path) -> None:
    """The viewport's screenshot is the viewport's size and not one flat colour."""
    from PIL import Image

    page.screenshot(path=str(path))
    with Image.open(path) as img:
        assert img.size == (VIEWPORT["width"], VIEWPORT["height"])
        colours = img.convert("RGB").getcolors(maxcolors=1 << 20)
    assert colours is not None
    top = max(count for count, _ in colours)
    assert len(colours) > 50, f"{path.name}: only {len(colours)} colours"
    assert top < 0.9 * img.size[0] * img.size[1], f"{path.name}: one colour covers the page"


def tsv_points(repo: Path, *names: str) -> dict[str, int]:
    """Points per dvclive series, as the run's .tsv files hold them."""
    return {n: len((repo / SERIES / f"{n}.tsv").read_text().splitlines()) - 1 for n in names}


def chart_points(page, title: str) -> dict[str, int]:
    """Points per series of the uPlot chart `title` (non-null values), as drawn in the page."""
    page.wait_for_function("t => window.forgeCharts && window.forgeCharts[t]", arg=title)
    return page.evaluate(
        """t => { const c = window.forgeCharts[t];
                  return Object.fromEntries(c.series.slice(1).map(
                    (s, i) => [s.label, c.data[i + 1].filter(v => v != null).length])); }""",
        title,
    )


def cell(page, selector: str) -> str:
    return page.locator(selector).first.inner_text().strip()


def expected(repo: Path) -> dict:
    metrics = json.loads((repo / "results/eval/metrics.json").read_text())
    params = yaml.safe_load((repo / "params.yaml").read_text())
    return {"metrics": metrics, "model": params["model"]["name"]}


@pytest.mark.parametrize("name", PAGES)
def test_page_loads_and_shows_the_demo(demo, server, browser, shots, name):
    tab = Page(browser)
    page = tab.open(server + ("/" if name == "overview" else f"/{name}"))
    want = expected(demo)
    m = want["metrics"]
    assert page.locator("nav a.here").inner_text() == name.capitalize()
    assert not page.locator("[data-problems]").count(), page.locator("[data-problems]").inner_text()
    if name == "overview":
        assert cell(page, "[data-field=model]") == want["model"]
        assert float(cell(page, "[data-field=exact_match]")) == m["eval/candidate/exact_match"]
        assert chart_points(page, "loss") == tsv_points(demo, "loss")  # the train loss alone
        assert "assistant v0.1.0\nprod" in page.locator(".card", has_text="registry").inner_text()
    elif name == "datasets":
        for card_file in sorted((demo / "data/cards").glob("*.yaml")):
            card = yaml.safe_load(card_file.read_text())
            row = page.locator("table.datasets tr", has_text=card["path"])
            assert row.count() == 1, card["path"]
            text = row.inner_text()
            assert card["license"] in text and str(card["rows"]) in text
            assert ("none" in text) == (card["pii"]["total"] == 0)
    elif name == "runs":
        assert page.locator("table.runs").inner_text().count("workspace") == 1
        assert chart_points(page, "loss") == tsv_points(demo, "loss", "eval/loss")
        assert chart_points(page, "learning_rate") == tsv_points(demo, "learning_rate")
        assert page.locator("#run-panel").get_attribute("data-live") == "false"
    elif name == "models":
        assert cell(page, "table.artifacts [data-field=model]") == want["model"]
        registry = page.locator("table.registry").inner_text()
        assert "v0.1.0" in registry and "prod" in registry and "verified" in registry
        history = page.locator("table.history").inner_text()
        assert "registration" in history and "assignment" in history
        assert history.count("gates.exact_match_min") == 2 and "fail" not in history
    elif name == "evals":
        row = page.locator("table.evals tr[data-metric=exact_match] td.num").all_inner_texts()
        base, cand = m["eval/base/exact_match"], m["eval/candidate/exact_match"]
        assert [float(x) for x in row] == [base, cand, cand]  # prod is this very commit
        assert "eval/candidate/exact_match" in page.locator("table.comparisons").inner_text()
    assert tab.errors == []
    check_screenshot(page, shots / f"{name}.png")
    page.close()


def test_runs_page_follows_a_training_run(demo, server, browser):
    """A run that is training (its record says running; its series is written under its
    work clone, as forge.api.runs' worker writes it): the panel polls, and the chart takes
    the points the run appends, then stops polling once the run is done."""
    run = demo / ".forge/runs/run-live-1"
    series = run / "work" / SERIES / "loss.tsv"
    series.parent.mkdir(parents=True)
    series.write_text("step\tloss\n0\t3.0\n1\t2.5\n2\t2.1\n")
    record = {
        "id": "run-live-1",
        "status": "running",
        "overrides": ["recipe.max_steps=30"],
        "created": "2026-12-01T00:00:00Z",
        "exp_sha": None,
    }
    (run / "run.json").write_text(json.dumps(record))

    tab = Page(browser)
    page = tab.open(f"{server}/runs")  # the live run is selected by default
    assert page.locator("#run-panel").get_attribute("data-run") == "run-live-1"
    assert page.locator("#run-panel").get_attribute("data-live") == "true"
    assert chart_points(page, "loss") == {"loss": 3}
    with series.open("a") as f:
        f.write("3\t1.7\n4\t1.2\n")
    page.wait_for_function("() => window.forgeCharts.loss.data[0].length === 5", timeout=15000)
    assert page.evaluate("window.forgeCharts.loss.data[1][4]") == 1.2

    (run / "run.json").write_text(json.dumps({**record, "status": "done"}))
    page.wait_for_selector("#run-panel[data-live=false]", timeout=15000)
    assert "done" in page.locator("#run-panel h2").inner_text()
    assert tab.errors == []
    page.close()


def test_report_opens_offline_and_shows_the_demo(demo, browser, shots, tmp_path):
    out = tmp_path / "report.html"
    proc = subprocess.run(
        [str(FORGE), "report", "-o", str(out)], cwd=demo, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith(f"wrote {out} (") and "HEAD, assistant@v0.1.0" in proc.stdout

    tab = Page(browser)
    requests: list[str] = []
    tab.page.on("request", lambda r: requests.append(r.url))
    page = tab.open(out.as_uri())
    assert requests == [out.as_uri()]  # self-contained: nothing else is fetched
    want = expected(demo)
    m = want["metrics"]
    header = page.locator("table.evals tr").first.inner_text()
    assert "HEAD" in header and "assistant@v0.1.0" in header
    row = page.locator("table.evals tr[data-metric='eval/candidate/exact_match'] td.num")
    assert [float(x) for x in row.all_inner_texts()] == [m["eval/candidate/exact_match"]] * 2
    assert page.locator("table.comparisons").count() == 1
    assert page.locator("table.gates").count() == 2  # one per revision
    assert "v0.1.0" in page.locator("table.registry").inner_text()
    assert cell(page, "table.lineage [data-field=model]").startswith(want["model"])
    assert chart_points(page, "loss") == tsv_points(demo, "loss", "eval/loss")
    assert tab.errors == []
    check_screenshot(page, shots / "report.png")
    page.close()
