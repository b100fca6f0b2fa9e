"""Tokenization: request inputs to wrapped token ids, bounded and fair across requests.

Texts go to one tokenizer thread (off the event loop) a slice at a time, so requests that
arrive together take turns there rather than waiting behind one large request; each text is cut
by characters to what its token cap can use before it is tokenized (cpt_core/model/
char_cut.py); and a request stops being tokenized as soon as it passes its token limit. Token
ids that a client sends are checked against the served model's vocabulary and wrapped.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

from cpt_core.model.delimiters import Side
from cpt_core.model.encoders import TextEncoder
from cpt_core.serve.errors import ApiError

SLICE = 64  # texts per turn on the tokenizer thread


class Tokenization:
    def __init__(self, max_request_tokens: int):
        self.max_request_tokens = max_request_tokens
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="cpt-tokenize")

    async def __call__(
        self, encoder: TextEncoder, inputs: list, side: Side
    ) -> tuple[list[list[int]], int]:
        """Each input's ids, wrapped for `side`, and how many tokens they hold."""
        if not isinstance(inputs[0], str):
            sequences = [encoder.wrap(ids, side) for ids in self._in_vocabulary(encoder, inputs)]
            return sequences, self._counted(0, sequences)
        loop = asyncio.get_running_loop()
        sequences: list[list[int]] = []
        tokens = 0
        for start in range(0, len(inputs), SLICE):
            texts = inputs[start : start + SLICE]
            done = await loop.run_in_executor(self._thread, encoder.tokenize, texts, side)
            sequences += done
            tokens = self._counted(tokens, done)
        return sequences, tokens

    @staticmethod
    def _in_vocabulary(encoder: TextEncoder, inputs: list[list[int]]) -> list[list[int]]:
        for i, ids in enumerate(inputs):
            bad = next((t for t in ids if not 0 <= t < encoder.vocab_size), None)
            if bad is not None:
                raise ApiError(
                    400,
                    f"input[{i}] holds token id {bad}, outside the served model's vocabulary "
                    f"(0..{encoder.vocab_size - 1})",
                    "input",
                    "invalid_token_id",
                )
        return inputs

    def _counted(self, before: int, sequences: list[list[int]]) -> int:
        """The request's tokens so far, `before` plus these; refused past the limit."""
        tokens = before + sum(len(s) for s in sequences)
        if tokens > self.max_request_tokens:
            raise ApiError(
                400,
                f"this request holds {tokens} tokens; the limit is "
                f"{self.max_request_tokens} per request",
                "input",
                "too_many_tokens",
            )
        return tokens

    def close(self) -> None:
        self._thread.shutdown(wait=False, cancel_futures=True)
