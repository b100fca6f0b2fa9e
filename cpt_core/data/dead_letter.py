"""A dead letter: an input item the miners could not use, kept with its reason.

Both miners write these instead of raising or dropping, so a run's every input is accounted for.
`source` is the container (a repository, a WARC file), `item` the thing inside it (a path, a
record id), empty when the whole container failed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass


@dataclass(frozen=True)
class DeadLetter:
    source: str
    item: str
    reason: str
    detail: str = ""

    def to_json(self) -> str:
        return json.dumps(vars(self), sort_keys=True)
