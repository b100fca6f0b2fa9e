"""Put the parts together and listen: what `cpt serve` runs.

Everything that can be refused is refused before the port opens (a key-less server on a
public address, a model that does not load, an index built by another model), each in one
line; the server listens once the model is loaded and warm.
"""

from __future__ import annotations

import logging
from functools import partial
from pathlib import Path

from fastapi import FastAPI

from cpt_core.errors import CptError
from cpt_core.pipeline.registry import current_source
from cpt_core.serve.api_keys import check_bind
from cpt_core.serve.app import create_app
from cpt_core.serve.follow import RegistryFollower
from cpt_core.serve.holder import ModelHolder, load_served
from cpt_core.serve.settings import ServeSettings

log = logging.getLogger("cpt.serve")


def build_app(
    model: str | None,
    settings: ServeSettings,
    keys: list[bytes],
    index: str | None = None,
    registry: Path | None = None,
    name: str | None = None,
) -> FastAPI:
    check_bind(settings.host, keys)
    if (model is None) == (registry is None):
        raise CptError("serve either a MODEL or a --registry RUN_DIR (one of them)")
    if registry is not None and index is not None:
        raise CptError("--index comes from the registry when serving --registry; drop --index")
    name = name or (Path(registry).resolve().name if registry is not None else None)
    load = partial(load_served, name=name, dtype=settings.dtype, max_length=settings.max_length)
    follower = None
    if registry is not None:
        model, index = current_source(registry)
        follower = RegistryFollower(registry, load, settings.poll_seconds)
    served = load(model, index)
    served.encoder.embed_ids(served.encoder.tokenize(["warm up"], "document"))
    index = served.index.meta if served.index else None
    log.info(
        "serving %s (%s, dim %d, %s%s) on http://%s:%d%s",
        served.name,
        served.label,
        served.encoder.dim,
        served.encoder.dtype,
        f", index of {index.count} documents embedded in {index.model_dtype}" if index else "",
        settings.host,
        settings.port,
        f", following {registry}" if registry else "",
    )
    holder = ModelHolder(served, grace_seconds=settings.version_grace_seconds)
    return create_app(holder, settings, keys, follower)


def run(app: FastAPI, settings: ServeSettings) -> None:
    import uvicorn

    uvicorn.run(app, host=settings.host, port=settings.port, log_level="info", access_log=False)
