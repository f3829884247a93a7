"""Run training inside a Docker container (hardware.runtime=docker), through the docker SDK.

- Image: one per target (`cpu`, `ampere`, `ada`, `hopper`, `blackwell`), picked from the
  detected GPU's compute capability and built from `containers/Dockerfile.<target>` when
  missing. Its tag hashes the Dockerfile, the pins and the build args, so a change rebuilds.
- Container: long-lived (`sleep infinity` under `--init`), keyed by image, base model and
  workspace, and reused by the next run. It mounts the workspace at the same path (so every
  path the supervisor passes means the same thing inside), the HF cache, and the host's
  `forge` package read-only (so the container runs the host's Forge code).
- A run is a `docker exec` as the host's uid:gid. Its environment (secrets included) goes
  to that exec only: never into the container's config, labels, logs or files.
  Output streams to this process and is kept in the container's log file for
  `forge container logs`. The exit code comes back as is (128 + N for signal N);
  a failed run removes its container.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any

from forge.errors import ForgeError

TARGETS = ("cpu", "ampere", "ada", "hopper", "blackwell")
# Forge's own source tree, whose containers/ serve a project that has none of its own.
FORGE_CHECKOUT = Path(__file__).resolve().parents[2]
LABEL = "forge.managed"
LOG_PATH = "/tmp/forge-train.log"
PID_PATH = "/tmp/forge-train.pid"
HF_CACHE_IN = "/hf-cache"
FORGE_IN = "/opt/forge"
# Forge's pins that the training image leaves out: who needs them instead.
NOT_IN_IMAGE = {"lm-eval": "evaluate stage", "docker": "host side", "google-genai": "copilot"}
# Host variables that name host paths or the host's Python; the container has its own.
HOST_ONLY = re.compile(
    r"^(PATH|HOME|PWD|OLDPWD|SHELL|USER|LOGNAME|TMPDIR|VIRTUAL_ENV|PYTHON(HOME|PATH|STARTUP)"
    r"|HF_HOME|HF_HUB_CACHE|HF_DATASETS_CACHE|TRANSFORMERS_CACHE|LD_\w+|CONDA_\w+|DOCKER_\w+"
    r"|SSH_\w+|DISPLAY|TERM\w*|LS_COLORS|HOSTNAME|_)$"
)
# The run's wrapper inside the container: log both streams, record the child's pid (for
# forwarding a signal), and exit with the child's status (bash reports 128 + N on signal N).
WRAPPER = r"""
log=/tmp/forge-train.log
printf '== forge %s: %s\n' "$(date -u +%FT%TZ)" "$*" >> "$log"
"$@" > >(tee -a "$log") 2> >(tee -a "$log" >&2) &
child=$!
echo "$child" > /tmp/forge-train.pid
trap 'kill -TERM "$child" 2>/dev/null' TERM INT
while :; do wait "$child"; code=$?; kill -0 "$child" 2>/dev/null || break; done
printf '== forge exit %s\n' "$code" >> "$log"
exit "$code"
"""


class ContainerError(ForgeError):
    """The Docker engine, an image build or a container refused; says what to do."""

    exit_code = 1


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


# --- the engine ------------------------------------------------------------------------


def engine_url() -> str:
    return os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")


def connect():
    """A docker client for DOCKER_HOST (or the default socket), or one clear error."""
    try:
        import docker
        from docker.errors import DockerException
    except ImportError as exc:
        raise ContainerError(
            "the docker runtime needs the docker SDK", hint="pip install docker==7.2.0"
        ) from exc
    try:
        client = docker.from_env(timeout=120)
        client.ping()
    except (DockerException, OSError) as exc:  # requests' ConnectionError is an OSError
        raise ContainerError(
            f"no Docker engine at {engine_url()}",
            hint="start dockerd, set DOCKER_HOST, or use hardware.runtime=local",
        ) from exc
    return client


def find_image(client, tag: str):
    from docker.errors import ImageNotFound

    try:
        return client.images.get(tag)
    except ImageNotFound:
        return None


@contextmanager
def _serve(directory: Path) -> Iterator[str]:
    """Serve a wheelhouse on 127.0.0.1 for the length of a build; yields its URL."""
    import functools
    from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

    class Quiet(SimpleHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(Quiet, directory=str(directory))
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


def fill_wheelhouse(requirements: list[str], wheels: Path) -> None:
    """Download the pinned wheels (and pip) with this machine's pip: its indexes, find-links
    and cache apply. The image must run the same Python (cp311) as this machine."""
    import subprocess

    wheels.mkdir(parents=True, exist_ok=True)
    req = wheels / "requirements.txt"
    req.write_text("\n".join([*requirements, "pip"]) + "\n")
    cmd = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--quiet",
        "--dest",
        str(wheels),
        "-r",
        str(req),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["(no output)"])[-1]
        raise ContainerError(f"pip download into {wheels} failed: {last}")


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
        with _serve(wheels) if wheels is not None else nullcontext("") as url:
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


# --- containers ------------------------------------------------------------------------


def hf_cache() -> Path:
    home = os.environ.get("HF_HOME") or Path.home() / ".cache" / "huggingface"
    return Path(home).resolve()


def container_name(image_id: str, base_model: str, workspace: Path) -> str:
    key = hashlib.sha256(f"{image_id}\n{base_model}\n{workspace}".encode()).hexdigest()[:12]
    return f"forge-train-{key}"


def ensure_container(
    client, tag: str, target: str, base_model: str, workspace: Path
) -> tuple[Any, bool]:
    """The running container for (image, base model, workspace); (container, reused)."""
    from docker.errors import APIError, NotFound

    image = client.images.get(tag)
    name = container_name(image.id, base_model, workspace)
    try:
        container = client.containers.get(name)
    except NotFound:
        container = None
    if container is not None:
        if container.status != "running":
            container.start()
        return container, True
    cache = hf_cache()
    cache.mkdir(parents=True, exist_ok=True)
    kwargs: dict[str, Any] = {}
    if target != "cpu":
        from docker.types import DeviceRequest

        kwargs["device_requests"] = [DeviceRequest(count=-1, capabilities=[["gpu"]])]
        kwargs["shm_size"] = "8g"
    try:
        container = client.containers.run(
            tag,
            ["sleep", "infinity"],
            name=name,
            detach=True,
            init=True,
            labels={
                LABEL: "1",
                "forge.target": target,
                "forge.image": tag,
                "forge.base_model": base_model,
                "forge.workspace": str(workspace),
            },
            volumes={
                str(workspace): {"bind": str(workspace), "mode": "rw"},
                str(cache): {"bind": HF_CACHE_IN, "mode": "rw"},
                str(Path(__file__).resolve().parents[1]): {
                    "bind": f"{FORGE_IN}/forge",
                    "mode": "ro",
                },
            },
            working_dir=str(workspace),
            **kwargs,
        )
    except APIError as exc:
        gpu = target != "cpu" and "gpu" in str(exc.explanation)
        raise ContainerError(
            f"cannot start container {name}: {exc.explanation}",
            hint="install the NVIDIA Container Toolkit, or use hardware.runtime=local"
            if gpu
            else "forge container cleanup --all, then rerun",
        ) from exc
    return container, False


def forge_containers(client, all_states: bool = True) -> list[Any]:
    return client.containers.list(all=all_states, filters={"label": LABEL})


def container_env(env: dict[str, str]) -> dict[str, str]:
    """What a run's exec gets: the caller's environment less host paths, plus the container's
    own HOME and HF cache. Secrets (HF_TOKEN, ...) pass here, to this exec only."""
    out = {k: v for k, v in env.items() if not HOST_ONLY.match(k)}
    out.update(HOME="/tmp", HF_HOME=HF_CACHE_IN, PYTHONPATH=FORGE_IN, PYTHONDONTWRITEBYTECODE="1")
    return out


def container_argv(argv: list[str]) -> list[str]:
    """The host's interpreter or launcher becomes the image's (found on its PATH)."""
    head = Path(argv[0]).name
    return ["python3" if head.startswith("python") else head, *argv[1:]]


def _worker_inputs(argv: list[str]) -> tuple[str, str]:
    """(hardware.device, base model) of a `forge.train.worker` argv; ("cpu", "") otherwise."""
    import json

    def opt(flag: str) -> str | None:
        return argv[argv.index(flag) + 1] if flag in argv[:-1] else None

    device, base_model = "cpu", ""
    if params := opt("--params"):
        from forge.config.compose import load_group

        device = load_group("hardware", Path(params)).device
    if base := opt("--base"):  # a hub id and revision; else the base model's path
        record_path = Path(base) / "forge_base.json"
        record = json.loads(record_path.read_text()) if record_path.is_file() else {}
        base_model = "@".join(str(record[k]) for k in ("source", "revision") if record.get(k))
        base_model = base_model or base
    return device, base_model


class DockerRuntime:
    name = "docker"

    def __init__(self, echo: Callable[[str], None] | None = None) -> None:
        self.echo = echo or (lambda line: print(line, file=sys.stderr, flush=True))
        self.last: dict[str, Any] = {}

    def run(self, argv: list[str], env: dict[str, str]) -> int:
        from docker.errors import APIError

        client = connect()
        device, base_model = _worker_inputs(argv)
        target = detect_target(device)
        tag = ensure_image(client, target, self.echo)
        workspace = Path.cwd().resolve()
        started = time.time()
        container, reused = ensure_container(client, tag, target, base_model, workspace)
        self.last = {
            "container": container.name,
            "image": tag,
            "reused": reused,
            "start_s": round(time.time() - started, 2),
        }
        self.echo(f"forge: {'reusing' if reused else 'started'} container {container.name} ({tag})")
        exec_id = client.api.exec_create(
            container.id,
            ["bash", "-c", WRAPPER, "forge-run", *container_argv(argv)],
            environment=container_env(env),
            workdir=str(workspace),
            user=f"{os.getuid()}:{os.getgid()}",
        )["Id"]

        def forward(signum, _frame):  # stop the run inside, not just this client
            client.api.exec_start(
                client.api.exec_create(
                    container.id, ["bash", "-c", f"kill -{signum} $(cat {PID_PATH})"]
                )
            )

        previous = {s: signal.signal(s, forward) for s in (signal.SIGTERM, signal.SIGINT)}
        try:
            for out, err in client.api.exec_start(exec_id, stream=True, demux=True):
                if out:
                    sys.stdout.buffer.write(out)
                    sys.stdout.flush()
                if err:
                    sys.stderr.buffer.write(err)
                    sys.stderr.flush()
            code = client.api.exec_inspect(exec_id)["ExitCode"]
        except APIError as exc:
            raise ContainerError(f"container {container.name}: {exc.explanation}") from exc
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        if code is None:
            code = 1
        if code != 0:
            self.echo(f"forge: run failed (exit {code}); removing container {container.name}")
            container.remove(force=True)
        self.last["exit_code"] = code
        return code
