"""Self-healing training: what a failed attempt was, and what the next attempt changes.

A failure is classified where it is seen: from the exception in the worker (which writes a
failure record beside the checkpoints), else from the exit signal and the log tail in the
supervisor (a SIGKILL by the OOM killer leaves no exception, only the kernel's or the
cgroup's record). Each class says whether it is retryable:

    class               retryable  the next attempt (recipe.heal.*; resumes from a checkpoint)
    cuda_oom            yes        oom_fixes in order: halve the micro-batch and double the
    host_oom            yes          accumulation (effective batch kept), then gradient
                                     checkpointing, then 4-bit loading (LoRA on CUDA)
    precision           yes        the next of precision_fallback (bf16 -> fp16 -> fp32)
    nan_loss            yes        from the last good checkpoint, learning rate * nan_lr_factor,
    divergence          yes          clipping at most nan_max_grad_norm
    collective_timeout  yes        as is
    model_access        no         each fails at once, with one line naming the fix
    disk_full           no           (FIX_LINE)
    data                no
    dependency          no
    interrupted         no         (SIGINT, SIGTERM: the user stopped it)
    unknown             no         the advisor, when one is registered (use_advisor)

Every fix is a param diff ({"recipe.batch_size": 16, ...}) validated against the schema,
recorded per attempt in results/train/attempts.json, and said as the `forge compose`
override that makes it permanent. params.yaml is never rewritten.

The advisor hook: forge.copilot sits above forge.train in the layers, so this module never
imports it. A training stage with recipe.heal.advisor on calls forge.copilot.heal.register(),
which calls `use_advisor(obj)` with an object that has `propose_fix(failure, config) -> dict
| None` when conf/copilot.yaml's backend is gemini; its diff is validated (validate_proposal)
before it is applied, and the attempt's row says fix_by: advisor. With none registered, the
rules alone decide and nothing needs the network.

This module stays light (no torch): the supervisor imports it; the worker's side is
forge/train/guard.py.
"""

from __future__ import annotations

import dataclasses
import errno
import json
import os
import re
import signal
import traceback
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from forge.config.fields import problems
from forge.config.schema import HardwareConfig, HealConfig, RecipeConfig
from forge.hardware.precision import resolve_precision

GIB = 2**30
RETRYABLE = {
    "cuda_oom": True,
    "host_oom": True,
    "precision": True,
    "nan_loss": True,
    "divergence": True,
    "collective_timeout": True,
    "model_access": False,
    "disk_full": False,
    "data": False,
    "dependency": False,
    "interrupted": False,
    "unknown": False,
}
# The one line naming the fix, for the classes that fail at once.
FIX_LINE = {
    "model_access": "check model.hub_id and model.revision; for a gated model accept its "
    "license on the hub and set HF_TOKEN, then rerun `dvc repro`",
    "disk_full": "free space on the disk that holds .forge/checkpoints and models/, then "
    "rerun `dvc repro`: it resumes from the last checkpoint",
    "data": "fix that data file (or rerun `dvc repro prepare` to rewrite it), then `dvc repro`",
    "dependency": "install the missing package into the environment that runs Forge "
    "(pip install ...), or change the setting that needs it",
    "interrupted": "rerun `dvc repro`: it resumes from the last checkpoint",
    "unknown": "see the worker's output above; rerun `dvc repro` to resume from the last "
    "checkpoint",
}
FAILURE_GLOB = "failure-*.json"
LOG_FILE = "worker.log"
# Keys a fix never changes: they are what the experiment is.
FROZEN = ("recipe.method", "recipe.seed", "recipe.max_steps", "recipe.max_length", "recipe.heal")


class NonFiniteLoss(FloatingPointError):
    """The training loss became NaN or Inf (raised by the worker's check, forge/train/guard.py)."""

    def __init__(self, message: str, step: int) -> None:
        super().__init__(message)
        self.first_bad_step = step


class LossDiverged(ArithmeticError):
    """The loss watchdog saw `patience` logged losses above `factor` x the first one."""

    def __init__(self, message: str, step: int) -> None:
        super().__init__(message)
        self.first_bad_step = step


