"""Device keys: the secret a hive's sensor gateway sends as ``X-Device-Key``.

Keys are 256-bit random tokens, so a plain SHA-256 is a safe one-way hash here (no
password stretching needed) and lets ingestion find the hive by an indexed lookup.
Only the hash is stored; the key is shown once, when created or replaced.
"""

from __future__ import annotations

import hashlib
import secrets
from typing import Any

KEY_PREFIX = "bk_"


def device_key_generate() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


def device_key_hash(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def device_key_notice(hive: Any) -> str | None:
    """What the apiary's owner (only) is told about a hive whose key was issued under
    someone else (a previous owner, who may still know it), or None. The issuing user
    is read only for a hive that needs the notice."""
    if hive.device_key_issued_to_id == hive.apiary.owner_id:
        return None
    issued = hive.device_key_issued_to
    who = f"the previous owner {issued.email}" if issued is not None else "a previous owner"
    return f"This hive's device key was issued under {who}; replace it."
