"""Every answer in OpenAI's shape: JSON bodies, and errors as `{"error": {...}}` whatever raised
them (cpt's own ApiError, a full queue, FastAPI's validation, an unknown route, a crash), so
every client library reads them as it reads OpenAI's own.
"""

from __future__ import annotations

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from starlette.exceptions import HTTPException

from cpt_core.serve.dynamic_batching import BeyondCapacity, QueueFull
from cpt_core.serve.errors import ApiError, error_body, status_message


def json_response(payload: dict, status: int = 200, headers: dict | None = None) -> Response:
    return Response(
        orjson.dumps(payload, option=orjson.OPT_SERIALIZE_NUMPY),
        status_code=status,
        media_type="application/json",
        headers=headers,
    )


def answer_errors_in_openai_shape(app: FastAPI) -> None:
    """Register one handler per kind of failure on `app`."""

    @app.exception_handler(ApiError)
    async def api_error(_: Request, exc: ApiError):
        return json_response(exc.body, exc.status, exc.headers)

    @app.exception_handler(QueueFull)
    async def queue_full(_: Request, exc: QueueFull):
        return json_response(
            error_body(429, str(exc), None, "queue_full"), 429, {"Retry-After": "1"}
        )

    @app.exception_handler(BeyondCapacity)
    async def beyond_capacity(_: Request, exc: BeyondCapacity):
        return json_response(error_body(400, str(exc), "input", "too_many_inputs"), 400)

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, exc: RequestValidationError):
        return json_response(validation_body(exc), 400)

    @app.exception_handler(HTTPException)
    async def http_error(_: Request, exc: HTTPException):
        code = "not_found" if exc.status_code == 404 else None
        message = exc.detail if isinstance(exc.detail, str) else status_message(exc.status_code)
        return json_response(error_body(exc.status_code, message, None, code), exc.status_code)

    @app.exception_handler(Exception)
    async def crashed(_: Request, exc: Exception):
        message = f"the server failed: {type(exc).__name__}: {exc}"[:500]
        return json_response(error_body(500, message, None, "internal_error"), 500)


def validation_body(exc: RequestValidationError) -> dict:
    """One message for the first problem, naming the field (OpenAI's style), never FastAPI's
    default 422 {"detail": [...]}."""
    first = exc.errors()[0]
    location = [str(p) for p in first.get("loc", ()) if p != "body"]
    if first.get("type") == "json_invalid":
        return error_body(
            400, "We could not parse the JSON body of your request.", None, "invalid_json"
        )
    message = str(first.get("msg", "invalid request")).removeprefix("Value error, ")
    if first.get("type") == "missing":
        message = f"you must provide a {'.'.join(location)} parameter"
    elif location:
        message = f"{'.'.join(location)}: {message}"
    return error_body(400, message, location[0] if location else None, "invalid_request")
