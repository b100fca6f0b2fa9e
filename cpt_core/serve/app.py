"""The HTTP layer: the parts of serving wired together, and thin routes over them.

A request passes the parts in order, as in text-embeddings-inference's router: admission (the
key and a cap on requests in flight, from the headers alone: admission.py), the body limit
(body_limit.py), the route (parses and checks; names the model: holder.py), a permit in the
queue (dynamic_batching.py), tokenization (tokenization.py), the batcher, then the backend's
forward pass (backend.py). Answers and errors are OpenAI's shape (responses.py); no tensor is
touched here.

    POST /v1/embeddings   OpenAI's embeddings API (+ `input_type`, `NAME:query` aliases)
    POST /v1/search       {"query", "k", "filter": {"ids": [...]}} -> hits from the index
    GET  /v1/models       OpenAI's list shape: the name and its two side aliases
    GET  /health          200 while a model is served; "status": ready | swapping
    GET  /metrics         Prometheus

Only /health (and /metrics with `public_metrics`) answers without a key.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import time

import numpy as np
from fastapi import FastAPI, Request
from fastapi.responses import Response

from cpt_core.errors import CptError
from cpt_core.model.delimiters import Side
from cpt_core.model.widths import checked_width, narrowed
from cpt_core.serve.admission import Admission
from cpt_core.serve.backend import Backend
from cpt_core.serve.body_limit import BodyLimit
from cpt_core.serve.dynamic_batching import Batcher
from cpt_core.serve.errors import ApiError
from cpt_core.serve.follow import RegistryFollower
from cpt_core.serve.holder import ModelHolder, Served
from cpt_core.serve.metrics import CONTENT_TYPE, Metrics
from cpt_core.serve.request_bodies import EmbeddingRequest, SearchRequest
from cpt_core.serve.responses import answer_errors_in_openai_shape, json_response
from cpt_core.serve.settings import ServeSettings
from cpt_core.serve.tokenization import Tokenization


def create_app(
    holder: ModelHolder,
    settings: ServeSettings,
    keys: list[bytes],
    follower: RegistryFollower | None = None,
) -> FastAPI:
    metrics = Metrics()
    tokenization = Tokenization(settings.max_request_tokens)
    backend = Backend()
    batcher = Batcher(backend, settings.batch_tokens(), settings.queue_capacity, metrics.batch)
    metrics.track_queue(lambda: batcher.pending)

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
        backend.close()
        tokenization.close()

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

    answer_errors_in_openai_shape(app)

    @app.post("/v1/embeddings")
    async def embeddings(body: EmbeddingRequest):
        # this request's model, to the end, whatever swaps meanwhile
        served, side = requested(holder, body.model, body.input_type)
        try:  # a Matryoshka-trained model serves each trained width, renormalised
            width = checked_width(served.name, served.encoder.widths, body.dimensions)
        except CptError as exc:
            raise ApiError(400, str(exc), "dimensions", "unsupported_dimensions") from exc
        with batcher.permit(len(body.input)):
            sequences, tokens = await tokenization(served.encoder, body.input, side)
            vectors = narrowed(await batcher.embed(served.encoder, sequences), width)
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
            sequences, tokens = await tokenization(index.encoder, [body.query], "query")
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
