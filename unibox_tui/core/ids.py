"""Stable string ids that any client can mint offline.

UUIDv7 (RFC 9562): 48 bits of Unix milliseconds, then random bits. Ids sort by creation
time, which keeps B-tree inserts sequential (fast bulk loads) and makes ids readable in logs.
"""

from __future__ import annotations

import os
import random
import uuid
from datetime import datetime


def _uuid7(ms: int, rand80: int) -> str:
    value = (ms & ((1 << 48) - 1)) << 80
    value |= 0x7 << 76  # version 7
    value |= ((rand80 >> 68) & 0xFFF) << 64  # rand_a: 12 bits
    value |= 0b10 << 62  # RFC 4122 variant
    value |= rand80 & ((1 << 62) - 1)  # rand_b: 62 bits
    return str(uuid.UUID(int=value))


def new_id(at: datetime | None = None) -> str:
    """A fresh id; `at` pins the time part (used when importing history)."""
    ms = int((at.timestamp() if at else datetime.now().timestamp()) * 1000)
    return _uuid7(ms, int.from_bytes(os.urandom(10), "big"))


def seeded_id(rng: random.Random, at: datetime) -> str:
    """A deterministic id for generated data (the demo): same seed, same ids."""
    return _uuid7(int(at.timestamp() * 1000), rng.getrandbits(80))


def is_id(text: str) -> bool:
    """Is `text` a UUID in canonical form (what a client may mint for a new thing)?"""
    try:
        return str(uuid.UUID(text)) == text.lower() and len(text) == 36
    except (ValueError, AttributeError, TypeError):
        return False
