"""A filtered outcome: items a miner dropped on purpose, by reason, to be counted in the manifest.

Both miners yield these next to their rows and dead letters, so that every item read lands in
exactly one bucket and the manifest's counts add up. `unit` says what was dropped when it is
the miner's unit of account (a page, a function): those are outcomes in the manifest's
`counts.balance`, whose inputs are the units found (`Found`). Lines, passages or files
dropped on the way are counted but are not the unit.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Filtered:
    reason: str
    count: int = 1
    unit: str | None = None


@dataclass(frozen=True)
class Found:
    """`count` units of account entered the miner here (the balance's inputs)."""

    unit: str
    count: int
