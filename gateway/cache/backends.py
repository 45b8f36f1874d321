"""Where cached answers live: a bounded in-memory table per worker, or Redis shared by every worker and
replica. Both are best-effort: a backend that fails is a miss (or a store skipped), never a failed request."""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from typing import Any, Protocol

log = logging.getLogger("llm_link")

MEMORY_BYTES = 256 * 1024 * 1024  # all entries of one worker together


class Backend(Protocol):
    async def get(self, key: str) -> bytes | None: ...

    async def put(self, key: str, value: bytes) -> None: ...

    async def close(self) -> None: ...


class MemoryBackend:
    """Entries in insertion order, which is also expiry order (one TTL): the oldest go first when they
    expire, when there are more than `max_entries`, or when all of them hold more than `max_bytes`."""

    def __init__(self, ttl: float, max_entries: int, max_bytes: int = MEMORY_BYTES) -> None:
        self.ttl = ttl
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self.bytes = 0
        self.entries: OrderedDict[str, tuple[float, bytes]] = OrderedDict()

    async def get(self, key: str) -> bytes | None:
        found = self.entries.get(key)
        if found is None:
            return None
        if found[0] < time.monotonic():
            del self.entries[key]
            self.bytes -= len(found[1])
            return None
        return found[1]

    async def put(self, key: str, value: bytes) -> None:
        now = time.monotonic()
        entries = self.entries
        old = entries.pop(key, None)
        if old is not None:
            self.bytes -= len(old[1])
        entries[key] = (now + self.ttl, value)
        self.bytes += len(value)
        while entries and (
            len(entries) > self.max_entries or self.bytes > self.max_bytes or next(iter(entries.values()))[0] < now
        ):
            self.bytes -= len(entries.popitem(last=False)[1][1])

    async def close(self) -> None:
        self.entries.clear()
        self.bytes = 0


class RedisBackend:
    def __init__(self, url: str, prefix: str, ttl: float) -> None:
        from redis.asyncio import Redis

        self.redis: Any = Redis.from_url(url, socket_connect_timeout=1.0, socket_timeout=1.0, decode_responses=False)
        self.prefix = f"{prefix}:cache:"
        self.ttl = max(1, int(ttl))

    async def get(self, key: str) -> bytes | None:
        try:
            value = await self.redis.get(self.prefix + key)
        except Exception as err:  # Redis down: answer from the upstream
            log.warning("cache: lookup failed (%s); treated as a miss", type(err).__name__)
            return None
        return bytes(value) if value is not None else None

    async def put(self, key: str, value: bytes) -> None:
        try:
            await self.redis.set(self.prefix + key, value, ex=self.ttl)
        except Exception as err:
            log.warning("cache: store failed (%s)", type(err).__name__)

    async def close(self) -> None:
        try:
            await self.redis.aclose()
        except Exception:
            pass
