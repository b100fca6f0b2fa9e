"""Per-step training metrics: appended to metrics.jsonl as they happen, plotted at the end."""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib

from cpt_core.train.flops import FlopCounter

matplotlib.use("Agg")
import matplotlib.pyplot as plt

CURVES = [
    ("loss", "contrastive loss"),
    ("accuracy", "in-batch accuracy"),
    ("scale", "logit scale exp(tau)"),
    ("grad_norm", "gradient norm"),
    ("lr", "learning rate"),
    ("pairs_per_s", "pairs / s"),
]


class Window:
    """Throughput since the last logged step. Rates are taken between logging steps, where the
    host has waited for the device: a per-step clock would time only the kernel launches."""

    def __init__(self, start: float):
        self.start, self.pairs, self.tokens, self.flops = start, 0, 0, 0.0

    def add(self, pairs: int, lengths: list[int], counter: FlopCounter) -> None:
        self.pairs += pairs
        self.tokens += sum(lengths)
        self.flops += counter.training(lengths)

    def rates(self, now: float, ranks: int, peak: float | None) -> dict:
        """pairs/s (global batch), tokens/s and MFU (this rank's share of the work, on one
        device), then a fresh window."""
        seconds = max(now - self.start, 1e-9)
        rates = {
            "pairs_per_s": self.pairs / seconds,
            "tokens_per_s": self.tokens * ranks / seconds,
            "mfu": self.flops / seconds / peak if peak else None,
        }
        self.__init__(now)
        return rates


class MetricsLog:
    def __init__(self, path: Path, enabled: bool = True):
        self.path = path
        self.enabled = enabled

    def append(self, record: dict) -> None:
        if self.enabled:
            with self.path.open("a") as handle:
                handle.write(json.dumps(record) + "\n")

    def truncate_after(self, step: int) -> None:
        """On resume, drop lines logged after the checkpoint, so each step appears once."""
        if self.enabled and self.path.exists():
            keep = [
                ln for ln in self.path.read_text().splitlines() if json.loads(ln)["step"] <= step
            ]
            self.path.write_text("".join(ln + "\n" for ln in keep))

    def read(self) -> list[dict]:
        if not self.path.exists():
            return []
        return [json.loads(ln) for ln in self.path.read_text().splitlines() if ln]


def plot_curves(records: list[dict], out: Path) -> Path:
    fig, axes = plt.subplots(2, 3, figsize=(13, 6.5))
    steps = [r["step"] for r in records]
    for ax, (key, title) in zip(axes.flat, CURVES, strict=True):
        ax.plot(steps, [r[key] for r in records], lw=1.2)
        ax.set_title(title)
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out