@dataclass
class Failure:
    """One failed attempt, classified."""

    cls: str
    evidence: list[str]
    step: int | None = None  # the optimizer step it failed at, when the worker knew it
    first_bad_step: int | None = None  # nan_loss/divergence: checkpoints from here are bad
    memory_gib: float | None = None  # the device's (or cgroup's) memory, for the estimator
    dtype: str | None = None  # precision: the one that is not supported

    @property
    def retryable(self) -> bool:
        return RETRYABLE[self.cls]

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in dataclasses.asdict(self).items() if v is not None}


# -- classification ------------------------------------------------------------------------

# Messages that name a class, in the worker's exceptions and in the log tail alike.
PATTERNS: list[tuple[str, re.Pattern[str]]] = [
    ("cuda_oom", re.compile(r"CUDA out of memory|CUBLAS_STATUS_ALLOC_FAILED|OutOfMemoryError")),
    (
        "host_oom",
        re.compile(
            r"DefaultCPUAllocator: can't allocate memory|not enough memory: you tried to "
            r"allocate|\bMemoryError\b|Cannot allocate memory"
        ),
    ),
    (
        "disk_full",
        re.compile(
            r"No space left on device|Disk quota exceeded|File too large|StorageFull|"
            r"failed writing file|Errno (28|27|122)\b"
        ),
    ),
    (
        "collective_timeout",
        re.compile(
            r"Watchdog caught collective operation timeout|Timed out waiting \d+ms for "
            r"(send|recv) operation|NCCL.*[Tt]ime ?out|collective operation timeout|"
            r"DistStoreError: Timed out"
        ),
    ),
    (
        "precision",
        re.compile(
            r"does not support bfloat16|doesn't support bf16|not implemented for "
            r"'(BFloat16|Half)'|fp16 mixed precision requires|bf16/gpu"
        ),
    ),
    (
        "model_access",
        re.compile(
            r"GatedRepoError|RepositoryNotFoundError|RevisionNotFoundError|gated repo|"
            r"401 Client Error|403 Client Error|Invalid user token|cannot load a model from here"
        ),
    ),
    ("dependency", re.compile(r"ModuleNotFoundError|No module named|ImportError")),
    ("nan_loss", re.compile(r"NonFiniteLoss|loss is (nan|inf)", re.IGNORECASE)),
    ("divergence", re.compile(r"LossDiverged")),
]
DATA_TYPES = {
    "json.decoder.JSONDecodeError",
    "builtins.UnicodeDecodeError",
    "forge.errors.DataError",
    "datasets.exceptions.DatasetGenerationError",
    "datasets.table.CastError",
    "pyarrow.lib.ArrowInvalid",
}
DATA_FRAMES = ("/forge/data/", "/datasets/", "/pyarrow/")
ORDER = (
    "interrupted",
    "nan_loss",
    "divergence",
    "cuda_oom",
    "host_oom",
    "disk_full",
    "collective_timeout",
    "precision",
    "model_access",
    "dependency",
    "data",
)


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        yield cur
        cur = cur.__cause__ or cur.__context__


def _names(exc: BaseException) -> set[str]:
    return {f"{c.__module__}.{c.__qualname__}" for c in type(exc).__mro__}


def _line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__module__}.{type(exc).__qualname__}: {text[0] if text else ''}"[:300]


def _exception_class(exc: BaseException) -> str | None:
    names = _names(exc)
    text = f"{' '.join(sorted(names))} {exc}"
    if "builtins.KeyboardInterrupt" in names:
        return "interrupted"
    if "forge.train.heal.NonFiniteLoss" in names:
        return "nan_loss"
    if "forge.train.heal.LossDiverged" in names:
        return "divergence"
    if "torch.OutOfMemoryError" in names:
        return "cuda_oom"
    if "builtins.MemoryError" in names:
        return "host_oom"
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EFBIG, errno.EDQUOT):
        return "disk_full"
    if "torch.distributed.DistBackendError" in names and "time" in str(exc).lower():
        return "collective_timeout"
    if names & {
        "huggingface_hub.errors.GatedRepoError",
        "huggingface_hub.errors.RepositoryNotFoundError",
        "huggingface_hub.errors.RevisionNotFoundError",
    }:
        return "model_access"
    if "builtins.ImportError" in names:
        return "dependency"
    if names & DATA_TYPES:
        return "data"
    for cls, pattern in PATTERNS:
        if pattern.search(text):
            return cls
    return None


