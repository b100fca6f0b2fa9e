"""Request bodies: OpenAI's embeddings request (plus cpt's side) and the search request.

`input` takes every shape OpenAI's takes: a string, strings, token ids, or lists of token ids.
A client sends ids of the served model's tokenizer; they are checked against its vocabulary
later, when the model is known. What cannot be right is refused here with one message that
names the field.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

MAX_INPUTS = 2048  # OpenAI's limit per request


class EmbeddingRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    model: str
    input: list[str] | list[list[int]]
    encoding_format: Literal["float", "base64"] = "float"
    dimensions: int | None = None
    user: str | None = None  # accepted, as OpenAI's; cpt does not use it
    input_type: Literal["query", "document"] | None = None  # cpt's side; else from the alias

    @field_validator("input", mode="before")
    @classmethod
    def _inputs(cls, value: Any) -> list[str] | list[list[int]]:
        """One list of strings or one list of id lists, whatever shape came in."""
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not value:
            raise ValueError("input must be a non-empty string, array of strings or token ids")
        if all(_is_id(v) for v in value):
            value = [value]
        if len(value) > MAX_INPUTS:
            raise ValueError(f"at most {MAX_INPUTS} inputs per request, got {len(value)}")
        if all(isinstance(v, str) for v in value):
            empty = next((i for i, v in enumerate(value) if not v), None)
            if empty is not None:
                raise ValueError(f"input[{empty}] is an empty string; every input needs text")
            return value
        if all(isinstance(v, list) and v and all(_is_id(t) for t in v) for v in value):
            return value
        raise ValueError(
            "input must be a string, an array of strings, an array of token ids or an array "
            "of non-empty token-id arrays (not a mix)"
        )


class SearchFilter(BaseModel):
    model_config = ConfigDict(extra="forbid")

    ids: list[str] = Field(min_length=1, max_length=100_000)  # search only these documents


class SearchRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    query: str = Field(min_length=1)
    k: int = Field(10, ge=1, le=1000)
    filter: SearchFilter | None = None
    model: str | None = None  # optional; when given it must name the served model


def _is_id(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
