"""A filtered outcome: items a miner dropped on purpose, by reason, to be counted in the manifest.

Both miners yield these next to their rows and dead letters, so that every item read lands in
exactly one bucket and the manifest's counts add up.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Filtered:
    reason: str
    count: int = 1
