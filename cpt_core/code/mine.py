"""One source file in, its outcomes out: pair rows, filtered functions, dead letters.

This is the whole per-file logic of the code miner as a pure function; the Beam job only
distributes it. Every function found ends up in exactly one bucket, so counts add up.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

from cpt_core.code.extract import extract
from cpt_core.code.filters import DEFAULT_FILTERS, FilterConfig, file_reason, function_reason
from cpt_core.code.languages import language_for
from cpt_core.code.sources import SourceFile
from cpt_core.data.dead_letter import DeadLetter
from cpt_core.data.filtered import Filtered, Found
from cpt_core.data.schema import pair_id
from cpt_core.data.split import split_for
from cpt_core.dedup.minhash import exact_key

FUNCTION = "function"  # the code miner's unit of account (counts.balance)


def file_refusal(
    file: SourceFile, config: FilterConfig = DEFAULT_FILTERS
) -> Filtered | DeadLetter | None:
    """Why a whole source file is not parsed at all, or None when it is."""
    if b"\x00" in file.data[:8192]:
        return DeadLetter(file.repo, file.path, "binary_file")
    try:
        file.data.decode("utf-8")  # validation only: tree-sitter parses the bytes themselves
    except UnicodeDecodeError as exc:
        return DeadLetter(file.repo, file.path, "undecodable", f"byte {exc.start}: {exc.reason}")
    if reason := file_reason(file.path, file.data, config):
        return Filtered(reason)
    return None


def mine_file(
    file: SourceFile, licence: str, config: FilterConfig = DEFAULT_FILTERS
) -> Iterator[dict | Filtered | DeadLetter]:
    spec = language_for(file.path)
    if spec is None:
        return
    if refused := file_refusal(file, config):
        yield refused
        return
    result = extract(file.data, spec.name)
    yield Found(FUNCTION, result.broken + result.undocumented + len(result.functions))
    if result.error_nodes:
        yield Filtered("file_with_syntax_errors")  # counted once per file; its good parts go on
    if result.broken:
        yield Filtered("function_with_syntax_errors", result.broken, FUNCTION)
    if result.undocumented:
        yield Filtered("undocumented", result.undocumented, FUNCTION)
    for function in result.functions:
        if reason := function_reason(function, config):
            yield Filtered(reason, unit=FUNCTION)
            continue
        source = f"{file.repo}/{file.path}"
        meta = {
            "repo": file.repo,
            "path": file.path,
            "function": function.name,
            "start_line": function.start_line,
            "end_line": function.end_line,
            "is_method": function.is_method,
            "licence": licence,
            "docstring": function.docstring,
            "code_hash": exact_key(function.code),
        }
        yield {
            "pair_id": pair_id("code", source, function.summary, function.code),
            "kind": "code",
            "x": function.summary,
            "y": function.code,
            "language": spec.name,
            "source": source,
            "split": split_for(file.repo),
            "meta": json.dumps(meta, sort_keys=True),
            "negatives": None,
        }


def with_licence(row: dict, licence: str) -> dict:
    """A mined row with `licence` in its meta. A Beam job learns a repository's licence only
    after its files are read, so it mines them as UNKNOWN and joins the licence in after."""
    meta = json.loads(row["meta"]) | {"licence": licence}
    return row | {"meta": json.dumps(meta, sort_keys=True)}
