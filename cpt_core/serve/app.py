"""The HTTP layer: routes, authentication, errors in OpenAI's shape, metrics.

It parses, checks and answers; a request takes its place in the queue (the batcher's permit)
before it is tokenized, tokenizing runs on one worker thread (off the event loop), texts cut
to their token cap by characters first, and embedding goes through the batcher, so no tensor
is touched here.

    POST /v1/embeddings   OpenAI's embeddings API (+ `input_type`, `NAME:query` aliases)
    POST /v1/search       {"query", "k", "filter": {"ids": [...]}} -> hits from the index
    GET  /v1/models       OpenAI's list shape: the name and its two side aliases
    GET  /health          200 while a model is served; "status": ready | swapping
    GET  /metrics         Prometheus

Keys and the concurrency cap are checked first, in the ASGI layer (admission.py); only /health
(and /metrics with `public_metrics`) answers without a key.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from starlette.exceptions import HTTPException

from cpt_core.model.delimiters import Side
from cpt_core.model.encoders import TextEncoder
from cpt_core.serve.admission import Admission
from cpt_core.serve.body_limit import BodyLimit
from cpt_core.serve.dynamic_batching import Batcher, BeyondCapacity, QueueFull
from cpt_core.serve.errors import ApiError, error_body, status_message
from cpt_core.serve.follow import RegistryFollower
from cpt_core.serve.holder import ModelHolder, Served
from cpt_core.serve.metrics import CONTENT_TYPE, Metrics
from cpt_core.serve.request_bodies import EmbeddingRequest, SearchRequest
from cpt_core.serve.settings import ServeSettings

TOKENIZE_SLICE = 64  # texts per turn on the tokenizer thread


def json_response(payload: dict, status: int = 200, headers: dict | None = None) -> Response:
    return Response(
        orjson.dumps(payload, option=orjson.OPT_SERIALIZE_NUMPY),
        status_code=status,
        media_type="application/json",
        headers=headers,
    )


def create_app(
    holder: ModelHolder,
    settings: ServeSettings,
    keys: list[bytes],
    follower: RegistryFollower | None = None,
) -> FastAPI:
    metrics = Metrics()
    batcher = Batcher(settings.batch_tokens(), settings.queue_capacity, metrics.batch)
    metrics.track_queue(lambda: batcher.pending)
    tokenizing = ThreadPoolExecutor(1, thread_name_prefix="cpt-tokenize")

    if follower is not None:
        metrics.track_follower(lambda: follower.errors)
    metrics.track_model(
        lambda: (holder.current.name, holder.current.encoder.space, holder.current.encoder.dtype)
    )

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI):
        tasks = [asyncio.create_task(batcher.run())]
        if follower is not None:
            tasks.append(asyncio.create_task(follower.follow(holder)))
        yield
        for task in tasks:
            task.cancel()
        batcher.close()
        tokenizing.shutdown(wait=False, cancel_futures=True)

    app = FastAPI(title="cpt", lifespan=lifespan, docs_url="/docs", redoc_url=None)
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)
    app.state.holder, app.state.batcher, app.state.metrics = holder, batcher, metrics
    app.state.follower = follower

    @app.middleware("http")
    async def measure(request: Request, call_next):
        started = time.perf_counter()
        response = await call_next(request)
        route = request.scope.get("route")
        path = route.path if route is not None else "unmatched"
        metrics.requests.labels(path, str(response.status_code)).inc()
        metrics.latency.labels(path).observe(time.perf_counter() - started)
        return response

    public = {"/health", "/metrics"} if settings.public_metrics else {"/health"}
    app.add_middleware(  # outermost: nothing runs for a request it refuses
        Admission,
        keys=keys,
        max_concurrent=settings.max_concurrent_requests,
        max_body_bytes=settings.max_body_bytes,
        public=frozenset(public),
        refused=lambda reason: metrics.refused.labels(reason).inc(),
    )

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

    async def tokenize(encoder: TextEncoder, inputs: list, side: Side) -> list[list[int]]:
        """Texts go to the tokenizer thread a slice at a time, so requests that arrive together
        take turns there, and tokenizing stops once a request passes its token limit."""
        loop = asyncio.get_running_loop()
        if isinstance(inputs[0], str):
            sequences: list[list[int]] = []
            for start in range(0, len(inputs), TOKENIZE_SLICE):
                texts = inputs[start : start + TOKENIZE_SLICE]
                sequences += await loop.run_in_executor(tokenizing, encoder.tokenize, texts, side)
                counted(sequences)
            return sequences
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
        return [encoder.wrap(ids, side) for ids in inputs]

    def counted(sequences: list[list[int]]) -> int:
        tokens = sum(len(s) for s in sequences)
        if tokens > settings.max_request_tokens:
            raise ApiError(
                400,
                f"this request holds {tokens} tokens; the limit is "
                f"{settings.max_request_tokens} per request",
                "input",
                "too_many_tokens",
            )
        return tokens

    @app.post("/v1/embeddings")
    async def embeddings(body: EmbeddingRequest):
        # this request's model, to the end, whatever swaps meanwhile
        served, side = requested(holder, body.model, body.input_type)
        dim = served.encoder.dim
        if body.dimensions is not None and body.dimensions != dim:
            raise ApiError(
                400,
                f"{served.name} produces {dim}-dimensional embeddings; dimensions must be "
                f"{dim} or omitted",
                "dimensions",
                "unsupported_dimensions",
            )
        with batcher.permit(len(body.input)):
            sequences = await tokenize(served.encoder, body.input, side)
            tokens = counted(sequences)
            vectors = await batcher.embed(served.encoder, sequences)
        data = [
            {"object": "embedding", "index": i, "embedding": encoded(v, body.encoding_format)}
            for i, v in enumerate(vectors)
        ]
        usage = {"prompt_tokens": tokens, "total_tokens": tokens}
        return json_response(
            {"object": "list", "data": data, "model": served.label, "usage": usage}
        )

    @app.post("/v1/search")
    async def search(body: SearchRequest):
        served = holder.current
        if body.model is not None:
            served, _ = requested(holder, body.model, None)
        index = served.index
        if index is None:
            raise ApiError(
                404,
                f"{served.name} is served without an index; start cpt serve with --index",
                None,
                "index_not_found",
            )
        with batcher.permit(1):
            sequences = await tokenize(index.encoder, [body.query], "query")
            tokens = counted(sequences)
            vectors = await batcher.embed(index.encoder, sequences)
        within = index.rows_of(body.filter.ids) if body.filter else None
        (hits,) = await asyncio.to_thread(index.search_vectors, vectors, body.k, within)
        data = [{"id": h.id, "score": h.score, "text": h.text} for h in hits]
        usage = {"prompt_tokens": tokens, "total_tokens": tokens}
        return json_response(
            {"object": "list", "data": data, "model": served.label, "usage": usage}
        )

    @app.get("/v1/models")
    async def models():
        return json_response({"object": "list", "data": model_cards(holder)})

    @app.get("/v1/models/{model:path}")
    async def model(model: str):
        card = next((c for c in model_cards(holder) if c["id"] == model), None)
        if card is None:
            raise not_served(holder, model)
        return json_response(card)

    @app.get("/health")
    async def health():
        """200 while a model is served, swapping or not (the old one answers until the swap):
        every replica follows one registry, so a 503 here would drain them all at once. The
        body says whether a new model is loading, and the follower's last error."""
        body = {"status": holder.state, "model": holder.current.label}
        if follower is not None and follower.last_error is not None:
            body["follow_error"] = follower.last_error
        return json_response(body)

    @app.get("/metrics")
    async def prometheus():
        return Response(metrics.render(), media_type=CONTENT_TYPE)

    return app


