"""Typed configuration: the strict section every config is built from, and the YAML loader.

Each subsystem keeps its own sections beside it (`train/config.py`, `text/config.py`,
`code/config.py`, ...); what they share is here. Every field has a default, so a preset only
states what differs, and unknown keys are rejected: a typo in a preset should fail loudly
rather than silently run with the default.
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from cpt_core.errors import CptError

C = TypeVar("C", bound=BaseModel)


class Strict(BaseModel):
    """A config section: immutable, and unknown keys are an error rather than ignored."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def load_preset(model: type[C], path: str | Path | None = None, /, **overrides: object) -> C:
    """Read a YAML preset into `model` (or its defaults) and apply dotted overrides (any key,
    even `path` or `model`: those name fields, not these parameters)."""
    raw: dict = {}
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise CptError(f"config file not found: {path}")
        try:
            raw = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError as exc:
            raise CptError(f"config {path} is not valid YAML: {exc}".splitlines()[0]) from exc
    for dotted, value in overrides.items():
        node = raw
        *parents, leaf = dotted.split(".")
        for key in parents:
            node = node.setdefault(key, {})
        node[leaf] = value
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        raise CptError(explain(exc, model)) from exc


def explain(exc: ValidationError, model: type[BaseModel]) -> str:
    """Pydantic's first error as one line: an unknown key names the valid keys nearest to it
    (a typo is the usual cause), a bad value says what was expected."""
    first = exc.errors()[0]
    *parents, leaf = [str(part) for part in first["loc"]] or [""]
    where = ".".join([*parents, leaf])
    section: object = model
    for key in parents:
        field = section.model_fields.get(key) if _is_section(section) else None
        section = field.annotation if field else None
    if first["type"] != "extra_forbidden" or not _is_section(section):
        return f"invalid value for '{where}': {first['msg']}"
    prefix = "".join(f"{key}." for key in parents)
    valid = [prefix + key for key in section.model_fields]
    near = difflib.get_close_matches(where, valid, n=3, cutoff=0.6)
    listed = f"did you mean {' or '.join(near)}?" if near else "valid keys: " + ", ".join(valid)
    return f"unknown config key '{where}'; {listed}"


def _is_section(annotation: object) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)
