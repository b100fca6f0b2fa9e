"""Beam's logging, made quiet enough to read. Kept free of Beam imports: importing Beam logs."""

from __future__ import annotations

import logging


def quiet_beam() -> None:
    """Beam logs every worker's start-up at INFO; keep its warnings and our own progress."""
    form = "%(levelname)s %(name)s: %(message)s"
    logging.basicConfig(level=logging.INFO, format=form, force=True)
    logging.getLogger("apache_beam").setLevel(logging.WARNING)
    logging.getLogger(WORKER_LOGS).addFilter(_no_staging_warning)


WORKER_LOGS = "apache_beam.runners.portability.local_job_service"


def _no_staging_warning(record: logging.LogRecord) -> bool:
    """Local workers warn that they have no semi-persistent directory; it is not needed here."""
    return "semi_persistent_directory" not in record.getMessage()