def _data_file(exc: BaseException) -> str | None:
    """The file a data reader in forge/data/ was reading when it raised (its `path`)."""
    tb, found = exc.__traceback__, None
    while tb is not None:
        frame = tb.tb_frame
        if "/forge/data/" in frame.f_code.co_filename:
            found = frame.f_locals.get("path", found)
        tb = tb.tb_next
    return str(found) if found is not None else None


def fix_line(failure: Failure) -> str | None:
    """The one line naming the fix, for a class that fails at once."""
    if failure.cls == "dependency":
        m = re.search(r"No module named '([\w.]+)'", " ".join(failure.evidence))
        if m:
            pkg = m.group(1).split(".")[0]
            return (
                f"install {pkg} into the environment that runs Forge (pip install {pkg}), "
                "or change the setting that needs it"
            )
    return FIX_LINE.get(failure.cls)


def _from_data_code(exc: BaseException) -> bool:
    """Whether the exception was raised while reading or mapping the training data."""
    frames = traceback.extract_tb(exc.__traceback__) if exc.__traceback__ else []
    return bool(frames) and any(d in frames[-1].filename for d in DATA_FRAMES)


def classify_exception(exc: BaseException) -> Failure:
    """The worker's view: the exception (and its causes) that ended the attempt."""
    found: dict[str, BaseException] = {}
    for e in _chain(exc):
        cls = _exception_class(e)
        if cls is None and isinstance(e, KeyError | ValueError | TypeError) and _from_data_code(e):
            cls = "data"
        if cls is not None:
            found.setdefault(cls, e)
    cls = next((c for c in ORDER if c in found), "unknown")
    culprit = found.get(cls, exc)
    evidence = [_line(exc)] + ([_line(culprit)] if culprit is not exc else [])
    if cls == "data" and (where := _data_file(culprit)):
        evidence[-1] += f" (in {where})"
    failure = Failure(cls, evidence)
    failure.first_bad_step = getattr(culprit, "first_bad_step", None)
    if cls == "precision":
        failure.dtype = _dtype(str(culprit))
    return failure


WRITE_FAILED = re.compile(r"unexpected pos \d+ vs \d+|PytorchStreamWriter failed|failed writing")


