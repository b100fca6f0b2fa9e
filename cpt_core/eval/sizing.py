"""Evaluation sized to the machine: one factor for every model, from measured throughput.

A 135M decoder embeds three to four times fewer texts a second on an AVX2-only CPU than on one
that computes bf16 natively, so a profile sized for one takes an hour on the other. With
`model_minutes` set, the first dense model embeds a fixed-seed sample of the very texts it is
about to be evaluated on; the projection for the whole profile picks a power-of-two factor for
its caps. The factor is the same for every model, so their figures stay comparable, and
results.json records what was measured and what was chosen.
"""

from __future__ import annotations

from cpt_core.eval.profile import EvalProfile
from cpt_core.model.encoders import TextEncoder
from cpt_core.model.throughput import SAMPLE, texts_per_second

SMALLEST = 1 / 8  # below this the quick profile's tasks would measure mostly noise


def size_to_budget(
    profile: EvalProfile, shrinking: list[str], fixed: list[str], encoder: TextEncoder
) -> tuple[EvalProfile, dict]:
    """`profile` scaled so that one model embeds `shrinking` (texts the caps shrink) and
    `fixed` (code-search candidates, which stay) within `profile.model_minutes` at the rate
    `encoder` shows here; with what was measured. A small evaluation is not measured."""
    budget = profile.model_minutes
    texts = shrinking + fixed
    record: dict = {"model_minutes": budget, "texts": len(texts), "factor": 1.0}
    if budget is None or len(texts) <= 4 * SAMPLE:  # measuring would cost a good part
        return profile, record
    rate = texts_per_second(encoder, texts, profile.sentence_side, profile.seed)

    def minutes(factor: float) -> float:
        return (len(shrinking) * factor + len(fixed)) / rate / 60

    factor = 1.0
    while factor > SMALLEST and minutes(factor) > budget:
        factor /= 2
    record |= {
        "texts_per_s": round(rate, 1),
        "projected_minutes": round(minutes(1.0), 1),
        "factor": factor,
        "minutes_at_factor": round(minutes(factor), 1),
    }
    return profile.scaled(factor), record
