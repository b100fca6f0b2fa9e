"""Deterministic train/valid/test assignment by a group key (a repository, a host).

Hashing the key, not the row, keeps a whole repository in one split, as CodeSearchNet does, so
the test split measures generalisation to unseen repositories rather than memorised siblings.
"""

from __future__ import annotations

import hashlib


def split_for(key: str, valid: float = 0.05, test: float = 0.05) -> str:
    bucket = int.from_bytes(hashlib.sha256(key.encode("utf-8")).digest()[:8], "big") / 2**64
    if bucket < test:
        return "test"
    if bucket < test + valid:
        return "valid"
    return "train"
