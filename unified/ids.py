"""Ids in each API's own style."""

from __future__ import annotations

import os
import re
import threading


class _Entropy:
    """Random hex digits from the OS, 4,096 at a time: one getrandom() call per ~170 ids instead of
    one per id (every request mints at least its request id). One per thread (held in a threading.local,
    which is read once per id: its attributes are slow), and dropped in a forked child, so no two threads or
    processes hand out the same digits."""

    __slots__ = ("at", "digits")
    SIZE = 4096

    def __init__(self) -> None:
        self.digits = ""
        self.at = 0

    def refill(self, n: int) -> None:
        self.digits = os.urandom(max(self.SIZE, n) // 2 + 1).hex()
        self.at = 0


_local = threading.local()


def _forget() -> None:
    _local.__dict__.clear()  # in a forked child: the forking thread, its only one


os.register_at_fork(after_in_child=_forget)


def mint(prefix: str, length: int = 24) -> str:
    try:
        e: _Entropy = _local.entropy
    except AttributeError:
        e = _local.entropy = _Entropy()
    at = e.at
    end = at + length
    if end > len(e.digits):
        e.refill(length)
        at, end = 0, length
    e.at = end
    return prefix + e.digits[at:end]


_BAD_ID_CHARS = re.compile(r"[^a-zA-Z0-9_-]")


def safe_tool_id(raw: str, empty: str | None = None) -> str:
    """A tool-call id in the strictest form APIs accept (Anthropic: ^[a-zA-Z0-9_-]+$): other characters
    become `_`, deterministically, so a call and the result the client sends back still pair. An empty id
    becomes `empty`, else a fresh `toolu_` id."""
    if not raw:
        return empty or mint("toolu_", 24)
    return _BAD_ID_CHARS.sub("_", raw)
