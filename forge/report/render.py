"""The one renderer: Jinja2 templates (templates/) over forge.report.collect's data, for the
dashboard's pages (assets linked) and for `forge report` (one file, assets inlined)."""

from __future__ import annotations

import datetime
import functools
import json
from collections.abc import Callable
from importlib import resources
from typing import Any

from markupsafe import Markup

from forge.report import ASSETS

PAGES = ("overview", "datasets", "runs", "models", "evals")
# dvclive series drawn on the Runs page, each chart with the series that share its scale
CHARTS = (
    ("loss", ("loss", "eval/loss")),
    ("mean_token_accuracy", ("mean_token_accuracy", "eval/mean_token_accuracy")),
    ("learning_rate", ("learning_rate",)),
    ("grad_norm", ("grad_norm",)),
)
STATIC = {
    **{name: "text/css" if name.endswith(".css") else "text/javascript" for name in ASSETS},
    "forge.css": "text/css",
    "forge.js": "text/javascript",
}


def asset(name: str) -> bytes:
    """A file of static/ (the vendored libraries, forge.css, forge.js)."""
    if name not in STATIC:
        raise KeyError(name)
    return (resources.files("forge.report") / "static" / name).read_bytes()


def charts(series: dict[str, list[dict[str, float]]]) -> list[dict[str, Any]]:
    """uPlot's aligned data for each chart in CHARTS whose series the run has: {title,
    labels, x, ys}, with None where a series has no point at that step."""
    out = []
    for title, names in CHARTS:
        present = [n for n in names if series.get(n)]
        if not present:
            continue
        steps = sorted({p["step"] for n in present for p in series[n]})
        ys = []
        for name in present:
            at = {p["step"]: p["value"] for p in series[name]}
            ys.append([at.get(s) for s in steps])
        out.append({"title": title, "labels": present, "x": steps, "ys": ys})
    return out


def _num(value: Any, digits: int = 4) -> str:
    if isinstance(value, bool) or value is None:
        return "-" if value is None else str(value).lower()
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if abs(value) >= 1e5 or (value and abs(value) < 1e-3):
            return f"{value:.3e}"
        text = f"{value:.{digits}g}"
        return text if any(c in text for c in ".en") else text + ".0"  # 1.0, not 1
    return str(value)


def _cell(value: Any) -> str:
    if isinstance(value, list | tuple):
        return ", ".join(_num(v) for v in value) or "-"
    return _num(value)


def _json_script(value: Any) -> Markup:
    """JSON safe inside <script type="application/json">: no '</' can close the tag."""
    text = json.dumps(value, sort_keys=True, default=str)
    return Markup(text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026"))


@functools.cache
def environment() -> Any:
    from jinja2 import ChainableUndefined, Environment, PackageLoader

    env = Environment(
        loader=PackageLoader("forge.report", "templates"),
        autoescape=True,
        undefined=ChainableUndefined,  # a field a card or record lacks shows empty
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["num"] = _num
    env.filters["cell"] = _cell
    env.filters["short"] = lambda sha: (sha or "-")[:7]
    env.filters["json_script"] = _json_script
    env.globals["charts"] = charts
    return env


def page(name: str, data: dict[str, Any], link: Callable[..., str]) -> str:
    """A dashboard page: `link(page, **query)` makes a URL to a page, `link("asset",
    name=...)` to a static file, `link("panel", run=...)` to the Runs page's live fragment."""
    return (
        environment()
        .get_template(f"{name}.html.j2")
        .render(page=name, pages=PAGES, data=data, link=link, inline=None)
    )


def fragment(name: str, data: dict[str, Any], link: Callable[..., str]) -> str:
    """A fragment (`_run_panel`) that htmx swaps into a page."""
    return environment().get_template(f"_{name}.html.j2").render(data=data, link=link, inline=None)


def report(data: dict[str, Any]) -> str:
    """`forge report`'s page: every asset inlined, no request leaves the file."""
    inline = {
        name: Markup(asset(name).decode("utf-8").replace("</script", "<\\/script"))
        for name in ("uPlot.min.css", "forge.css", "uPlot.iife.min.js", "forge.js")
    }
    generated = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    return (
        environment()
        .get_template("report.html.j2")
        .render(
            page="report",
            pages=(),
            data=data,
            link=None,
            inline=inline,
            generated=generated,
            versions=ASSETS,
        )
    )
