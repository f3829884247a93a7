"""`forge` command line. One module per command; heavy imports stay inside commands, so
`forge --help` never imports torch. Errors print one line; `--debug` shows the traceback."""

from __future__ import annotations

import sys
from typing import NoReturn

import typer

from forge.cli import (
    chat,
    compose,
    container,
    cost,
    deprecate,
    hw,
    init,
    lineage,
    login,
    models,
    plan,
    prepare,
    promote,
    report,
    rollback,
    run,
    serve,
    sweep,
    validate,
)
from forge.cli import data as data_cmd
from forge.cli import eval as eval_cmd

app = typer.Typer(
    name="forge",
    help="Declarative LLM post-training: Hydra configs, a DVC pipeline, gated promotion.",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode="markdown",  # docstring paragraphs reflow (rich mode keeps each line break)
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


@app.callback()
def _root(
    debug: bool = typer.Option(False, "--debug", help="Show tracebacks on errors."),
) -> None:
    """Declarative LLM post-training: Hydra configs, a DVC pipeline, gated promotion."""


app.command("init")(init.main)
app.command("compose")(compose.main)
app.command("validate")(validate.main)
app.command("run")(run.main)
app.command("sweep")(sweep.main)
app.command("promote")(promote.main)
app.command("rollback")(rollback.main)
app.command("deprecate")(deprecate.main)
app.command("models")(models.main)
app.command("hw")(hw.main)
app.command("cost")(cost.main)
app.command("lineage")(lineage.main)
app.command("plan")(plan.main)
app.command("prepare")(prepare.main)
app.command("login")(login.login)
app.command("logout")(login.logout)
app.command("chat")(chat.main)
app.command("report")(report.main)
app.command("serve")(serve.main)
app.add_typer(eval_cmd.app, name="eval")
app.add_typer(container.app, name="container")
app.add_typer(data_cmd.app, name="data")


def main() -> NoReturn:
    from forge.errors import entry

    argv = sys.argv[1:]
    # --debug is accepted anywhere on the line, not only before the command
    sys.argv = [sys.argv[0], *(a for a in argv if a != "--debug")]
    entry(app, argv=argv)