def disk_full_evidence(exc: BaseException, path: Path) -> str | None:
    """A write that failed without saying why (torch's zip writer reports only "unexpected
    pos"), on a filesystem with almost nothing left: the evidence line, else None."""
    import shutil

    if not any(WRITE_FAILED.search(str(e)) for e in _chain(exc)):
        return None
    try:
        usage = shutil.disk_usage(path)
    except OSError:
        return None
    if usage.free < max(64 * 2**20, usage.total // 100):
        return f"{usage.free} bytes free of {usage.total} on the filesystem of {path}"
    return None


def _dtype(text: str) -> str | None:
    low = text.lower()
    if "bfloat16" in low or "bf16" in low:
        return "bf16"
    if "half" in low or "float16" in low or "fp16" in low:
        return "fp16"
    return None


def classify_exit(code: int, log_tail: list[str], oom_record: str | None) -> Failure:
    """The supervisor's view, when the worker left no failure record: its exit code (128+N:
    killed by signal N), the OOM killer's record, and the last lines of its output."""
    sig = code - 128 if code > 128 else None
    how = describe_exit(code)
    if sig == signal.SIGKILL and oom_record:
        return Failure("host_oom", [how, oom_record])
    for line in reversed(log_tail):
        for cls, pattern in PATTERNS:
            if pattern.search(line):
                failure = Failure(cls, [how, line.strip()[:300]])
                if cls == "precision":
                    failure.dtype = _dtype(line)
                return failure
    if sig in (signal.SIGINT, signal.SIGTERM) or code == 130:
        return Failure("interrupted", [how])
    tail = [line.strip()[:300] for line in log_tail[-3:] if line.strip()]
    return Failure("unknown", [how, *tail])


def describe_exit(code: int) -> str:
    if code > 128:
        try:
            return f"killed by {signal.Signals(code - 128).name}"
        except ValueError:
            pass
    return f"exit code {code}"


def read_failure(checkpoints: Path) -> Failure | None:
    """The most specific failure record a worker rank wrote, if any."""
    found = []
    for path in sorted(checkpoints.glob(FAILURE_GLOB)):
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
            found.append(Failure(**{k: raw[k] for k in raw if k in Failure.__dataclass_fields__}))
        except (OSError, ValueError, TypeError):
            continue
    if not found:
        return None
    return min(found, key=lambda f: ORDER.index(f.cls) if f.cls in ORDER else len(ORDER))


def write_failure(checkpoints: Path, failure: Failure, rank: int) -> None:
    from forge.record import write_json

    write_json(checkpoints / f"failure-{rank}.json", failure.as_dict())


def log_tail(path: Path, lines: int = 40) -> list[str]:
    try:
        with path.open("rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - 16384))
            return f.read().decode("utf-8", "replace").splitlines()[-lines:]
    except OSError:
        return []


# -- the OOM killer's record ----------------------------------------------------------------


def _cgroup_dir() -> tuple[Path, str] | None:
    """This process's memory cgroup directory and its version ('v2' or 'v1')."""
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        hid, controllers, path = line.split(":", 2)
        if "memory" in controllers.split(","):
            d = Path("/sys/fs/cgroup/memory") / path.lstrip("/")
            if d.is_dir():
                return d, "v1"
    for line in lines:
        if line.startswith("0::"):
            d = Path("/sys/fs/cgroup") / line[3:].lstrip("/")
            if (d / "memory.events").is_file():
                return d, "v2"
    return None


def oom_kills() -> int | None:
    """The OOM kills counted in this process's memory cgroup (its children's cgroup too,
    unless they were moved): memory.events (v2) or memory.oom_control (v1)."""
    found = _cgroup_dir()
    if found is None:
        return None
    d, version = found
    name = "memory.events" if version == "v2" else "memory.oom_control"
    try:
        for line in (d / name).read_text().splitlines():
            key, _, value = line.partition(" ")
            if key == "oom_kill":
                return int(value)
    except (OSError, ValueError):
        return None
    return None


def oom_record(before: int | None, pid: int | None) -> str | None:
    """Evidence that the OOM killer ended the attempt: the cgroup's count rose, or the
    kernel log names the worker's pid."""
    after = oom_kills()
    if before is not None and after is not None and after > before:
        d, version = _cgroup_dir() or (Path("?"), "")
        where = "memory.events" if version == "v2" else "memory.oom_control"
        return f"cgroup {d}: {where} oom_kill {before} -> {after}"
    if pid is None:
        return None
    try:  # the kernel's own record, where this process may read it
        fd = os.open("/dev/kmsg", os.O_RDONLY | os.O_NONBLOCK)
    except OSError:
        return None
    try:
        while True:
            try:
                rec = os.read(fd, 8192).decode("utf-8", "replace")
            except BlockingIOError:
                return None
            except OSError:
                continue
            if not rec:
                return None
            if re.search(rf"Killed process {pid}\b|oom-kill:.*pid={pid}\b", rec):
                return rec.split(";", 1)[-1].strip()[:300]
    finally:
        os.close(fd)


def memory_limit_gib() -> float | None:
    """The host memory this process may use: its cgroup's limit, else the machine's RAM."""
    found = _cgroup_dir()
    if found is not None:
        d, version = found
        try:
            raw = (d / ("memory.max" if version == "v2" else "memory.limit_in_bytes")).read_text()
            if raw.strip() != "max" and int(raw) < 2**60:
                return int(raw) / GIB
        except (OSError, ValueError):
            pass
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / GIB
    except (ValueError, OSError):
        return None


# -- fixes ----------------------------------------------------------------------------------


@dataclass
class Fix:
    """What the next attempt changes: a param diff (dotted keys), and why."""

    diff: dict[str, Any]
    reason: str
    predicted: dict[str, Any] | None = None  # the memory estimator's prediction, if it made one
    by: str = "rules"  # rules, or the advisor


class Advisor(Protocol):
    """Asked when no rule matches: the failure and the effective config in, a param diff out
    ({"recipe.learning_rate": 1e-4}), or None. The diff is validated against the schema and
    must keep the experiment (FROZEN keys, the effective batch) before it is used. Optional
    attributes, recorded with the fix: `name` (who advised) and `why` (its last reason)."""

    def propose_fix(self, failure: Failure, config: dict[str, Any]) -> dict[str, Any] | None: ...


_ADVISOR: Advisor | None = None


def use_advisor(advisor: Advisor | None) -> None:
    """Register the advisor for failures no rule fixes (None: rules only, the default).

    The hook for the co-pilot: an entry point above forge.train (a stage script, the CLI)
    calls this when a co-pilot is configured. Nothing here needs the network."""
    global _ADVISOR
    _ADVISOR = advisor


def _get(obj: Any, dotted: str) -> Any:
    for part in dotted.split("."):
        obj = getattr(obj, part)
    return obj


def _set(obj: Any, parts: list[str], value: Any) -> Any:
    if len(parts) == 1:
        return dataclasses.replace(obj, **{parts[0]: value})
    child = getattr(obj, parts[0])
    return dataclasses.replace(obj, **{parts[0]: _set(child, parts[1:], value)})


def apply(
    diff: dict[str, Any], recipe: RecipeConfig, hw: HardwareConfig
) -> tuple[RecipeConfig, HardwareConfig]:
    """`recipe` and `hw` with `diff` applied; ValueError naming the key for a key that does
    not exist, a value of the wrong type, or one outside the schema's range or choices."""
    roots = {"recipe": recipe, "hardware": hw}
    for key, value in diff.items():
        group, _, rest = key.partition(".")
        if group not in roots or not rest:
            raise ValueError(f"{key}: a fix may change recipe.* or hardware.* only")
        try:
            current = _get(roots[group], rest)
        except AttributeError:
            raise ValueError(f"{key}: unknown key") from None
        if dataclasses.is_dataclass(current) or not _same_type(current, value):
            raise ValueError(
                f"{key}: expected {type(current).__name__}, got {type(value).__name__}"
            )
        roots[group] = _set(roots[group], rest.split("."), value)
    bad = problems(roots["recipe"], "recipe.") + problems(roots["hardware"], "hardware.")
    if bad:
        raise ValueError("; ".join(bad))
    return roots["recipe"], roots["hardware"]


def _same_type(current: Any, value: Any) -> bool:
    if current is None or value is None:
        return True
    if isinstance(current, bool) or isinstance(value, bool):
        return isinstance(current, bool) and isinstance(value, bool)
    if isinstance(current, float):
        return isinstance(value, int | float)
    return isinstance(value, type(current))


def _effective_batch(recipe: RecipeConfig) -> int:
    return recipe.batch_size * recipe.gradient_accumulation_steps


def validate_proposal(
    proposal: Any, recipe: RecipeConfig, hw: HardwareConfig
) -> tuple[dict[str, Any] | None, str | None]:
    """(the diff, None) when an advisor's proposal is a usable fix, else (None, why not)."""
    if not isinstance(proposal, dict) or not proposal:
        return None, "the advisor proposed no param diff"
    if not all(isinstance(k, str) for k in proposal):
        return None, "a param diff's keys are dotted config keys"
    frozen = [k for k in proposal if any(k == f or k.startswith(f + ".") for f in FROZEN)]
    if frozen:
        return None, f"{frozen[0]}: a fix may not change what the experiment is"
    try:
        new_recipe, new_hw = apply(proposal, recipe, hw)
    except ValueError as exc:
        return None, str(exc)
    if _effective_batch(new_recipe) != _effective_batch(recipe):
        return None, "the effective batch (batch_size x gradient_accumulation_steps) must stay"
    if (new_recipe, new_hw) == (recipe, hw):
        return None, "the proposal changes nothing"
    return dict(proposal), None


def _halvings(recipe: RecipeConfig) -> list[dict[str, Any]]:
    """Smaller micro-batches, each the largest divisor of the last at most half of it, with
    the accumulation that keeps the effective batch."""
    out, b, acc = [], recipe.batch_size, recipe.gradient_accumulation_steps
    while b > 1:
        nb = max(d for d in range(1, b // 2 + 1) if b % d == 0)
        acc, b = acc * (b // nb), nb
        out.append({"recipe.batch_size": b, "recipe.gradient_accumulation_steps": acc})
    return out


def oom_ladder(recipe: RecipeConfig, hw: HardwareConfig, heal: HealConfig) -> list[Fix]:
    """Every OOM fix still open, in policy order, each cumulative from the current config."""
    ladder: list[Fix] = []
    acc: dict[str, Any] = {}
    for name in heal.oom_fixes:
        if name == "halve_batch":
            for step in _halvings(recipe):
                acc = {**acc, **step}
                ladder.append(
                    Fix(
                        dict(acc),
                        f"micro-batch {step['recipe.batch_size']} x accumulation "
                        f"{step['recipe.gradient_accumulation_steps']} (effective batch "
                        f"{_effective_batch(recipe)} kept)",
                    )
                )
        elif name == "gradient_checkpointing" and not recipe.gradient_checkpointing:
            acc = {**acc, "recipe.gradient_checkpointing": True}
            ladder.append(Fix(dict(acc), "gradient checkpointing on"))
        elif (
            name == "quantize_4bit"
            and hw.device == "cuda"
            and recipe.adapter is not None
            and hw.quantization == "none"
        ):
            acc = {**acc, "hardware.quantization": "4bit"}
            ladder.append(Fix(dict(acc), "4-bit base weights (QLoRA)"))
    return ladder


def _plan(recipe: RecipeConfig, hw: HardwareConfig, shape: Any) -> Any:
    from forge.hardware.memory import Plan

    lora = recipe.adapter
    return Plan(
        shape=shape,
        kind=("qlora" if hw.quantization != "none" else "lora") if lora else "full",
        batch_size=recipe.batch_size,
        seq_len=recipe.max_length,
        precision=resolve_precision(hw.precision, hw.device, hw.architecture),
        quantization=hw.quantization,
        lora_rank=lora.rank if lora else 0,
        lora_targets=tuple(lora.target_modules) if lora else (),
        num_processes=hw.num_processes,
        strategy=hw.strategy,
        device=hw.device,
        gradient_accumulation_steps=recipe.gradient_accumulation_steps,
        gradient_checkpointing=recipe.gradient_checkpointing,
    )


def predict_oom_fix(
    ladder: list[Fix], recipe: RecipeConfig, hw: HardwareConfig, shape: Any, memory_gib: float
) -> Fix | None:
    """The first rung the memory estimator says fits in `memory_gib`, when the estimator
    agrees that the current config does not (otherwise it cannot see what filled memory)."""
    from forge.hardware.memory import estimate

    now = estimate(_plan(recipe, hw, shape)).total_gib
    if now <= memory_gib:
        return None
    for fix in ladder:
        r, h = apply(fix.diff, recipe, hw)
        est = estimate(_plan(r, h, shape)).total_gib
        if est <= memory_gib:
            fix.predicted = {
                "by": "memory estimator",
                "estimate_gib": round(est, 2),
                "current_estimate_gib": round(now, 2),
                "memory_gib": round(memory_gib, 2),
            }
            return fix
    return None


def next_fix(
    failure: Failure,
    recipe: RecipeConfig,
    hw: HardwareConfig,
    shape: Any = None,
) -> Fix | None:
    """The rule for `failure`'s class applied to the effective config, or None when no rule
    matches or every fix of the class is spent."""
    heal = recipe.heal
    if failure.cls in ("cuda_oom", "host_oom"):
        ladder = oom_ladder(recipe, hw, heal)
        if not ladder:
            return None
        if shape is not None and failure.memory_gib:
            predicted = predict_oom_fix(ladder, recipe, hw, shape, failure.memory_gib)
            if predicted is not None:
                return predicted
        return ladder[0]
    if failure.cls == "precision":
        chain = list(heal.precision_fallback)
        bad = failure.dtype or resolve_precision(hw.precision, hw.device, hw.architecture)
        later = chain[chain.index(bad) + 1 :] if bad in chain else []
        if not later:
            return None
        return Fix({"hardware.precision": later[0]}, f"{bad} is not supported here: {later[0]}")
    if failure.cls in ("nan_loss", "divergence"):
        lr = recipe.learning_rate * heal.nan_lr_factor
        diff: dict[str, Any] = {"recipe.learning_rate": float(f"{lr:.6g}")}
        cap = heal.nan_max_grad_norm
        if recipe.max_grad_norm == 0 or recipe.max_grad_norm > cap:
            diff["recipe.max_grad_norm"] = cap
        return Fix(
            diff,
            f"from the last good checkpoint, learning rate x {heal.nan_lr_factor}, clipping "
            f"at {min(cap, recipe.max_grad_norm or cap)}",
        )
    if failure.cls == "collective_timeout":
        return Fix({}, "retry as is")
    return None


def advise(failure: Failure, recipe: RecipeConfig, hw: HardwareConfig) -> tuple[Fix | None, str]:
    """The registered advisor's fix for a failure no rule matched, validated; (None, why)."""
    if _ADVISOR is None:
        return None, "no rule matches and no advisor is registered"
    config = {"recipe": dataclasses.asdict(recipe), "hardware": dataclasses.asdict(hw)}
    try:
        proposal = _ADVISOR.propose_fix(failure, config)
    except Exception as exc:  # an advisor's failure must not hide the training failure
        return None, f"the advisor failed: {type(exc).__name__}: {exc}"
    who = getattr(_ADVISOR, "name", "the advisor")
    diff, why = validate_proposal(proposal, recipe, hw)
    if diff is None:
        return None, f"the advisor's proposal {_shown(proposal)} was refused: {why}"
    said = getattr(_ADVISOR, "why", "")  # the advisor's own one-line reason, if it gave one
    return Fix(diff, f"proposed by {who}" + (f": {said}" if said else ""), by="advisor"), ""


def _shown(proposal: Any) -> str:
    readable = isinstance(proposal, dict) and proposal and all(isinstance(k, str) for k in proposal)
    text = describe_fix(proposal) if readable else repr(proposal)
    return text if len(text) <= 120 else text[:117] + "..."


# -- what the user sees ---------------------------------------------------------------------


def merged(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The param diff of every attempt's fix, in order: the effective config's difference
    from the declared one."""
    out: dict[str, Any] = {}
    for row in rows:
        out.update(row.get("fix") or {})
    return out


def override_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "[" + ",".join(override_value(v) for v in value) + "]"
    return str(value)


def override(diff: dict[str, Any], prefix: list[str] | tuple[str, ...] = ()) -> str | None:
    """`forge compose ...` that makes `diff` permanent (after the overrides in `prefix`)."""
    if not diff:
        return None
    kept = [w for w in prefix if w.partition("=")[0].lstrip("+~") not in diff]
    words = [*kept, *(f"{k}={override_value(v)}" for k, v in sorted(diff.items()))]
    return "forge compose " + " ".join(words)


def describe_fix(diff: dict[str, Any]) -> str:
    return " ".join(f"{k}={override_value(v)}" for k, v in sorted(diff.items())) or "as is"


def history(rows: list[dict[str, Any]]) -> str:
    """'1 cuda_oom; 2 (recipe.batch_size=16 ...) ok' : each attempt's fix and outcome."""
    parts = []
    for row in rows:
        fix = f" after {describe_fix(row['fix'])}" if row.get("attempt", 1) > 1 else ""
        parts.append(f"attempt {row['attempt']}{fix}: {row.get('class') or 'ok'}")
    return "; ".join(parts)
