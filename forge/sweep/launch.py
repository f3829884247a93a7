"""Where sweep points run. Every launcher runs the same `forge.sweep.worker.run_point`:

- `local`: one child process per point (its own session, so a kill reaches its stages);
- `ray`: one Ray task per point, on the cluster at RAY_ADDRESS, or a local head that
  `ray.init()` starts and `close()` stops (`pip install 'forge[ray]'`);
- `slurm`: one SLURM job per point through submitit, its partition, time, GPUs and memory
  from the slurm hardware profile's `launcher_options`.

Ray and SLURM need the repo on a filesystem every node sees (each point's workspace is a
folder under the repo's .forge/sweeps/, and the DVC cache is the repo's)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

from forge.errors import ForgeError

LAUNCHERS = ("local", "ray", "slurm")
MARKER = "FORGE_SWEEP_POINT"  # in each local worker's environment: finds stale ones


class Local:
    """Points as child processes of this one; `-j` of them at once."""

    def __init__(self, state_dir: Path) -> None:
        self.specs = state_dir / "specs"
        self.specs.mkdir(parents=True, exist_ok=True)

    def submit(self, spec: dict[str, Any]) -> Any:
        path = self.specs / f"{spec['name']}.json"
        path.with_name(path.stem + ".result.json").unlink(missing_ok=True)
        path.write_text(json.dumps(spec, indent=2, sort_keys=True), encoding="utf-8")
        env = {**os.environ, MARKER: spec["marker"]}
        proc = subprocess.Popen(
            [sys.executable, "-m", "forge.sweep.worker", str(path)],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        return proc, path

    @staticmethod
    def pid(handle: Any) -> int:
        return handle[0].pid

    def poll(self, handle: Any) -> dict[str, Any] | None:
        proc, path = handle
        code = proc.poll()
        if code is None:
            return None
        result = path.with_name(path.stem + ".result.json")
        if not result.is_file():
            return {"ok": False, "error": f"worker exited {code} without a result"}
        return json.loads(result.read_text(encoding="utf-8"))

    def cancel(self, handle: Any) -> None:
        kill_group(handle[0].pid)
        try:
            handle[0].wait(timeout=30)
        except subprocess.TimeoutExpired:
            kill_group(handle[0].pid, signal.SIGKILL)
            handle[0].wait()

    def close(self) -> None:
        pass


def kill_group(pgid: int, sig: int = signal.SIGTERM) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def reap_stale(pgid: int, marker: str) -> bool:
    """Stop a worker an earlier, killed sweep left running: only a process group whose
    leader still carries this point's marker in its environment (never a reused pid)."""
    try:
        environ = Path(f"/proc/{pgid}/environ").read_bytes().split(b"\0")
    except OSError:
        return False
    if f"{MARKER}={marker}".encode() not in environ:
        return False
    kill_group(pgid)
    return True


class Ray:
    """Points as Ray tasks: RAY_ADDRESS's cluster, or a local head started here."""

    def __init__(self, state_dir: Path) -> None:
        try:
            import ray
        except ImportError as exc:
            raise ForgeError(
                "--launcher ray: the ray package is not installed", hint="pip install 'forge[ray]'"
            ) from exc
        self.ray = ray
        address = os.environ.get("RAY_ADDRESS") or None
        self.started_here = address is None
        try:
            ray.init(
                address=address,
                include_dashboard=False,
                log_to_driver=False,
                configure_logging=False,
                runtime_env={"env_vars": {"PYTHONUNBUFFERED": "1"}},
            )
        except (ConnectionError, RuntimeError) as exc:
            raise ForgeError(
                f"--launcher ray: cannot reach the Ray cluster at RAY_ADDRESS={address} "
                f"({str(exc).splitlines()[0]})",
                hint="start it with `ray start --head`, or unset RAY_ADDRESS for a local head",
            ) from exc
        from forge.sweep.worker import run_point

        self.remote = ray.remote(max_retries=0)(run_point)

    def submit(self, spec: dict[str, Any]) -> Any:
        res = spec.get("resources") or {}
        return self.remote.options(
            num_cpus=res.get("num_cpus", 1), num_gpus=res.get("num_gpus", 0)
        ).remote(spec)

    @staticmethod
    def pid(handle: Any) -> None:
        return None

    def poll(self, handle: Any) -> dict[str, Any] | None:
        ready, _ = self.ray.wait([handle], timeout=0)
        if not ready:
            return None
        try:
            return self.ray.get(handle)
        except Exception as exc:  # a task that died: its point failed, the sweep goes on
            return {"ok": False, "error": f"ray task failed: {str(exc).splitlines()[0]}"}

    def cancel(self, handle: Any) -> None:
        self.ray.cancel(handle, force=True)

    def close(self) -> None:
        self.ray.shutdown()  # a head started here stops with it


