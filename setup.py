"""The project template in the wheel: `forge init` writes a project from this repository's
own conf/, dvc.yaml, demo data and workflows (forge/api/project.py TEMPLATE). A built wheel
carries them as forge/_project/; an editable install reads them from the checkout."""

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent


def _template() -> list[str]:
    """forge/api/project.py's TEMPLATE and MERGED (read as literals: forge is not importable
    while it is being built)."""
    import ast

    tree = ast.parse((ROOT / "forge/api/project.py").read_text(encoding="utf-8"))
    found = {
        node.targets[0].id: ast.literal_eval(node.value)
        for node in tree.body
        if isinstance(node, ast.Assign)
        and getattr(node.targets[0], "id", "") in ("TEMPLATE", "MERGED")
    }
    return [*found["TEMPLATE"], *found["MERGED"]]


class BuildWithTemplate(build_py):
    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            return
        dest = Path(self.build_lib) / "forge" / "_project"
        for rel in _template():
            src, target = ROOT / rel, dest / rel
            if not src.exists():  # an sdist without them: MANIFEST.in lists them
                raise SystemExit(f"setup.py: {rel} is missing; the wheel needs it for forge init")
            target.parent.mkdir(parents=True, exist_ok=True)
            if src.is_dir():
                shutil.copytree(
                    src, target, dirs_exist_ok=True, ignore=shutil.ignore_patterns("__pycache__")
                )
            else:
                shutil.copy2(src, target)


setup(cmdclass={"build_py": BuildWithTemplate})
