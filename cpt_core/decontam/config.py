"""The miners' decontamination settings (the `decontaminate:` block of configs/mine-*.yaml)."""

from __future__ import annotations

from pydantic import Field

from cpt_core.config import Strict
from cpt_core.eval.profile import EvalData


class DecontaminationConfig(Strict):
    enabled: bool = True
    ngram: int = Field(13, ge=4, le=64)  # words a pair must share with an eval text (GPT-3: 13)
    min_words: int = Field(8, ge=1)  # eval texts shorter than ngram, down to this, count whole
    min_function_tokens: int = Field(20, ge=1)  # shorter functions never match by shape alone
    against: EvalData = EvalData()  # unset: the public sets; the pipeline gives its own