def requested(holder: ModelHolder, model: str, input_type: Side | None) -> tuple[Served, Side]:
    """The loaded model a request names, and its side: from `input_type`, else from a
    `:query`/`:document` alias, else the document side; an alias and `input_type` that
    disagree are refused."""
    found = holder.find(model)
    if found is None:
        raise not_served(holder, model)
    served, alias = found
    if alias and input_type and alias != input_type:
        raise ApiError(
            400,
            f"model {model} selects the {alias} side but input_type is {input_type}",
            "input_type",
            "conflicting_side",
        )
    return served, input_type or alias or "document"


def not_served(holder: ModelHolder, model: str) -> ApiError:
    current = holder.current
    message = f"The model `{model}` does not exist; this server serves {current.name}"
    if model.startswith(f"{current.name}@"):
        message = f"The model `{model}` is no longer served; {current.name} is now {current.label}"
    return ApiError(404, message, "model", "model_not_found")


def model_cards(holder: ModelHolder) -> list[dict]:
    """Every name of every loaded model: the current one's, then retired versions' labels."""
    return [
        {"id": name, "object": "model", "created": 0, "owned_by": "cpt"}
        for served, current in holder.loaded()
        for name in served.names(current)
    ]


def encoded(vector: np.ndarray, encoding_format: str):
    """float: a JSON list; base64: little-endian float32 bytes, as the OpenAI SDK decodes."""
    if encoding_format == "base64":
        return base64.b64encode(vector.astype("<f4").tobytes()).decode("ascii")
    return vector.astype(np.float32).tolist()


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
