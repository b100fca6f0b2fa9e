"""The learning-rate schedule, and a run's length fixed from a wall-clock budget.

A CPU without native bf16 takes four times as long per step as one with it, so a preset that
names steps alone runs 10 minutes on one machine and 40 on another. `optim.max_minutes` turns
minutes into steps once, from the run's own measured steps, and the cosine decays to that
length exactly as if it had been `max_steps` from the start: the length is fixed while the
learning rate is still warming up, before any step's rate depends on it.
"""

from __future__ import annotations

import logging
import math
import time

from cpt_core.dist.group import agree_max

log = logging.getLogger(__name__)


class WarmupCosine:
    """Linear warm-up over `warmup` steps, then cosine decay to `min_ratio` of the peak at
    `horizon`. A callable object rather than a closure, so that LambdaLR's state_dict carries
    its attributes into checkpoints: a run whose length a budget fixed resumes with it."""

    def __init__(self, warmup: int, horizon: int, min_ratio: float):
        self.warmup, self.horizon, self.min_ratio = warmup, horizon, min_ratio
        self.timed = False  # the horizon came from a time budget, not from max_steps

    def __call__(self, step: int) -> float:
        if step < self.warmup:
            return (step + 1) / (self.warmup + 1)
        span = max(1, self.horizon - self.warmup)
        progress = min(1.0, (step - self.warmup) / span)
        cosine = 0.5 * (1 + math.cos(math.pi * progress))
        return self.min_ratio + (1 - self.min_ratio) * cosine


class StepBudget:
    """Fixes `schedule.horizon` from `minutes` of wall-clock time, once, at the end of the
    second step this process runs (the first pays for warm-up: allocation, first kernels), or
    of the first when the second would already be past warm-up. Every rank measures; they
    agree on the slowest, so all stop at the same step."""

    def __init__(self, schedule: WarmupCosine, minutes: float, first_step: int):
        self.schedule, self.seconds = schedule, minutes * 60
        self.decide_at = first_step + (2 if first_step + 2 <= schedule.warmup else 1)
        self.started = self.last = time.perf_counter()

    def observe(self, step: int) -> None:
        """Call after each optimiser step and before the scheduler's: at the deciding step the
        horizon is set, so the next step's rate already decays to it."""
        now, previous = time.perf_counter(), self.last
        self.last = now
        if step != self.decide_at or self.schedule.timed:
            return
        per_step = agree_max(now - previous)
        elapsed = agree_max(now - self.started)
        fit = step + int(max(0.0, self.seconds - elapsed) // per_step)
        limit = self.schedule.horizon
        self.schedule.horizon, self.schedule.timed = max(step, min(limit, fit)), True
        log.info(
            "training for %d steps: %.1f of %.1f minutes at %.1f s a step (max_steps %d)",
            self.schedule.horizon,
            elapsed / 60,
            self.seconds / 60,
            per_step,
            limit,
        )
