"""Read JSON Lines (plain or gzipped) as numbered objects; any damage is one clear error."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from pathlib import Path

from cpt_core.errors import CptError


def read_jsonl(path: Path) -> Iterator[tuple[int, dict]]:
    """(line number, object) for each non-blank line; a truncated gzip, undecodable bytes or a
    line that is not a JSON object raise CptError naming the file (and line)."""
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rt", encoding="utf-8") as handle:
            for n, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                try:
                    row = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise CptError(f"{path}:{n}: not valid JSON ({exc.msg})") from exc
                if not isinstance(row, dict):
                    raise CptError(f"{path}:{n}: expected a JSON object")
                yield n, row
    except (OSError, EOFError, UnicodeDecodeError) as exc:
        raise CptError(f"{path}: unreadable ({type(exc).__name__}: {exc})") from exc
