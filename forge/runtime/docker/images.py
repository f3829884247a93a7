"""Training images: the target for a device, the pins and Dockerfile of a target, the tag
that hashes them, and the build (from containers/Dockerfile.<target>)."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import tempfile
from collections.abc import Callable
from contextlib import nullcontext
from pathlib import Path

from forge.runtime.docker.engine import LABEL, ContainerError
from forge.runtime.docker.wheelhouse import fill_wheelhouse, serve

TARGETS = ("cpu", "ampere", "ada", "hopper", "blackwell")
# Forge's own source tree, whose containers/ serve a project that has none of its own.
FORGE_CHECKOUT = Path(__file__).resolve().parents[3]
# Forge's pins that the training image leaves out: who needs them instead.
NOT_IN_IMAGE = {"lm-eval": "evaluate stage", "docker": "host side", "google-genai": "copilot"}


# --- image selection -------------------------------------------------------------------


def target_for(device: str, capability: tuple[int, int] | None) -> str:
    """The image target for a device and its CUDA compute capability."""
    if device != "cuda":
        return "cpu"
    if capability is None:
        raise ContainerError(
            "hardware.device is cuda but no NVIDIA GPU was found (NVML)",
            hint="use hardware=cpu, or run where the GPU and its driver are visible",
        )
    from forge.hardware.detect import architecture

    arch = architecture(capability)
    if arch in TARGETS:
        return arch
    raise ContainerError(
        f"GPU compute capability {capability[0]}.{capability[1]} ({arch}) is older than "
        "Ampere (8.0); no Forge image targets it",
        hint="use hardware.runtime=local",
    )


def gpu_capability() -> tuple[int, int] | None:
    """The first GPU's compute capability (NVML), or None without one."""
    from forge.hardware.detect import query

    gpus = query().gpus
    return gpus[0].compute_capability if gpus else None


def detect_target(device: str) -> str:
    return target_for(device, gpu_capability() if device == "cuda" else None)


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def forge_pins() -> list[str]:
    """Forge's runtime pins, from the source tree's pyproject.toml when Forge runs from a
    checkout (so an edit counts before reinstalling), else from the installed metadata."""
    pyproject = FORGE_CHECKOUT / "pyproject.toml"
    if pyproject.is_file():
        import tomllib

        project = tomllib.loads(pyproject.read_text()).get("project", {})
        if project.get("name") == "forge":
            return list(project.get("dependencies", []))
    import importlib.metadata

    return [r for r in importlib.metadata.requires("forge") or [] if "extra ==" not in r]


def image_requirements(target: str, pins: list[str] | None = None) -> list[str]:
    """The pins installed into a target's image: Forge's, less what training never imports;
    GPU images keep their base image's CUDA torch."""
    out = []
    for pin in forge_pins() if pins is None else pins:
        name = _canonical(re.split(r"[=<>!~;\[ ]", pin, maxsplit=1)[0])
        if name in NOT_IN_IMAGE or (target != "cpu" and name == "torch"):
            continue
        out.append(pin)
    return sorted(out, key=str.lower)


def dockerfile(target: str, root: Path | None = None) -> Path:
    if target not in TARGETS:
        raise ContainerError(f"unknown container target '{target}' (known: {', '.join(TARGETS)})")
    name = f"containers/Dockerfile.{target}"
    for path in ((root or Path.cwd()) / name, FORGE_CHECKOUT / name):
        if path.is_file():
            return path
    raise ContainerError(
        f"{name} not found in {root or Path.cwd()}",
        hint="run forge from the project root; `forge init` scaffolds containers/",
    )


def image_tag(target: str, base_image: str | None = None, root: Path | None = None) -> str:
    """`forge-<target>:<hash>` of the Dockerfile, the pins and the base image override."""
    h = hashlib.sha256(dockerfile(target, root).read_bytes())
    h.update("\n".join(image_requirements(target)).encode())
    h.update(f"BASE_IMAGE={base_image or ''}".encode())
    return f"forge-{target}:{h.hexdigest()[:12]}"


# --- the build ---------------------------------------------------------------------------


def find_image(client, tag: str):
    from docker.errors import ImageNotFound

    try:
        return client.images.get(tag)
    except ImageNotFound:
        return None


def build_image(
    client,
    target: str,
    *,
    base_image: str | None = None,
    wheels: Path | None = None,
    root: Path | None = None,
    echo: Callable[[str], None] = lambda line: None,
) -> str:
    """Build `image_tag(target)` from containers/Dockerfile.<target>; return the tag."""
    tag = image_tag(target, base_image, root)
    requirements = image_requirements(target)
    with tempfile.TemporaryDirectory(prefix="forge-build-") as tmp:
        ctx = Path(tmp)
        shutil.copy2(dockerfile(target, root), ctx / "Dockerfile")
        (ctx / "requirements.txt").write_text("\n".join(requirements) + "\n")
        (ctx / "bootstrap").mkdir()
        (ctx / "bootstrap" / ".keep").write_text("")
        buildargs = {"BASE_IMAGE": base_image} if base_image else {}
        if wheels is not None:
            fill_wheelhouse(requirements, wheels)
            for pip_wheel in sorted(wheels.glob("pip-*.whl"))[-1:]:
                shutil.copy2(pip_wheel, ctx / "bootstrap" / pip_wheel.name)
        with serve(wheels) if wheels is not None else nullcontext("") as url:
            if url:
                buildargs["WHEELS_URL"] = url
            stream = client.api.build(
                path=str(ctx),
                dockerfile="Dockerfile",
                tag=tag,
                buildargs=buildargs,
                labels={LABEL: "1", "forge.target": target},
                rm=True,
                forcerm=True,
                network_mode="host",
                decode=True,
            )
            for chunk in stream:
                if "error" in chunk:
                    raise ContainerError(
                        f"building {tag} from containers/Dockerfile.{target} failed: "
                        f"{chunk['error'].strip()}",
                        hint="forge container build --debug shows the whole log",
                    )
                text = chunk.get("stream", "")
                for line in text.splitlines():
                    if line.strip():
                        echo(line)
    return tag


def ensure_image(client, target: str, echo: Callable[[str], None] = print) -> str:
    """The target's image, built first when missing. FORGE_CONTAINER_BASE_IMAGE and
    FORGE_CONTAINER_WHEELS give the build a base image and a wheelhouse (as --base-image
    and --wheels do for `forge container build`)."""
    base_image = os.environ.get("FORGE_CONTAINER_BASE_IMAGE") or None
    tag = image_tag(target, base_image)
    if find_image(client, tag) is None:
        echo(f"forge: building {tag} (containers/Dockerfile.{target}); first run only")
        wheels = os.environ.get("FORGE_CONTAINER_WHEELS")
        wheelhouse = Path(wheels) if wheels else None
        build_image(client, target, base_image=base_image, wheels=wheelhouse, echo=echo)
    return tag
