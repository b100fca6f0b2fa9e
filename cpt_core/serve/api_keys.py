"""API keys, and the rule that a server without keys listens on loopback only.

Keys come from a file (one a line; blank lines and `#` comments skipped) and/or CPT_API_KEYS
(comma-separated). Every key is compared with `hmac.compare_digest` and all of them are tried,
so the time a check takes says nothing about how close a guess was.
"""

from __future__ import annotations

import hmac
import ipaddress
import os
from pathlib import Path

from cpt_core.errors import CptError

ENV = "CPT_API_KEYS"


def load_keys(file: Path | None = None, environ: dict[str, str] | None = None) -> list[bytes]:
    keys: list[str] = []
    if file is not None:
        try:
            lines = Path(file).read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            raise CptError(f"cannot read API key file {file}: {exc}") from exc
        keys += [line.strip() for line in lines if line.strip() and not line.startswith("#")]
        if not keys:
            raise CptError(f"API key file {file} holds no keys")
    keys += [k.strip() for k in (environ or os.environ).get(ENV, "").split(",") if k.strip()]
    return [k.encode() for k in keys]


def authorised(header: str | None, keys: list[bytes]) -> bool:
    """True when no keys are configured, or `Authorization: Bearer KEY` names one of them."""
    if not keys:
        return True
    scheme, _, given = (header or "").partition(" ")
    candidate = given.strip().encode() if scheme.lower() == "bearer" else b""
    matched = False
    for key in keys:  # no early exit: every key costs the same comparison
        matched |= hmac.compare_digest(candidate, key)
    return matched


def check_bind(host: str, keys: list[bytes]) -> None:
    """Refuse to listen beyond this machine when nobody configured a key."""
    if keys or is_loopback(host):
        return
    raise CptError(
        f"refusing to listen on {host} without API keys; set {ENV} or pass --api-key-file, "
        "or serve on 127.0.0.1"
    )


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
