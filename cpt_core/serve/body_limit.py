"""Refuse request bodies over a size limit (413) before anything parses them.

A body is read up to the limit and replayed to the app; a declared Content-Length over the
limit is refused without reading at all. Chunked bodies are counted as they arrive, so no
client can make the server hold more than the limit per request.
"""

from __future__ import annotations

import json

from cpt_core.serve.errors import error_body


class BodyLimit:
    def __init__(self, app, max_bytes: int):
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and not declared_within(declared, self.max_bytes):
            await self._refuse(send)
            return
        chunks, size, more = [], 0, True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            more = message.get("more_body", False)
            if size > self.max_bytes:
                await self._refuse(send)
                return
        body, replayed = b"".join(chunks), False

        async def replay():
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)

    async def _refuse(self, send) -> None:
        message = f"request body larger than {self.max_bytes} bytes"
        payload = json.dumps(error_body(413, message, None, "request_too_large")).encode()
        headers = [(b"content-type", b"application/json"), (b"connection", b"close")]
        await send({"type": "http.response.start", "status": 413, "headers": headers})
        await send({"type": "http.response.body", "body": payload})


def declared_within(declared: bytes | None, max_bytes: int) -> bool:
    """Whether a Content-Length header declares a body of at most `max_bytes`."""
    return declared is not None and declared.isdigit() and int(declared) <= max_bytes
