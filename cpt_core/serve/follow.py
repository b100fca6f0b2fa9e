"""Follow a pipeline's registry: when a retrain becomes current, serve it.

The run folder's registry.json names the current model and its index. Every `poll_seconds`
it is read again; when the pair changed, the new model is loaded in a worker thread while the
old one keeps answering, then swapped in. A model that fails to load (or whose index does not
match it) is logged in one line and not retried until the registry changes again; the server
keeps serving what it had. No error ends the following: an unreadable folder, a full disk or
a bug in a load is logged, counted (`errors`), kept as `last_error` for /health and tried again
at the next poll.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from pathlib import Path

from cpt_core.errors import CptError
from cpt_core.pipeline.registry import current_source
from cpt_core.serve.holder import ModelHolder, Served

log = logging.getLogger("cpt.serve")


class RegistryFollower:
    def __init__(
        self, run_dir: Path, load: Callable[[str, str | None], Served], poll_seconds: float
    ):
        self.run_dir = Path(run_dir)
        self.load = load
        self.poll_seconds = poll_seconds
        self.failed: tuple[str, str | None] | None = None
        self.errors = 0
        self.last_error: str | None = None

    async def follow(self, holder: ModelHolder) -> None:
        while True:
            await asyncio.sleep(self.poll_seconds)
            try:
                await self.check(holder)
            except Exception as exc:  # never the end of following: logged, shown, retried
                self._error(f"{type(exc).__name__}: {exc}", holder)

    def _error(self, reason: str, holder: ModelHolder) -> None:
        if reason != self.last_error:
            log.error("registry: %s; still serving %s", reason, holder.current.label)
        self.errors += 1
        self.last_error = reason

    async def check(self, holder: ModelHolder) -> None:
        try:
            source = current_source(self.run_dir)
        except CptError as exc:  # mid-edit by hand, or removed: keep serving, say why once
            self._error(str(exc), holder)
            return
        if source == holder.current.source:  # the registry reads well again, nothing to do
            self.last_error = None
            return
        if source == self.failed:  # said once already; tried again when the registry changes
            return
        holder.state = "swapping"
        log.info("registry: new current model %s; loading it beside the served one", source[0])
        try:
            served = await asyncio.to_thread(self.load, *source)
        except Exception as exc:  # whatever it was, the served model stays; say why in a line
            self.failed = source
            reason = str(exc) if isinstance(exc, CptError) else f"{type(exc).__name__}: {exc}"
            self._error(f"cannot serve {source[0]}: {reason}", holder)
            return
        finally:
            holder.state = "ready"
        holder.swap(served)
        self.failed, self.last_error = None, None
        log.info("now serving %s", served.label)
