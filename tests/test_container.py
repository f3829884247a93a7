"""hardware.runtime=docker: image selection, Dockerfiles, pins and environment (unit), and, marked
`container`, the real engine: training inside a container, reuse, logs, exit codes, secrets,
cleanup. `.ci/run` starts the engine and gives these tests a base image and a wheelhouse
(FORGE_CONTAINER_BASE_IMAGE, FORGE_CONTAINER_WHEELS); FORGE_REQUIRE_ENGINE=1 turns a missing
engine into a failure instead of a skip."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from forge.runtime import docker as d
from forge.runtime.base import Job
from tests.conftest import BIN, ROOT, make_project, sh

CAPABILITIES = {
    (8, 0): "ampere",
    (8, 6): "ampere",
    (8, 7): "ampere",
    (8, 9): "ada",
    (9, 0): "hopper",
    (10, 0): "blackwell",
    (12, 0): "blackwell",
    (12, 1): "blackwell",
}


def forge(*args: str, cwd: Path = ROOT, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(BIN / "forge"), *args],
        cwd=cwd,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
    )


# --- unit: no engine needed ---------------------------------------------------------------


@pytest.mark.parametrize(("capability", "target"), sorted(CAPABILITIES.items()))
def test_target_for_gpu_architecture(capability, target):
    assert d.target_for("cuda", capability) == target


def test_target_for_cpu_and_unsupported():
    assert d.target_for("cpu", None) == "cpu"
    assert d.target_for("cpu", (9, 0)) == "cpu"  # hardware=cpu on a GPU machine
    with pytest.raises(d.ContainerError, match=r"7\.5 \(turing\) is older than Ampere"):
        d.target_for("cuda", (7, 5))
    with pytest.raises(d.ContainerError, match="no NVIDIA GPU was found"):
        d.target_for("cuda", None)


@pytest.mark.parametrize("target", d.TARGETS)
def test_dockerfile_is_arg_driven(target):
    text = d.dockerfile(target, ROOT).read_text()
    assert text.startswith(f"# forge container build {target}")
    arg = text.index("ARG BASE_IMAGE=")
    assert text.index("FROM ${BASE_IMAGE}") > arg
    assert "COPY requirements.txt" in text and "WHEELS_URL" in text


@pytest.mark.parametrize("target", [t for t in d.TARGETS if t != "cpu"])
def test_gpu_dockerfiles_match_the_architecture(target):
    text = d.dockerfile(target, ROOT).read_text()
    base = re.search(r"^ARG BASE_IMAGE=(\S+)$", text, re.M).group(1)
    assert "cuda" in base or base.startswith("nvcr.io/nvidia/pytorch:"), base
    assert re.search(r'"unsloth==\$\{UNSLOTH_VERSION\}"', text)
    assert re.search(r'"bitsandbytes==\$\{BITSANDBYTES_VERSION\}"', text)
    assert re.search(r"^ARG UNSLOTH_VERSION=\d{4}\.\d+\.\d+$", text, re.M)
    arch = re.search(r'^ARG TORCH_CUDA_ARCH_LIST="([\d.;]+)"$', text, re.M).group(1)
    for cap in arch.split(";"):  # every arch the image targets selects this image
        major, minor = (int(x) for x in cap.split("."))
        assert d.target_for("cuda", (major, minor)) == target


def test_cpu_dockerfile_has_no_gpu_stack():
    text = d.dockerfile("cpu", ROOT).read_text().lower()
    assert "unsloth" not in text and "bitsandbytes" not in text
    assert "whl/cpu" in text


def test_image_requirements_are_forges_exact_pins():
    cpu = d.image_requirements("cpu")
    names = {re.split(r"==", p)[0].lower() for p in cpu}
    assert "torch==2.13.0" in cpu and {"transformers", "trl", "peft", "dvclive"} <= names
    assert not names & {"lm_eval", "lm-eval", "docker"}
    assert all("==" in p for p in cpu), cpu
    hopper = d.image_requirements("hopper")
    assert not any(p.startswith("torch==") for p in hopper)  # the base's CUDA torch stays
    assert set(hopper) == set(cpu) - {"torch==2.13.0"}


def test_image_tag_hashes_dockerfile_pins_and_base():
    tag = d.image_tag("cpu", root=ROOT)
    assert re.fullmatch(r"forge-cpu:[0-9a-f]{12}", tag)
    assert d.image_tag("cpu", root=ROOT) == tag
    assert d.image_tag("cpu", "forge-base:bookworm", ROOT) != tag
    assert d.image_tag("hopper", root=ROOT).startswith("forge-hopper:")


def test_unknown_target_and_missing_dockerfile(tmp_path):
    with pytest.raises(d.ContainerError, match="unknown container target 'volta'"):
        d.dockerfile("volta", ROOT)
    (tmp_path / "containers").mkdir()
    (tmp_path / "containers" / "Dockerfile.cpu").write_text("FROM scratch\n")
    assert d.dockerfile("cpu", tmp_path).read_text() == "FROM scratch\n"  # the project's own
    assert d.dockerfile("ada", tmp_path) == ROOT / "containers/Dockerfile.ada"  # else Forge's


def test_container_env_passes_secrets_not_host_paths():
    env = d.container_env(
        {
            "HF_TOKEN": "t",
            "GEMINI_API_KEY": "g",
            "HF_HUB_OFFLINE": "1",
            "PATH": "/host/bin",
            "VIRTUAL_ENV": "/host/.venv",
            "HF_HOME": "/host/hf",
            "HOME": "/root",
        }
    )
    assert env["HF_TOKEN"] == "t" and env["GEMINI_API_KEY"] == "g" and env["HF_HUB_OFFLINE"] == "1"
    assert "PATH" not in env and "VIRTUAL_ENV" not in env
    assert env["HF_HOME"] == d.HF_CACHE_IN and env["HOME"] == "/tmp"


def test_container_argv_uses_the_images_python():
    assert d.container_argv([sys.executable, "-m", "forge.train.worker"]) == [
        "python3",
        "-m",
        "forge.train.worker",
    ]
    assert d.container_argv(["/host/.venv/bin/accelerate", "launch"]) == ["accelerate", "launch"]


def test_get_runtime_knows_docker_without_connecting():
    from forge.errors import ForgeError
    from forge.runtime import get_runtime

    assert get_runtime("docker").name == "docker"
    with pytest.raises(ForgeError, match=r"known: local, docker"):
        get_runtime("podman")


def test_no_engine_is_one_clear_line(tmp_path):
    sock = tmp_path / "none.sock"
    proc = forge("container", "status", env={"DOCKER_HOST": f"unix://{sock}"})
    assert proc.returncode == 1
    assert proc.stderr == (
        f"forge: error: no Docker engine at unix://{sock} "
        "(start dockerd, set DOCKER_HOST, or use hardware.runtime=local)\n"
    )


def test_help_does_not_import_docker():
    code = "import sys; import forge.cli.main; print('docker' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_validate_accepts_docker_runtime():
    assert forge("validate", "hardware.runtime=docker").returncode == 0
    bad = forge("validate", "hardware.runtime=dokcer")
    assert bad.returncode == 2 and "hardware.runtime" in bad.stderr


# --- container: the real engine ------------------------------------------------------------


@pytest.fixture(scope="module")
def client():
    try:
        return d.connect()
    except d.ContainerError as exc:
        if os.environ.get("FORGE_REQUIRE_ENGINE") == "1":
            pytest.fail(str(exc))
        pytest.skip(str(exc))


@pytest.fixture(scope="module")
def cpu_image(client) -> str:
    """The CPU image, built through the CLI (once; a rebuild is a no-op)."""
    args = ["container", "build", "cpu", "--json"]
    if base := os.environ.get("FORGE_CONTAINER_BASE_IMAGE"):
        args += ["--base-image", base]
    if wheels := os.environ.get("FORGE_CONTAINER_WHEELS"):
        args += ["--wheels", wheels]
    proc = forge(*args)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout)
    print(f"\nimage {result['image']}: built={result['built']} in {result['seconds']} s")
    again = json.loads(forge(*args).stdout)
    assert again["image"] == result["image"] and again["built"] is False
    return result["image"]


def _no_container(client, name: str) -> bool:
    from docker.errors import NotFound

    try:
        client.containers.get(name)
    except NotFound:
        return True
    return False


@pytest.mark.container
def test_runs_reuse_stream_and_keep_logs(client, cpu_image, tmp_path, monkeypatch, capfd):
    monkeypatch.chdir(tmp_path)
    rt = d.DockerRuntime()
    code = "import os; open('made-inside', 'w').write(os.getcwd()); print('hello from inside')"
    assert rt.run(Job([sys.executable, "-c", code], dict(os.environ))) == 0
    first = rt.last
    assert first["reused"] is False and first["image"] == cpu_image
    out = capfd.readouterr()
    assert "hello from inside" in out.out
    made = tmp_path / "made-inside"  # the workspace is the same path inside, owned by us
    assert made.read_text() == str(tmp_path) and made.stat().st_uid == os.getuid()

    assert rt.run(Job([sys.executable, "-c", "print('second run')"], dict(os.environ))) == 0
    assert rt.last["reused"] is True and rt.last["container"] == first["container"]
    print(f"container start {first['start_s']} s, reuse {rt.last['start_s']} s")

    logs = forge("container", "logs", first["container"], "--json", cwd=tmp_path)
    lines = json.loads(logs.stdout)["lines"]
    assert "hello from inside" in lines and "second run" in lines
    listed = json.loads(forge("container", "list", "--json").stdout)
    row = next(r for r in listed if r["name"] == first["container"])
    assert row["status"] == "running" and row["workspace"] == str(tmp_path)
    status = json.loads(forge("container", "status", "--json", cwd=tmp_path).stdout)
    assert status["target"] == "cpu" and [c["name"] for c in status["containers"]] == [
        first["container"]
    ]

    cleaned = json.loads(forge("container", "cleanup", "--all", "--json").stdout)
    assert first["container"] in cleaned["containers"]
    assert _no_container(client, first["container"])


@pytest.mark.container
@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("raise SystemExit(3)", 3),
        ("raise RuntimeError('boom')", 1),
        ("import os, signal; os.kill(os.getpid(), signal.SIGKILL)", 137),
    ],
)
def test_exit_code_propagates_and_failed_container_is_removed(
    client, cpu_image, tmp_path, monkeypatch, code, expected
):
    monkeypatch.chdir(tmp_path)
    rt = d.DockerRuntime()
    assert rt.run(Job([sys.executable, "-c", code], dict(os.environ))) == expected
    assert rt.last["exit_code"] == expected
    assert _no_container(client, rt.last["container"])


@pytest.mark.container
def test_secrets_reach_the_run_but_are_never_written(client, cpu_image, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    secret = "hf_forge_container_test_5ecret"
    check = "import os; print('token seen' if os.environ['HF_TOKEN'].endswith('5ecret') else 'no')"
    rt = d.DockerRuntime()
    assert rt.run(Job([sys.executable, "-c", check], {**os.environ, "HF_TOKEN": secret})) == 0
    container = client.containers.get(rt.last["container"])
    try:
        logs = forge("container", "logs", container.name, cwd=tmp_path).stdout
        assert "token seen" in logs and secret not in logs
        assert secret not in json.dumps(container.attrs)  # config, labels, env
        assert secret.encode() not in container.logs()
        on_disk = Path(client.info()["DockerRootDir"]) / "containers" / container.id
        if on_disk.is_dir():  # readable where the test runs as the engine's user
            for f in on_disk.rglob("*"):
                if f.is_file():
                    assert secret.encode() not in f.read_bytes(), f
        _, tree = container.exec_run(["grep", "-rl", secret, "/tmp", "/hf-cache", str(tmp_path)])
        assert secret not in tree.decode()
    finally:
        container.remove(force=True)


@pytest.mark.container
def test_train_stage_in_a_container_and_reuse(client, cpu_image, tmp_path):
    """The real train stage of the tiny model runs inside the CPU image; a second run reuses
    the container."""
    proj = make_project(tmp_path / "proj")
    sh(str(BIN / "forge"), "compose", "hardware.runtime=docker", "experiment=quick", cwd=proj)
    sh(sys.executable, "-m", "forge.stages.base", cwd=proj)
    sh(sys.executable, "-m", "forge.stages.prepare", cwd=proj)
    try:
        first = sh(sys.executable, "-m", "forge.stages.train", cwd=proj)
        started = re.search(r"forge: started container (\S+)", first.stderr)
        assert started, first.stderr[-2000:]
        assert re.search(r"train: 40 steps, loss \d", first.stdout)
        attempts = json.loads((proj / "results/train/attempts.json").read_text())
        assert [(a["attempt"], a["runtime"], a["exit_code"]) for a in attempts] == [
            (1, "docker", 0)
        ]
        assert (proj / "models/candidate/manifest.json").is_file()
        assert any((proj / "models/candidate").glob("*.safetensors"))
        metrics = (proj / "results/train/metrics.json").read_text()
        assert "loss" in metrics

        second = sh(sys.executable, "-m", "forge.stages.train", cwd=proj)
        assert f"forge: reusing container {started.group(1)}" in second.stderr
        logs = forge("container", "logs", started.group(1), "--json", cwd=proj)
        runs = [ln for ln in json.loads(logs.stdout)["lines"] if ln.startswith("== forge exit")]
        assert runs == ["== forge exit 0", "== forge exit 0"]
    finally:
        forge("container", "cleanup", "--all", cwd=proj)


@pytest.mark.container
def test_sigterm_stops_the_run_inside(client, cpu_image, tmp_path):
    """A SIGTERM to the supervisor (dvc interrupted) reaches the process in the container."""
    drive = tmp_path / "drive.py"
    drive.write_text(
        "import os, sys\n"
        "from forge.runtime.base import Job\n"
        "from forge.runtime.docker import DockerRuntime\n"
        "rt = DockerRuntime()\n"
        "child = 'import time; print(\"ready\", flush=True); time.sleep(120)'\n"
        "code = rt.run(Job([sys.executable, '-c', child], dict(os.environ)))\n"
        "print('exit', code, rt.last['container'], flush=True)\n"
    )
    proc = subprocess.Popen(
        [sys.executable, str(drive)], cwd=tmp_path, stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout.readline().strip() == "ready"
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=60)
    _, code, name = out.split()
    assert code == "143"  # 128 + SIGTERM, as the local runtime reports it
    assert _no_container(client, name)
