"""Fuzzing every input surface (issue 17, item 7), with hypothesis:

- config overrides: generated keys, values and grammar, through `forge validate` and
  `forge compose` (and, many more of them, through the override checks alone);
- data files: generated records in each format (jsonl, json, csv, parquet), with and
  without byte-level corruption, through `forge data study` and `forge data scan` and
  the readers prepare uses;
- registry names and refs: `forge promote`, `forge rollback`, `forge lineage`.

The property: every input either succeeds or fails with `forge: error:` lines only (one
per problem, each short: a huge value is never echoed whole), exit code 1 or 2, no
traceback, and no file changed outside the command's declared outputs (none at all when
it fails).

Forge runs in-process, as the `forge` script runs it (tests/test_trust_registry.invoke).
The default tier runs a few hundred examples, derandomized so CI is repeatable; the slow
tier (`-m slow`) runs many more, randomly.
"""

from __future__ import annotations

import csv
import io
import json
import shutil
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from .conftest import ROOT, sh
from .test_trust_registry import commit_with, invoke, make_registry_project

MAX_LINE = 1000  # an error line longer than this echoes its input whole

settings.register_profile(
    "forge-default",
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
settings.register_profile(
    "forge-slow",
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
DEFAULT = settings.get_profile("forge-default")
SLOW = settings.get_profile("forge-slow")


# -- the property ------------------------------------------------------------------------


def snapshot(root: Path) -> dict[str, tuple[int, int]]:
    """(size, mtime) of every file under root, except git's and DVC's own state."""
    out = {}
    for p in root.rglob("*"):
        rel = p.relative_to(root).as_posix()
        if rel.startswith((".git/", ".dvc/tmp/", ".dvc/cache/")) or not p.is_file():
            continue
        st_ = p.lstat()
        out[rel] = (st_.st_size, st_.st_mtime_ns)
    return out


def holds(root: Path, args: list[str], outputs: tuple[str, ...] = ()) -> tuple[int, str, str]:
    """Run `forge ARGS` in root and check the property; return what it gave."""
    before = snapshot(root)
    code, out, err = invoke(*args, cwd=root)
    after = snapshot(root)
    assert "Traceback" not in out + err, (args, out, err)
    if code != 0:
        assert code in (1, 2), (args, code, err)
        lines = err.splitlines()
        assert lines, (args, code, out)
        for line in lines:
            assert line.startswith("forge: error: "), (args, err)
            assert len(line) <= MAX_LINE, (args, len(line), line[:200])
    changed = {k for k in before.keys() | after.keys() if before.get(k) != after.get(k)}
    stray = {k for k in changed if not (code == 0 and outputs and k.startswith(outputs))}
    assert not stray, (args, code, sorted(stray))  # a refusal changes nothing at all
    return code, out, err


# -- config overrides --------------------------------------------------------------------


def _leaf_keys(node: object, prefix: str = "") -> list[str]:
    if isinstance(node, dict):
        return [k for key, v in node.items() for k in _leaf_keys(v, f"{prefix}{key}.")]
    return [prefix.rstrip(".")]


PARAMS = yaml.safe_load((ROOT / "params.yaml").read_text())
LEAVES = sorted(k for k in _leaf_keys(PARAMS) if not k.startswith("forge"))
GROUPS = sorted(p.name for p in (ROOT / "conf").iterdir() if p.is_dir())
OPTIONS = sorted({p.stem for p in (ROOT / "conf").glob("*/*.yaml")})
ODD_VALUES = [
    "null", "[]", "{}", "[1,2]", "a,b", "${oc.env:HOME}", "${oc.env:GEMINI_API_KEY}",
    "${now:%Y}", "${model.name}", "../../../../tmp/x", "/etc/passwd", "choice(a,b)",
    "range(1,3)", "interval(0,1)", "'quoted'", '"dq"', "$(echo hi)", "a;b|c&d", "\\", "'",
    "${", "}", "=", "==", "1e400", "-0", "nan", "inf", "0x10", "1_000", "true", "  ",
    "x" * 10_000, str(2**64), str(-(2**63)),
]  # fmt: skip
TEXT = st.text(st.characters(blacklist_characters="\x00", blacklist_categories=["Cs"]), max_size=30)
KEYS = st.one_of(
    st.sampled_from(LEAVES),
    st.sampled_from(GROUPS),
    st.from_regex(r"[a-z_]{1,10}(\.[a-z_]{1,10}){0,2}", fullmatch=True),
    TEXT,
)
VALUES = st.one_of(
    st.sampled_from(OPTIONS),
    st.sampled_from(ODD_VALUES),
    st.integers(min_value=-(2**70), max_value=2**70).map(str),
    st.floats().map(repr),
    TEXT,
)
OVERRIDE = st.one_of(
    st.builds(
        lambda prefix, key, value: f"{prefix}{key}={value}",
        st.sampled_from(["", "", "", "+", "++", "~"]),
        KEYS,
        VALUES,
    ),
    st.sampled_from(["~recipe", "recipe", "=", "+", "recipe=", "recipe.method=dpo"]),
    TEXT,
)


@pytest.fixture(scope="module")
def conf_project(tmp_path_factory) -> Path:
    dest = tmp_path_factory.mktemp("fuzzconf") / "proj"
    shutil.copytree(ROOT / "conf", dest / "conf", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy2(ROOT / "params.yaml", dest / "params.yaml")
    return dest


def _overrides_hold(conf_project: Path, overrides: list[str], command: str) -> None:
    if any(o.startswith("-") for o in overrides):  # an option, not an override, to the CLI
        overrides = ["--", *overrides]
    outputs = ("params.yaml",) if command == "compose" else ()
    holds(conf_project, [command, *overrides], outputs)


@given(overrides=st.lists(OVERRIDE, max_size=3))
@settings(DEFAULT, max_examples=120)
def test_override_checks_never_raise(overrides):
    """The grammar and boundary checks (the first thing compose and validate run), alone:
    every input gives a list of short problem lines, never an exception."""
    from forge.config.compose import check_overrides

    problems = check_overrides(overrides, ROOT / "conf")
    assert isinstance(problems, list)
    assert all(isinstance(p, str) and len(p) <= MAX_LINE for p in problems), problems


@given(overrides=st.lists(OVERRIDE, max_size=3), command=st.sampled_from(["validate", "compose"]))
@settings(DEFAULT, max_examples=40)
def test_overrides_through_the_cli(conf_project, overrides, command):
    _overrides_hold(conf_project, overrides, command)


@pytest.mark.slow
@given(overrides=st.lists(OVERRIDE, max_size=4), command=st.sampled_from(["validate", "compose"]))
@settings(SLOW, max_examples=100)
def test_overrides_through_the_cli_many(conf_project, overrides, command):
    _overrides_hold(conf_project, overrides, command)


# -- data files --------------------------------------------------------------------------

FIELDS = [
    "instruction", "input", "output", "messages", "conversations", "prompt", "completion",
    "chosen", "rejected", "text", "role", "content", "from", "value",
]  # fmt: skip
MESSAGE = st.fixed_dictionaries(
    {
        "role": st.sampled_from(["user", "assistant", "system", "human", "gpt", "", "x"]),
        "content": st.one_of(TEXT, st.integers(), st.none(), st.lists(TEXT, max_size=2)),
    }
)
VALUE = st.one_of(
    TEXT,
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    st.none(),
    st.booleans(),
    st.lists(MESSAGE, max_size=3),
    st.dictionaries(st.text(max_size=5), TEXT, max_size=2),
)
RECORD = st.one_of(
    st.dictionaries(st.one_of(st.sampled_from(FIELDS), st.text(max_size=8)), VALUE, max_size=4),
    st.builds(lambda i, o: {"instruction": i, "output": o}, TEXT, TEXT),
    st.builds(lambda p, c: {"prompt": p, "completion": c}, TEXT, TEXT),
    st.builds(lambda m: {"messages": m}, st.lists(MESSAGE, max_size=3)),
    st.builds(lambda p, c, r: {"prompt": p, "chosen": c, "rejected": r}, TEXT, TEXT, TEXT),
)
CORRUPTION = st.lists(
    st.tuples(
        st.integers(min_value=0, max_value=1 << 16),
        st.sampled_from(["flip", "insert", "delete", "truncate"]),
        st.binary(min_size=1, max_size=4),
    ),
    max_size=3,
)


def serialize(records: list[dict], kind: str) -> bytes:
    if kind == "jsonl":
        return "".join(json.dumps(r) + "\n" for r in records).encode()
    if kind == "json":
        return json.dumps(records).encode()
    if kind == "csv":
        fields = sorted({k for r in records for k in r})
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=fields, restval="")
        writer.writeheader()
        for r in records:
            writer.writerow({k: v if isinstance(v, str) else json.dumps(v) for k, v in r.items()})
        return buf.getvalue().encode()
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        table = pa.Table.from_pylist(records)
    except (pa.ArrowException, ValueError, TypeError, OverflowError):
        table = pa.Table.from_pylist([{k: json.dumps(v) for k, v in r.items()} for r in records])
    out = pa.BufferOutputStream()
    pq.write_table(table, out)
    return out.getvalue().to_pybytes()


def corrupt(data: bytes, edits: list[tuple[int, str, bytes]]) -> bytes:
    for pos, how, junk in edits:
        pos = pos % (len(data) + 1)
        if how == "flip" and data:
            pos = min(pos, len(data) - 1)
            data = data[:pos] + bytes([data[pos] ^ junk[0]]) + data[pos + 1 :]
        elif how == "insert":
            data = data[:pos] + junk + data[pos:]
        elif how == "delete":
            data = data[:pos] + data[pos + len(junk) :]
        else:
            data = data[:pos]
    return data


@pytest.fixture(scope="module")
def data_project(tmp_path_factory) -> Path:
    dest = tmp_path_factory.mktemp("fuzzdata") / "proj"
    (dest / "data/raw").mkdir(parents=True)
    return dest


def _one_line(call) -> None:
    """A library call either returns or raises a ForgeError of one short line."""
    from forge.errors import ForgeError

    try:
        call()
    except ForgeError as exc:
        assert "\n" not in str(exc) and len(str(exc)) <= MAX_LINE, str(exc)[:300]


def _data_holds(project: Path, records, kind, edits, fmt, cli_study: bool) -> None:
    from forge.data.formats import Reader
    from forge.data.study import study

    for old in (project / "data/raw").iterdir():
        old.unlink()
    rel = f"data/raw/fuzz.{kind}"
    (project / rel).write_bytes(corrupt(serialize(records, kind), edits))
    holds(project, ["data", "scan", rel, "--json", "--format", fmt])
    if cli_study:  # the whole command, with its histogram PNG (~0.5 s each)
        holds(project, ["data", "study", rel, "--json", "--format", fmt], (".forge/study/",))
    else:  # the same study, without drawing the PNG
        _one_line(lambda: study(project / rel, fmt, project / "models/base", 64))
    _one_line(lambda: list(Reader(project / rel, fmt)))  # what the prepare stage reads with


DATA_ARGS = {
    "records": st.lists(RECORD, max_size=6),
    "kind": st.sampled_from(["jsonl", "json", "csv", "parquet"]),
    "edits": st.one_of(st.just([]), CORRUPTION),
    "fmt": st.sampled_from(["auto", "auto", "alpaca", "messages", "preference", "sharegpt"]),
}


@given(**DATA_ARGS)
@settings(DEFAULT, max_examples=100)
def test_data_files(data_project, records, kind, edits, fmt):
    _data_holds(data_project, records, kind, edits, fmt, cli_study=False)


@pytest.mark.slow
@given(**DATA_ARGS)
@settings(SLOW, max_examples=100)
def test_data_files_many(data_project, records, kind, edits, fmt):
    _data_holds(data_project, records, kind, edits, fmt, cli_study=True)


def test_data_paths_that_are_not_plain_files(data_project, tmp_path):
    """A directory, a missing file, and a link out of the project: one line each, and
    the linked file's content is never echoed."""
    secret = tmp_path / "secret.csv"
    secret.write_text("s3cret-line:x:0:0\n")
    (data_project / "data/raw/dir.jsonl").mkdir(exist_ok=True)
    (data_project / "data/raw/link.csv").unlink(missing_ok=True)
    (data_project / "data/raw/link.csv").symlink_to(secret)
    for command in ("study", "scan"):
        _, _, err = holds(data_project, ["data", command, "data/raw/dir.jsonl"], (".forge/",))
        assert err == "forge: error: data/raw/dir.jsonl: is a directory, not a file\n"
        _, _, err = holds(data_project, ["data", command, "data/raw/nope.jsonl"], (".forge/",))
        assert err.startswith("forge: error: data/raw/nope.jsonl: file not found")
        _, _, err = holds(data_project, ["data", command, "data/raw/link.csv"], (".forge/",))
        assert "s3cret" not in err
        assert err == (
            f"forge: error: data/raw/link.csv: a link to {secret}, outside the project; "
            "Forge reads data inside the project only (copy the file in)\n"
        )
    (data_project / "data/raw/dir.jsonl").rmdir()
    (data_project / "data/raw/link.csv").unlink()


# -- registry names and refs -------------------------------------------------------------


@pytest.fixture(scope="module")
def registry_project(tmp_path_factory) -> Path:
    """One commit, registered as v0.0.1 and in prod by tags carrying Forge's annotation."""
    from forge.registry.evidence import message

    project = make_registry_project(tmp_path_factory.mktemp("fuzzreg") / "proj")
    head = commit_with(project, 0.9, "passing")
    for tag in ("assistant@v0.0.1", "assistant#prod#1"):
        sh("git", "tag", "-a", tag, "-m", message(project, head), cwd=project)
    return project


NAMES = st.one_of(
    st.sampled_from(
        ["assistant", "assistant/x", "a", "-x", "--all", "assistant\n", "..", "assistant@v0.0.1",
         "assistant#prod", "HEAD", "", " ", "assistant:x", "ASSISTANT", "x" * 10_000]
    ),
    TEXT,
)  # fmt: skip
STAGES = st.one_of(
    st.sampled_from(["prod", "staging", "x#y", "-n", "prod\n", "", "a/b", "prod!", "p" * 5000]),
    TEXT,
)
REFS = st.one_of(
    st.sampled_from(
        ["assistant", "assistant@v0.0.1", "assistant#prod", "assistant@v999.0.0", "@", "#",
         "assistant@--all", "-n", "--output=x", "HEAD~1", "assistant@v0.0.1^{tree}",
         "assistant#", "assistant@", "assistant#prod#1", "../x", "x" * 10_000, ":/", "HEAD:"]
    ),
    TEXT,
)  # fmt: skip
REGISTRY_COMMAND = st.one_of(
    st.builds(lambda n, s: ["promote", n, "--stage", s], NAMES, STAGES),
    st.builds(lambda s, r: ["promote", "assistant", "--stage", s, "--rev", r], STAGES, REFS),
    st.builds(
        lambda v: ["promote", "assistant", "--stage", "qa", "--version", v],
        st.one_of(st.sampled_from(["v1.0.0", "1.0.0", "v1", "vx", "v1.0.0-rc.1"]), TEXT),
    ),
    st.builds(lambda b: ["promote", "assistant", "--stage", "qa", "--bump", b], TEXT),
    st.builds(lambda n, s: ["rollback", n, "--stage", s], NAMES, STAGES),
    st.builds(lambda r: ["lineage", r, "--json"], REFS),
    st.just(["models", "--json"]),
)


def _registry_holds(project: Path, args: list[str]) -> None:
    if args[0] in ("promote", "rollback", "lineage") and args[1].startswith("-"):
        args = [args[0], *args[2:], "--", args[1]]  # a name that looks like an option
    before = sh("git", "tag", cwd=project).stdout
    code, _, _ = holds(project, args, (".forge/models/",))
    if code != 0:
        assert sh("git", "tag", cwd=project).stdout == before, args  # a refusal tags nothing


@given(args=REGISTRY_COMMAND)
@settings(DEFAULT, max_examples=30)
def test_registry_names_and_refs(registry_project, args):
    _registry_holds(registry_project, args)


@pytest.mark.slow
@given(args=REGISTRY_COMMAND)
@settings(SLOW, max_examples=100)
def test_registry_names_and_refs_many(registry_project, args):
    _registry_holds(registry_project, args)


def test_registry_commands_outside_a_git_repository(tmp_path):
    """Found by the harness: GTO's "not a git repository" was a traceback."""
    for args in (
        ["models"],
        ["rollback", "assistant", "--stage", "prod"],
        ["lineage", "assistant#prod"],
        ["promote", "assistant", "--stage", "prod"],
    ):
        code, _, err = holds(tmp_path, args)
        assert code == 2 and err.count("\n") == 1, (args, err)
