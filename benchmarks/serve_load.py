# python benchmarks/serve_load.py [--requests N] [--concurrency N] [--train] [--launches N] [--json]
"""`forge serve` under a bounded loopback load: GET /models and GET /runs at concurrency 32.

A temporary clone of this repo (its DVC cache copied) is served on a free loopback port.
The load alternates GET /models and GET /runs; the baseline, in the same run and at the
same concurrency, is GET /openapi.json (the server's cheapest answer), so the ratio says
what reading the repo costs over the HTTP stack itself. With --train a lean training run
is launched first and the load runs while it writes. With --launches N, N concurrent
POST /runs/launch follow, then every run is cancelled, and `git fsck` and `dvc status`
must pass in the clone: the repo stays consistent.

Prints p50/p99 latency, throughput and the error count (the goal is zero errors)."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
FORGE = str(Path(sys.executable).parent / "forge")
LEAN = ["recipe.max_steps=40", "recipe.eval_steps=0", "eval.limit=20"]


def start(project: Path) -> tuple[subprocess.Popen, str]:
    from forge.serve.server import spawn

    env = {k: v for k, v in os.environ.items() if k != "FORGE_API_KEYS"}
    try:
        return spawn(project, env=env, stdout=subprocess.DEVNULL)
    except RuntimeError as exc:
        sys.exit(f"serve_load: {exc}")


async def load(url: str, paths: list[str], total: int, concurrency: int) -> dict:
    """`total` GETs cycling over `paths`, at most `concurrency` in flight."""
    latencies: list[float] = []
    errors: dict[str, int] = {}
    queue = iter(range(total))
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, timeout=120, limits=limits) as client:

        async def worker() -> None:
            for i in queue:
                start = time.perf_counter()
                try:
                    r = await client.get(paths[i % len(paths)])
                    ok = r.status_code == 200
                    why = f"HTTP {r.status_code}"
                except httpx.HTTPError as exc:
                    ok, why = False, type(exc).__name__
                latencies.append(time.perf_counter() - start)
                if not ok:
                    errors[why] = errors.get(why, 0) + 1

        began = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        wall = time.perf_counter() - began
    latencies.sort()
    return {
        "requests": total,
        "errors": sum(errors.values()),
        "error_kinds": errors,
        "p50_ms": round(1000 * statistics.median(latencies), 1),
        "p99_ms": round(1000 * latencies[int(0.99 * (len(latencies) - 1))], 1),
        "per_s": round(total / wall, 1),
    }


def launches(url: str, n: int) -> dict:
    async def go() -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=url, timeout=300) as client:
            body = {"overrides": ["recipe.max_steps=5"]}
            return await asyncio.gather(*(client.post("/runs/launch", json=body) for _ in range(n)))

    answers = asyncio.run(go())
    ids = [r.json()["run_id"] for r in answers if r.status_code == 202]
    for run_id in ids:
        httpx.post(f"{url}/runs/{run_id}/cancel", timeout=60)
    return {"launched": len(ids), "refused": n - len(ids)}


def consistent(project: Path) -> dict:
    fsck = subprocess.run(["git", "fsck", "--no-progress"], cwd=project, capture_output=True)
    status = subprocess.run(
        [sys.executable, "-m", "dvc", "status", "--json"], cwd=project, capture_output=True
    )
    return {"git_fsck_ok": fsck.returncode == 0, "dvc_status_ok": status.returncode == 0}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--train", action="store_true", help="Load while a run trains.")
    parser.add_argument("--launches", type=int, default=0, help="Then N concurrent launches.")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="forge-serve-load-"))
    project = tmp / "demo"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(project)], check=True)
    if (ROOT / ".dvc/cache").is_dir():
        shutil.copytree(ROOT / ".dvc/cache", project / ".dvc/cache")
    proc, url = start(project)
    try:
        training = None
        if args.train:
            training = httpx.post(url + "/runs/launch", json={"overrides": LEAN}).json()["run_id"]
            while httpx.get(f"{url}/runs/{training}").json()["status"] == "queued":
                time.sleep(0.5)
        baseline = asyncio.run(load(url, ["/openapi.json"], args.requests, args.concurrency))
        repo = asyncio.run(load(url, ["/models", "/runs"], args.requests, args.concurrency))
        trained = httpx.get(f"{url}/runs/{training}").json()["status"] if training else None
        result = {
            "concurrency": args.concurrency,
            "baseline_openapi": baseline,
            "models_and_runs": repo,
            "p50_ratio": round(repo["p50_ms"] / baseline["p50_ms"], 2),
            "training_run": trained,
        }
        if args.launches:
            result["launches"] = launches(url, args.launches)
            result["consistent"] = consistent(project)
    finally:
        from forge.serve.server import stop

        stop(proc)
        shutil.rmtree(tmp, ignore_errors=True)
    if args.json:
        print(json.dumps(result, indent=2, sort_keys=True))
        return
    b, r = baseline, repo
    print(
        f"GET /models + /runs: {r['requests']} requests at concurrency {args.concurrency}: "
        f"p50 {r['p50_ms']} ms, p99 {r['p99_ms']} ms, {r['per_s']}/s, {r['errors']} errors"
        + (f" (while a training run was {trained})" if trained else "")
    )
    print(
        f"baseline GET /openapi.json: p50 {b['p50_ms']} ms, p99 {b['p99_ms']} ms, "
        f"{b['per_s']}/s, {b['errors']} errors; p50 ratio {result['p50_ratio']}x"
    )
    if args.launches:
        print(f"{args.launches} concurrent launches: {result['launches']}; {result['consistent']}")


if __name__ == "__main__":
    main()
