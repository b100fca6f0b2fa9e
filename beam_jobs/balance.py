"""counts.balance: every unit a miner reads (a page, a function) lands in exactly one outcome.

Steps emit `((INPUTS, unit), n)` where units enter and `((OUTCOMES, name), n)` where each one
leaves: filtered for a reason, set aside as a dead letter, dropped as a duplicate, or kept.
The manifest then records `{"unit", "inputs", "outcomes"}` with `inputs == sum(outcomes)`;
anything lost silently on the way shows as a difference. Counts of other things (lines cut
as boilerplate, passage pairs over a cap) stay in their own groups.
"""

from __future__ import annotations

import logging

import apache_beam as beam

INPUTS, OUTCOMES = "inputs", "outcomes"

log = logging.getLogger("cpt.mine")


def as_outcomes(label: str) -> beam.PTransform:
    """((group, name), n) counts of whole units -> the same as outcomes named group_name."""
    return label >> beam.Map(lambda kv: ((OUTCOMES, f"{kv[0][0]}_{kv[0][1]}"), kv[1]))


def balance(nested: dict[str, dict[str, int]]) -> dict | None:
    """Take the inputs and outcomes groups out of nested counts, as counts.balance."""
    found, outcomes = nested.pop(INPUTS, {}), nested.pop(OUTCOMES, {})
    if not found:
        return None
    (unit, inputs), *others = found.items()
    if others:
        raise ValueError(f"one unit of account per miner, not {sorted(found)}")
    if inputs != sum(outcomes.values()):
        log.warning("balance: %d %ss read, %d accounted for", inputs, unit, sum(outcomes.values()))
    return {"unit": unit, "inputs": inputs, "outcomes": outcomes}
