"""The worker's side of healing and resuming (forge/train/heal.py is the supervisor's):

- the NaN/Inf check on every micro-step's loss, and the divergence watchdog on logged losses;
- on resume, the learning rate of the run file (a healed attempt's may be lower than the one
  in the checkpoint's optimizer and scheduler state), and the counters a trainer keeps
  outside its checkpoint (TRL's num_tokens) continue instead of restarting from 0;
- the test-only fault switch FORGE_TEST_INJECT (below).

FORGE_TEST_INJECT="KIND@step=N[,attempts=K][,max_batch=B]" (several joined by ';') makes the
worker fail at optimizer step N with the real failure of KIND, in attempts 1..K (default 1),
or while recipe.batch_size > B. For tests only:

    cuda_oom            raises torch.cuda.OutOfMemoryError (CUDA's message)
    bf16                raises the RuntimeError torch.autocast raises on a GPU without bf16,
                        while the run's precision is bf16
    nan                 writes NaN into a trainable weight: the next loss is really NaN
    collective_timeout  a real gloo all_reduce that times out (a second rank that never joins it)
    unknown             raises a RuntimeError no healing rule knows (for the advisor hook)
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import Any

from transformers import TrainerCallback

from forge.train.heal import LossDiverged, NonFiniteLoss

INJECT_ENV = "FORGE_TEST_INJECT"
COUNTERS = "forge_counters"  # our entry in TrainerState.stateful_callbacks (saved, not restored)


@dataclass
class Injection:
    kind: str
    step: int
    attempts: int = 1
    max_batch: int | None = None


def injections(text: str | None) -> list[Injection]:
    out = []
    for item in (text or "").split(";"):
        if not item.strip():
            continue
        kind, _, params = item.strip().partition("@")
        kw: dict[str, Any] = {}
        for pair in params.split(","):
            key, _, value = pair.partition("=")
            if key.strip():
                kw[key.strip()] = int(value)
        out.append(Injection(kind=kind, **kw))
    return out


class Guard(TrainerCallback):
    """One callback for the worker's checks; `trainer` is set by TrainRun.fit()."""

    def __init__(self, cfg: Any, precision: str, attempt: int) -> None:
        self.cfg = cfg
        self.precision = precision
        self.attempt = attempt
        self.trainer: Any = None
        self.step = 0
        self.first_loss: float | None = None
        self.bad_logs: list[int] = []
        self.faults = injections(os.environ.get(INJECT_ENV))

    # -- resume ---------------------------------------------------------------------------
    def on_train_begin(self, args, state, control, optimizer=None, lr_scheduler=None, **kw):
        self.step = state.global_step
        if state.global_step == 0:
            return
        # a healed attempt may run at a lower learning rate than the checkpoint's state
        base = getattr(lr_scheduler, "base_lrs", None)
        if base and optimizer is not None and base[0] > 0:
            ratio = self.cfg.learning_rate / base[0]
            if not math.isclose(ratio, 1.0, rel_tol=1e-9):
                lr_scheduler.base_lrs = [b * ratio for b in base]
                for group in optimizer.param_groups:
                    group["lr"] *= ratio
                    if "initial_lr" in group:
                        group["initial_lr"] *= ratio
                if hasattr(lr_scheduler, "_last_lr"):
                    lr_scheduler._last_lr = [g["lr"] for g in optimizer.param_groups]
        saved = (state.stateful_callbacks or {}).get(COUNTERS) or {}
        if self.trainer is not None and "num_tokens" in saved:
            if hasattr(self.trainer, "_total_train_tokens"):
                self.trainer._total_train_tokens = saved["num_tokens"]
        first = saved.get("first_loss")
        self.first_loss = first if first is not None else self.first_loss

    def on_step_begin(self, args, state, control, model=None, **kw):
        self.step = state.global_step
        for fault in self.faults:
            if fault.step == state.global_step and self._armed(fault):
                self._inject(fault, model)

    def on_step_end(self, args, state, control, **kw):
        self.step = state.global_step
        counters = {"first_loss": self.first_loss}
        if self.trainer is not None and hasattr(self.trainer, "_total_train_tokens"):
            counters["num_tokens"] = self.trainer._total_train_tokens
        state.stateful_callbacks[COUNTERS] = counters  # saved with the next checkpoint

    # -- the watchdog ---------------------------------------------------------------------
    def on_log(self, args, state, control, logs=None, **kw):
        loss = (logs or {}).get("loss")
        factor = self.cfg.heal.divergence_factor
        if loss is None or not factor:
            return
        if not math.isfinite(loss):
            raise NonFiniteLoss(
                f"logged loss is {loss} at step {state.global_step}", state.global_step
            )
        if self.first_loss is None:
            self.first_loss = loss
            return
        if self.first_loss < 0.01:  # near-zero starts (online RL) have no scale to watch
            return
        if loss > factor * self.first_loss:
            self.bad_logs.append(state.global_step)
            if len(self.bad_logs) >= self.cfg.heal.divergence_patience:
                first_bad = max(0, self.bad_logs[0] - args.logging_steps + 1)
                raise LossDiverged(
                    f"loss {loss:.4g} at step {state.global_step} above {factor} x the first "
                    f"logged loss {self.first_loss:.4g} for {len(self.bad_logs)} logs",
                    first_bad,
                )
        else:
            self.bad_logs.clear()

    def check_loss(self, loss: Any) -> None:
        """Called on every micro-step's loss (TrainRun.fit wraps training_step)."""
        import torch

        if not bool(torch.isfinite(loss.detach()).all()):
            step = self.step + 1
            raise NonFiniteLoss(
                f"loss is {float(loss.detach().float().mean())} at step {step}", step
            )

    # -- the test-only fault switch -------------------------------------------------------
    def _armed(self, fault: Injection) -> bool:
        if fault.kind == "bf16":
            return self.precision == "bf16"
        if fault.max_batch is not None:
            return self.cfg.batch_size > fault.max_batch
        return self.attempt <= fault.attempts

    def _inject(self, fault: Injection, model: Any) -> None:
        import torch

        if fault.kind == "cuda_oom":
            raise torch.cuda.OutOfMemoryError(
                "CUDA out of memory. Tried to allocate 2.00 GiB. GPU 0 has a total capacity of "
                "79.19 GiB of which 1.06 GiB is free. Of the allocated memory 75.20 GiB is "
                "allocated by PyTorch (injected by FORGE_TEST_INJECT)"
            )
        if fault.kind == "bf16":
            raise RuntimeError(
                "Current CUDA Device does not support bfloat16. Please switch dtype to float16."
            )
        if fault.kind == "nan":
            with torch.no_grad():
                weight = next(p for p in model.parameters() if p.requires_grad)
                weight.fill_(float("nan"))
            return
        if fault.kind == "collective_timeout":
            collective_timeout()
        if fault.kind == "unknown":
            raise RuntimeError(
                f"injected fault at step {self.step} that no healing rule knows "
                f"(injected by {INJECT_ENV})"
            )
        raise ValueError(f"{INJECT_ENV}: unknown fault '{fault.kind}'")


def collective_timeout() -> None:
    """A real gloo all_reduce between this thread (rank 0) and a second rank (a thread) that
    joins the group but never calls it: gloo raises its own timeout."""
    import datetime
    import threading

    import torch
    import torch.distributed as dist

    timeout = datetime.timedelta(seconds=1)
    store = dist.TCPStore("127.0.0.1", 0, 2, True, timeout=timeout * 30, wait_for_workers=False)
    done = threading.Event()

    def silent_rank() -> None:
        peer = dist.TCPStore("127.0.0.1", store.port, 2, False, timeout=timeout * 30)
        group = dist.ProcessGroupGloo(peer, 1, 2, timeout)  # kept open, never called
        done.wait(30)
        del group

    threading.Thread(target=silent_rank, daemon=True).start()
    group = dist.ProcessGroupGloo(store, 0, 2, timeout)
    try:
        group.allreduce([torch.ones(1)]).wait()
    finally:
        done.set()
