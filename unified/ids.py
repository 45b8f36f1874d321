"""Ids in each API's own style."""

from __future__ import annotations

import os


def mint(prefix: str, length: int = 24) -> str:
    return prefix + os.urandom(length // 2 + 1).hex()[:length]