SLURM_KEYS = {  # launcher_options (hydra-submitit-launcher names) -> submitit's generic names
    "partition": "slurm_partition",
    "timeout_min": "timeout_min",
    "gpus_per_node": "gpus_per_node",
    "cpus_per_task": "cpus_per_task",
    "mem_gb": "mem_gb",
    "nodes": "nodes",
    "tasks_per_node": "tasks_per_node",
}


def slurm_parameters(options: dict[str, Any]) -> dict[str, Any]:
    """The slurm profile's launcher_options as submitit AutoExecutor parameters."""
    unknown = sorted(set(options) - set(SLURM_KEYS))
    if unknown:
        raise ForgeError(
            f"hardware.launcher_options.{unknown[0]}: not a SLURM setting forge sweep knows "
            f"(known: {', '.join(SLURM_KEYS)})"
        )
    return {SLURM_KEYS[k]: v for k, v in options.items() if v is not None}


def sbatch_script(options: dict[str, Any], folder: Path, command: str = "forge-sweep-point") -> str:
    """The sbatch file submitit writes for these options (what `--launcher slurm` submits)."""
    from submitit.slurm import slurm

    names = slurm.SlurmExecutor._equivalence_dict()
    params: dict[str, Any] = {}
    for key, value in slurm_parameters(options).items():
        key = key.removeprefix("slurm_")
        params[names.get(key, key)] = value
    if "mem" in params:
        params["mem"] = slurm._convert_mem(params["mem"])
    return slurm._make_sbatch_string(command=command, folder=folder, **params)


class Slurm:
    """Points as SLURM jobs through submitit. FORGE_SWEEP_SLURM_CLUSTER=local runs them with
    submitit's local executor instead (tests; a machine without SLURM)."""

    def __init__(self, state_dir: Path, options: dict[str, Any]) -> None:
        import submitit

        cluster = os.environ.get("FORGE_SWEEP_SLURM_CLUSTER") or "slurm"
        if cluster == "slurm" and shutil.which("sbatch") is None:
            raise ForgeError(
                "--launcher slurm: sbatch not found; run forge sweep on a SLURM login node",
                hint="or FORGE_SWEEP_SLURM_CLUSTER=local to try the jobs on this machine",
            )
        self.executor = submitit.AutoExecutor(folder=state_dir / "slurm" / "%j", cluster=cluster)
        params = slurm_parameters(options)
        if cluster != "slurm":
            params = {k: v for k, v in params.items() if not k.startswith("slurm_")}
        self.executor.update_parameters(name="forge-sweep", **params)

    def submit(self, spec: dict[str, Any]) -> Any:
        from forge.sweep.worker import run_point

        return self.executor.submit(run_point, spec)

    @staticmethod
    def pid(handle: Any) -> None:
        return None

    def poll(self, handle: Any) -> dict[str, Any] | None:
        if not handle.done():
            return None
        try:
            return handle.result()
        except Exception as exc:
            return {"ok": False, "error": f"slurm job {handle.job_id} failed: {exc}"}

    def cancel(self, handle: Any) -> None:
        handle.cancel(check=False)

    def close(self) -> None:
        pass


def options_for(name: str, cfg: dict[str, Any], conf_dir: Path) -> dict[str, Any]:
    """A launcher's settings: the points' own profile when it is that launcher's (e.g.
    hardware=slurm), else conf/hardware/<name>.yaml's."""
    from forge.hardware.detect import load_profile

    hw = cfg.get("hardware") or {}
    want = {"slurm": "submitit_slurm", "ray": "ray"}[name]
    if hw.get("launcher") == want:
        return dict(hw.get("launcher_options") or {})
    return dict(load_profile(name, conf_dir).get("launcher_options") or {})


def make(name: str, state_dir: Path, options: dict[str, Any]) -> Any:
    if name == "local":
        return Local(state_dir)
    if name == "ray":
        return Ray(state_dir)
    return Slurm(state_dir, options)
