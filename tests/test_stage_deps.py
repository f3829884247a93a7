"""Every DVC stage's `deps` cover the forge code its command runs (issue 11 item 6).

DVC reruns a stage only when a dep changes, so a forge module the stage imports but does
not list is an edit that silently leaves a stale result. For each stage in dvc.yaml this
computes the closure of its command inside the `forge` package and fails when a file of
it is not a dep and not inside a directory that is one.

The closure:
- the command is `python stages/<name>.py` (a script) or `python -m forge.<...>` (a module,
  with its parent packages' __init__.py, which `-m` runs first);
- every `import` / `from ... import` anywhere in a module (top level and inside functions:
  lazy imports run too), except under `if TYPE_CHECKING:`; relative imports resolved;
- `from forge.x import y` where y is a submodule imports forge.x.y; importing forge.x.y
  runs forge/__init__.py and forge/x/__init__.py too;
- a child process the code starts as `[..., "-m", "forge.<...>", ...]` (a list or tuple
  with "-m" followed by a forge module name, e.g. the training worker) is part of the stage;
- only modules under forge/ are followed; transitively.
"""

from __future__ import annotations

import ast
import shlex
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = "forge"


@dataclass(frozen=True)
class Stage:
    name: str
    cmds: tuple[str, ...]
    deps: tuple[str, ...]


def stages(dvc_yaml: Path) -> list[Stage]:
    data = yaml.safe_load(dvc_yaml.read_text(encoding="utf-8")) or {}
    found = []
    for name, body in (data.get("stages") or {}).items():
        cmd = body.get("cmd") or ()
        deps = [next(iter(d)) if isinstance(d, dict) else str(d) for d in body.get("deps") or ()]
        found.append(Stage(name, (cmd,) if isinstance(cmd, str) else tuple(cmd), tuple(deps)))
    return found


# -- modules and files -------------------------------------------------------------------


def module_file(root: Path, name: str) -> Path | None:
    """forge/a/b.py or forge/a/b/__init__.py for 'forge.a.b'; None if it is not a module
    (a function or class imported by name, or outside the tree)."""
    base = root.joinpath(*name.split("."))
    if (base / "__init__.py").is_file():
        return base / "__init__.py"
    if base.with_suffix(".py").is_file():
        return base.with_suffix(".py")
    return None


def _ours(name: str) -> bool:
    return name == PACKAGE or name.startswith(PACKAGE + ".")


def _with_parents(name: str) -> list[str]:
    """'forge.a.b' -> ['forge', 'forge.a', 'forge.a.b']: importing it runs each of them."""
    parts = name.split(".")
    return [".".join(parts[: i + 1]) for i in range(len(parts))]


def _type_checking_only(node: ast.AST) -> bool:
    test = node.test if isinstance(node, ast.If) else None
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _walk(tree: ast.AST):
    """ast.walk, minus the bodies of `if TYPE_CHECKING:` (their else branch still runs)."""
    todo = [tree]
    while todo:
        node = todo.pop()
        yield node
        if _type_checking_only(node):
            todo.extend(node.orelse)  # type: ignore[attr-defined]
            continue
        todo.extend(ast.iter_child_nodes(node))


