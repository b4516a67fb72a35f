"""Ids and timestamps every layer shares: sortable record ids (ULIDs) and UTC timestamps as the notes write them.

Example::

    new_id()    # "01JEX6Q6W3K0Z8N9V2R4T5Y7AB": 26 characters, sortable by time
    utc_now()   # "2026-12-08T02:24:39.123Z"
"""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime

CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def new_id(now_ms: int | None = None) -> str:
    """A ULID: 48-bit millisecond time + 80 random bits, 26 Crockford base-32 characters, sortable."""
    ms = int(time.time() * 1000) if now_ms is None else now_ms
    value = (ms << 80) | int.from_bytes(os.urandom(10), "big")
    return "".join(CROCKFORD[(value >> shift) & 31] for shift in range(125, -1, -5))


def utc_now() -> str:
    """Now, UTC, to the millisecond: ``2026-12-08T02:24:39.123Z``."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
