"""Device keys: the secret a hive's sensor gateway sends as ``X-Device-Key``.

Keys are 256-bit random tokens, so a plain SHA-256 is a safe one-way hash here (no
password stretching needed) and lets ingestion find the hive by an indexed lookup.
Only the hash is stored; the key is shown once, when created or replaced.
"""

from __future__ import annotations

import hashlib
import secrets

KEY_PREFIX = "bk_"


def device_key_generate() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


def device_key_hash(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()