@cache
def imported_names(path: Path, module: str | None, is_package: bool) -> frozenset[str]:
    """Dotted names `path` imports or launches with -m (`module` None for a script).
    Names may be modules, or attributes of one (the caller keeps what resolves to a file)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    names: set[str] = set()
    for node in _walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                if module is None:
                    continue  # a relative import in a script fails; nothing to follow
                package = module.split(".") if is_package else module.split(".")[:-1]
                package = package[: len(package) - (node.level - 1)]
                base = ".".join(package + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            names.add(base)
            names.update(f"{base}.{a.name}" for a in node.names if a.name != "*")
        elif isinstance(node, (ast.List, ast.Tuple)):
            items = [e.value if isinstance(e, ast.Constant) else None for e in node.elts]
            names.update(
                nxt
                for flag, nxt in zip(items, items[1:], strict=False)
                if flag == "-m" and isinstance(nxt, str) and _ours(nxt)
            )
    return frozenset(n for n in names if n)


def closure(root: Path, *, script: Path | None = None, module: str | None = None) -> set[Path]:
    """Files (relative to `root`) that running the script or `python -m module` executes
    inside the forge package; the script itself included."""
    files: set[Path] = set()
    todo: list[str] = []
    if script is not None:
        files.add(script)
        todo += imported_names(root / script, None, False)
    if module is not None:
        todo.append(module)
    seen: set[str] = set()
    while todo:
        name = todo.pop()
        if not _ours(name):
            continue
        for mod in _with_parents(name):
            if mod in seen:
                continue
            seen.add(mod)
            path = module_file(root, mod)
            if path is None:
                continue
            files.add(path.relative_to(root))
            todo += imported_names(path, mod, path.name == "__init__.py")
    return files


def entry(cmd: str) -> tuple[Path | None, str | None]:
    """(script, module) of `python stages/x.py ...` or `python -m forge.x ...`."""
    argv = shlex.split(cmd)
    for i, word in enumerate(argv[:-1]):
        if Path(word).name.startswith("python"):
            if argv[i + 1] == "-m" and i + 2 < len(argv):
                return None, argv[i + 2]
            return Path(argv[i + 1]), None
    raise AssertionError(f"cannot read the command {cmd!r}: expected `python SCRIPT` or -m")


def covered(file: Path, deps: tuple[str, ...]) -> bool:
    for dep in deps:
        if "${" in dep:
            continue  # templated from params.yaml: a data path, never code
        dep_path = Path(dep.strip().rstrip("/"))
        if file == dep_path or dep_path in file.parents:
            return True
    return False


def runs_nothing(path: Path) -> bool:
    """A package __init__.py with no statements but a docstring: nothing to rerun for."""
    body = ast.parse(path.read_text(encoding="utf-8")).body
    return path.name == "__init__.py" and all(
        isinstance(n, ast.Expr) and isinstance(n.value, ast.Constant) for n in body
    )


def uncovered(root: Path, dvc_yaml: Path) -> dict[str, list[str]]:
    """Per stage, the files its command runs that its deps do not cover (a package's empty
    __init__.py aside)."""
    missing: dict[str, list[str]] = {}
    for stage in stages(dvc_yaml):
        files: set[Path] = set()
        for cmd in stage.cmds:
            script, module = entry(cmd)
            files |= closure(root, script=script, module=module)
        gaps = sorted(
            f.as_posix() for f in files if not covered(f, stage.deps) and not runs_nothing(root / f)
        )
        if gaps:
            missing[stage.name] = gaps
    return missing


def message(missing: dict[str, list[str]]) -> str:
    return "\n".join(
        f"stage {name}: {', '.join(files)} not in deps" for name, files in missing.items()
    )


# -- the real pipeline -------------------------------------------------------------------


def test_every_stage_lists_the_code_it_runs():
    missing = uncovered(ROOT, ROOT / "dvc.yaml")
    if missing:
        pytest.fail(message(missing), pytrace=False)


# -- the checker itself ------------------------------------------------------------------


def _write(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


@pytest.fixture
def planted(tmp_path: Path) -> Path:
    _write(
        tmp_path,
        {
            "forge/__init__.py": "VERSION = 1\n",
            "forge/errors.py": "class E(Exception): ...\n",
            "forge/util.py": "import json\nfrom forge.errors import E\n",
            "forge/lazy.py": "X = 1\n",
            "forge/typing_only.py": "X = 1\n",
            "forge/child.py": "from . import errors\n",
            "forge/sub/__init__.py": "from .inner import thing\n",
            "forge/sub/inner.py": "thing = 1\n",
            "forge/sub/leaf.py": (
                "from typing import TYPE_CHECKING\n"
                "from ..util import E\n"
                "if TYPE_CHECKING:\n    from forge import typing_only\n"
                "def run():\n    from forge import lazy\n"
                "    return ['python', '-m', 'forge.child']\n"
            ),
            "stages/s.py": "from forge.sub import leaf\nleaf.run()\n",
        },
    )
    return tmp_path


def test_closure_follows_lazy_relative_and_submodule_imports(planted: Path):
    files = {f.as_posix() for f in closure(planted, script=Path("stages/s.py"))}
    assert files == {
        "stages/s.py",
        "forge/__init__.py",
        "forge/sub/__init__.py",
        "forge/sub/inner.py",  # the package's own relative import
        "forge/sub/leaf.py",  # `from forge.sub import leaf`: a submodule
        "forge/util.py",  # `from ..util import E`
        "forge/errors.py",  # through util, transitively
        "forge/lazy.py",  # imported inside a function
        "forge/child.py",  # started as `python -m forge.child`
    }  # and not forge/typing_only.py: under `if TYPE_CHECKING:` it never runs
    assert {f.as_posix() for f in closure(planted, module="forge.child")} == {
        "forge/__init__.py",
        "forge/child.py",
        "forge/errors.py",
    }


def test_a_planted_violation_is_reported(planted: Path):
    (planted / "dvc.yaml").write_text(
        yaml.safe_dump(
            {
                "stages": {
                    "ok": {
                        "cmd": "python stages/s.py",
                        "deps": ["stages/s.py", "forge", "${data.path}"],
                    },
                    "script": {
                        "cmd": "python stages/s.py",
                        "deps": ["stages/s.py", "forge/sub/", "forge/__init__.py", "data/raw"],
                    },
                    "module": {
                        "cmd": "python -m forge.child --flag x",
                        "deps": ["forge/child.py", "${forge.everything}"],
                    },
                }
            },
            sort_keys=False,
        )
    )
    missing = uncovered(planted, planted / "dvc.yaml")
    assert missing == {
        "script": [
            "forge/child.py",
            "forge/errors.py",
            "forge/lazy.py",
            "forge/util.py",
        ],
        "module": ["forge/__init__.py", "forge/errors.py"],
    }
    assert message(missing) == (
        "stage script: forge/child.py, forge/errors.py, forge/lazy.py, forge/util.py not in deps\n"
        "stage module: forge/__init__.py, forge/errors.py not in deps"
    )


def test_removing_a_real_dep_is_reported(tmp_path: Path):
    """The real stages, each with the first dep that covers some of its code dropped: the
    checker names exactly the files that dep covered, on top of what it reported before."""
    data = yaml.safe_load((ROOT / "dvc.yaml").read_text(encoding="utf-8"))
    before = uncovered(ROOT, ROOT / "dvc.yaml")
    dropped: dict[str, set[str]] = {}
    for stage in stages(ROOT / "dvc.yaml"):
        files: set[Path] = set()
        for cmd in stage.cmds:
            script, module = entry(cmd)
            files |= closure(ROOT, script=script, module=module)
        for dep in stage.deps:
            only = {f.as_posix() for f in files if covered(f, (dep,))}
            if only:
                body = data["stages"][stage.name]
                body["deps"] = [d for d in body["deps"] if d != dep]
                dropped[stage.name] = only
                break
    assert dropped, "no stage lists any of its code as a dep"
    (tmp_path / "dvc.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    after = uncovered(ROOT, tmp_path / "dvc.yaml")
    for name, only in dropped.items():
        assert set(after[name]) == set(before.get(name, [])) | only, name
