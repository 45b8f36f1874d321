"""Ids in each API's own style."""

from __future__ import annotations

import os
import re
import threading


class _Entropy(threading.local):
    """Random hex digits from the OS, 4,096 at a time: one getrandom() call per ~170 ids instead of
    one per id (every request mints at least its request id). Per thread, and emptied in a forked child, so
    no two threads or processes hand out the same digits."""

    SIZE = 4096

    def __init__(self) -> None:
        self.digits = ""
        self.at = 0

    def clear(self) -> None:
        self.digits, self.at = "", 0

    def take(self, n: int) -> str:
        at = self.at
        end = at + n
        if end > len(self.digits):
            self.digits = os.urandom(max(self.SIZE, n) // 2 + 1).hex()
            at, end = 0, n
        self.at = end
        return self.digits[at:end]


_entropy = _Entropy()
os.register_at_fork(after_in_child=_entropy.clear)  # the forking thread is the child's only one


def mint(prefix: str, length: int = 24) -> str:
    return prefix + _entropy.take(length)


_BAD_ID_CHARS = re.compile(r"[^a-zA-Z0-9_-]")


def safe_tool_id(raw: str, empty: str | None = None) -> str:
    """A tool-call id in the strictest form APIs accept (Anthropic: ^[a-zA-Z0-9_-]+$): other characters
    become `_`, deterministically, so a call and the result the client sends back still pair. An empty id
    becomes `empty`, else a fresh `toolu_` id."""
    if not raw:
        return empty or mint("toolu_", 24)
    return _BAD_ID_CHARS.sub("_", raw)
