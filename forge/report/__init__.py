"""The dashboard (`forge serve`'s pages) and `forge report` (one static HTML file): one
renderer for both.

Why server-rendered pages with htmx, not a prebuilt single-page app: the repo is the
database and Python already reads it (forge.api), so a page is a Jinja2 template over what
those functions return, and the static report is the same templates with the assets
inlined. An SPA would need a JSON API for every view, a Node build to make its bundle, and
its own copy of how results are laid out; this needs none. The only script is htmx (the
Runs page polls a fragment while a run trains) and uPlot (the charts), both vendored
minified under static/ with their licenses, so the dashboard works offline and
`pip install` needs no Node.

- collect: the data of each page, read through forge.api and the library (never a second
  reading of the repo's files);
- render: the Jinja2 environment, the vendored assets, each page, and the static report;
- dashboard: the FastAPI router (`forge.report.dashboard.router`).
"""

# The vendored assets (static/), from the npm registry with `npm pack NAME@VERSION`
ASSETS = {
    "uPlot.iife.min.js": ("uplot", "1.6.32", "MIT", "LICENSE.uPlot"),
    "uPlot.min.css": ("uplot", "1.6.32", "MIT", "LICENSE.uPlot"),
    "htmx.min.js": ("htmx.org", "2.0.11", "0BSD", "LICENSE.htmx"),
}
