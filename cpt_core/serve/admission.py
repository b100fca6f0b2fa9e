"""Admission: who may ask, and how many at once, decided before a byte of the body is read.

The outermost layer of the server, as text-embeddings-inference takes a permit before any work.
A request without a valid key gets its 401 from the headers alone: the body is never parsed or
kept, so a keyless client cannot make the server buffer a body, parse JSON or tokenize. A body
that declares a length within `max_body_bytes` is let through the connection and dropped as it
arrives (uvicorn discards what no handler reads), so the client reads its 401 rather than a
reset; any other (chunked, or larger) ends the connection. A request beyond
`max_concurrent` in flight gets a 503 with Retry-After at once, rather than a place in an
unbounded line of handlers each holding its body. Only `public` paths (the health probe; the
metrics with `--public-metrics`) pass without a key; the API docs and schema need one too.
"""

from __future__ import annotations

from collections.abc import Callable

import orjson

from cpt_core.serve.api_keys import authorised
from cpt_core.serve.body_limit import declared_within
from cpt_core.serve.errors import error_body

NO_KEY = "You didn't provide an API key: send Authorization: Bearer KEY"
WRONG_KEY = "Incorrect API key provided"


class Admission:
    def __init__(
        self,
        app,
        keys: list[bytes],
        max_concurrent: int,
        max_body_bytes: int,
        public: frozenset[str] = frozenset({"/health"}),
        refused: Callable[[str], None] = lambda reason: None,
    ):
        self.app = app
        self.keys = keys
        self.max_concurrent = max_concurrent
        self.max_body_bytes = max_body_bytes
        self.public = public
        self.refused = refused  # counts each refusal by its reason (the metrics)
        self.in_flight = 0

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http" or scope["path"] in self.public:
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        authorization = (
            headers[b"authorization"].decode("latin-1") if b"authorization" in headers else None
        )
        drained = declared_within(headers.get(b"content-length"), self.max_body_bytes)
        if not authorised(authorization, self.keys):
            message = WRONG_KEY if authorization else NO_KEY
            await self._refuse(send, drained, 401, message, "invalid_api_key")
            return
        if self.in_flight >= self.max_concurrent:
            message = f"the server is handling {self.max_concurrent} requests; retry shortly"
            retry = [(b"retry-after", b"1")]
            await self._refuse(send, drained, 503, message, "overloaded", retry)
            return
        self.in_flight += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.in_flight -= 1

    async def _refuse(
        self, send, drained: bool, status: int, message: str, code: str, headers=()
    ) -> None:
        """Answer without reading the body: one of a declared, bounded length is dropped as it
        arrives; any other ends the connection."""
        self.refused(code)
        payload = orjson.dumps(error_body(status, message, None, code))
        head = [(b"content-type", b"application/json"), *headers]
        if not drained:
            head.append((b"connection", b"close"))
        await send({"type": "http.response.start", "status": status, "headers": head})
        await send({"type": "http.response.body", "body": payload})
