"""Ids in each API's own style."""

from __future__ import annotations

import os
import re


def mint(prefix: str, length: int = 24) -> str:
    return prefix + os.urandom(length // 2 + 1).hex()[:length]


_BAD_ID_CHARS = re.compile(r"[^a-zA-Z0-9_-]")


def safe_tool_id(raw: str, empty: str | None = None) -> str:
    """A tool-call id in the strictest form APIs accept (Anthropic: ^[a-zA-Z0-9_-]+$): other characters
    become `_`, deterministically, so a call and the result the client sends back still pair. An empty id
    becomes `empty`, else a fresh `toolu_` id."""
    if not raw:
        return empty or mint("toolu_", 24)
    return _BAD_ID_CHARS.sub("_", raw)
