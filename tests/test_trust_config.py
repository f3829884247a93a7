"""Issue 17's config and write boundaries: every hostile or careless input is one line that
names the key, exit 2, and nothing is written; secrets never reach params.yaml or the output."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from forge.config import compose as c
from forge.data.cards import card_path
from forge.errors import ConfigError, DataError, ForgeError

from .conftest import ROOT
from .test_data_cli import TICKETS, forge, write_csv

CONF = ROOT / "conf"


@pytest.mark.parametrize(
    ("overrides", "start"),
    [
        (["recipe=../../../../tmp/x"], "recipe=../../../../tmp/x: a recipe option is a file name"),
        (["experiment=nonexistent"], "experiment=nonexistent: no such option in conf/experiment/"),
        (["~recipe"], "recipe: deleting a key (~recipe) is not allowed"),
        (["~recipe.seed"], "recipe.seed: deleting a key"),
        (["recipe.method=dpo"], "recipe.method: 'dpo' does not match the chosen recipe's schema"),
        (["recipe.seed=-1"], "recipe.seed: -1 is outside [0, 4294967295]"),
        (["recipe.seed=4294967296"], "recipe.seed: 4294967296 is outside [0, 4294967295]"),
        (
            ["recipe.learning_rate=1e-3", "recipe.learning_rate=2e-3"],
            "recipe.learning_rate: given twice ('recipe.learning_rate=1e-3' and",
        ),
        (["model.name=$(rm -rf /)"], "'model.name=$(rm -rf /)': not a valid override"),
        (["recipe.learning_rate=1e-3,3e-3"], "recipe.learning_rate: 'recipe.learning_rate=1e-3,"),
        (["model.name=${oc.env:HOME}"], "model.name: overrides may not call resolvers (here"),
        (["model.name=${oc.decode:'1'}"], "model.name: overrides may not call resolvers (here"),
    ],
)
def test_a_bad_override_is_one_line_naming_it(overrides: list[str], start: str):
    with pytest.raises(ConfigError) as err:
        c.compose(overrides, CONF)
    assert len(err.value.problems) == 1, err.value.problems
    assert err.value.problems[0].startswith(start), err.value.problems[0]


def test_a_long_value_is_not_echoed_whole():
    with pytest.raises(ConfigError) as err:
        c.compose(["model.name=$(" + "x" * 10_000 + ")"], CONF)
    assert len(str(err.value)) < 400


def test_a_secret_never_reaches_params_or_the_message(tmp_path: Path, monkeypatch):
    secret = "s3cret-value-0123456789"
    monkeypatch.setenv("GEMINI_API_KEY", secret)
    out = tmp_path / "params.yaml"
    for override in ("model.name=${oc.env:GEMINI_API_KEY}", f"model.name=x{secret}y"):
        with pytest.raises(ConfigError) as err:
            c.write(out, [override], CONF)
        assert secret not in str(err.value)
        assert err.value.problems[0].startswith("model.name: ")
    assert not out.exists()


def test_compose_never_overwrites_a_file_it_did_not_write(tmp_path: Path):
    readme = tmp_path / "README.md"
    readme.write_text("# mine\n")
    with pytest.raises(ForgeError, match="was not written by forge compose"):
        c.write(readme, [], CONF)
    assert readme.read_text() == "# mine\n"
    params = tmp_path / "params.yaml"
    c.write(params, [], CONF)
    c.write(params, ["recipe.max_steps=10"], CONF)  # its own file: rewritten
    assert yaml.safe_load(params.read_text())["recipe"]["max_steps"] == 10


def test_a_card_name_with_a_trailing_newline_is_refused():
    with pytest.raises(DataError, match="--name: 'demo\\\\n' must be"):
        card_path("demo\n")


def test_data_add_never_replaces_another_files_card_silently(project: Path):
    write_csv(project / "data/raw/tickets.csv", TICKETS)
    before = (project / "data/cards/demo.yaml").read_text()
    args = ["data", "add", "data/raw/tickets.csv", "--name", "demo", "--license", "MIT"]
    args += ["--source", "tickets"]
    proc = forge(project, *args)
    assert proc.returncode == 2
    assert proc.stderr == (
        "forge: error: --name: data/cards/demo.yaml already describes data/raw/demo.jsonl; "
        "nothing was written (pick another --name, or add --replace to replace that card)\n"
    )
    assert (project / "data/cards/demo.yaml").read_text() == before
    assert not (project / "data/raw/tickets.csv.dvc").exists()

    proc = forge(project, *args, "--replace")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith(
        "replaced data/cards/demo.yaml, which described data/raw/demo.jsonl\n"
    )
    card = yaml.safe_load((project / "data/cards/demo.yaml").read_text())
    assert card["path"] == "data/raw/tickets.csv"
