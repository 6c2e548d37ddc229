"""What the audit log keeps of a request body or a changed row: secrets masked, long text cut (pure)."""

from __future__ import annotations

import datetime as dt
import difflib
from typing import Any

MASK = "********"
SECRET_WORDS = ("password", "passwd", "secret", "token", "hash", "csrf", "api_key", "apikey", "private_key",
                "credential", "provisioning_key", "enrollment")
SEALED = "enc:"  # a value encrypted at rest (auth.secrets)
PRIVATE_KEY = "PRIVATE KEY-----"  # a PEM private key, whatever field carries it (a certificate upload's pem)
MAX_TEXT = 4000
MAX_DIFF = 20_000


def secret_key(key: str) -> bool:
    k = key.lower()
    return any(w in k for w in SECRET_WORDS)


def redact(value: Any) -> Any:
    """``value`` with every secret-looking field masked, sealed values masked, and long strings cut."""
    if isinstance(value, dict):
        return {str(k): (MASK if secret_key(str(k)) and v not in (None, "") else redact(v)) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [redact(v) for v in value]
    if isinstance(value, str):
        if value.startswith(SEALED) or PRIVATE_KEY in value:
            return MASK
        return value if len(value) <= MAX_TEXT else value[:MAX_TEXT] + f"… ({len(value)} characters)"
    if isinstance(value, (dt.datetime, dt.date)):
        return value.isoformat()
    if value is None or isinstance(value, (bool, int, float)):
        return value
    return str(value)


def change(key: str, old: Any, new: Any) -> Any:
    """How the audit log shows one field going from ``old`` to ``new``: a unified diff for text, the changed keys
    of a mapping, else ``[old, new]``; secrets only as changed."""
    if secret_key(key):
        return MASK
    if isinstance(old, str) and isinstance(new, str) and ("\n" in old or "\n" in new or len(old) + len(new) > 200):
        diff = "".join(difflib.unified_diff(old.splitlines(keepends=True), new.splitlines(keepends=True),
                                            fromfile="before", tofile="after"))
        return {"diff": diff if len(diff) <= MAX_DIFF else diff[:MAX_DIFF] + "…"}
    if isinstance(old, dict) and isinstance(new, dict):
        keys = [k for k in dict.fromkeys([*old, *new]) if old.get(k) != new.get(k)]
        return {k: change(str(k), old.get(k), new.get(k)) for k in keys}
    return [redact(old), redact(new)]
