"""Per-request usage rows, written off the request path: `record()` only appends a tuple to this worker's
buffer; a task writes the buffer in one transaction every FLUSH_SECONDS (sooner when it fills), the last
rows on shutdown. If the database is away, rows wait in memory up to MAX_PENDING, then the oldest are
dropped and counted (`llm_link_usage_rows_dropped_total`), so memory stays bounded. Retention deletes
rows older than `state.usage_retention_days` in batches of RETENTION_BATCH, pausing between batches: the
work per step is flat however many rows are due."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from typing import Any

from gateway.store.base import Store, UsageRow

log = logging.getLogger("llm_link")

FLUSH_SECONDS = 1.0
BATCH = 500  # a full batch wakes the writer early
MAX_PENDING = 100_000
RETENTION_BATCH = 2000
RETENTION_EVERY = 3600.0
RECENT_ERRORS = 20  # per provider, for GET /admin/api/providers


class UsageRecorder:
    def __init__(self, store: Store, retention_days: float) -> None:
        self.store = store
        self.retention_days = retention_days
        self.pending: list[UsageRow] = []
        self.wake = asyncio.Event()
        self.recent_errors: dict[str, deque[dict[str, Any]]] = {}
        self.failing = False
        self._dropped: Any = None
        self._tasks: list[asyncio.Task[None]] = []

    def record(self, call: Any) -> None:
        """Called once per request after its last byte (gateway.handler); cheap and never raises."""
        cost = call.cost
        now = time.time()
        duration = (time.perf_counter() - call.started) * 1000
        self.pending.append(
            (
                now,
                call.request_id[:100],
                call.key_name,
                call.model[:200] or None,
                call.provider or None,
                call.dialect,
                call.status,
                call.input_tokens,
                call.output_tokens,
                call.cached_tokens,
                cost,
                round(duration, 3),
                round((call.first_token - call.started) * 1000, 3) if call.first_token is not None else None,
            )
        )
        if len(self.pending) >= BATCH:
            self.wake.set()
        if call.status >= 500 and call.provider:
            ring = self.recent_errors.get(call.provider)
            if ring is None:
                ring = self.recent_errors[call.provider] = deque(maxlen=RECENT_ERRORS)
            ring.append(
                {"time": now, "model": call.model[:200], "status": call.status, "error": (call.error or "")[:300]}
            )

    def start(self) -> None:
        self._tasks = [
            asyncio.create_task(self._writer(), name="llm_link_usage_writer"),
            asyncio.create_task(self._retention(), name="llm_link_usage_retention"),
        ]

    async def flush(self) -> int:
        """Write what is buffered; on failure the rows go back to the front of the buffer."""
        rows, self.pending = self.pending, []
        if not rows:
            return 0
        try:
            await self.store.write_usage(rows)
        except Exception as err:
            self.pending[:0] = rows
            over = len(self.pending) - MAX_PENDING
            if over > 0:
                del self.pending[:over]
                self._count_dropped(over)
            if not self.failing:
                log.error("cannot write usage rows (keeping %d in memory): %s", len(self.pending), err)
                self.failing = True
            return 0
        if self.failing:
            log.warning("usage rows written again")
            self.failing = False
        return len(rows)

    def _count_dropped(self, n: int) -> None:
        if self._dropped is None:
            from prometheus_client import Counter

            self._dropped = Counter(
                "llm_link_usage_rows_dropped_total", "Usage rows lost because the database was away", registry=None
            )
        self._dropped.inc(n)

    async def _writer(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wake.wait(), FLUSH_SECONDS)
            self.wake.clear()
            await self.flush()

    async def enforce_retention(self) -> int:
        """Delete rows past retention, one bounded batch at a time; the number deleted."""
        cutoff = time.time() - self.retention_days * 86400
        total = 0
        while True:
            n = await self.store.delete_usage_before(cutoff, RETENTION_BATCH)
            total += n
            if n < RETENTION_BATCH:
                return total
            await asyncio.sleep(0.05)  # let requests and other writers in between batches

    async def _retention(self) -> None:
        await asyncio.sleep(5.0)
        while True:
            try:
                n = await self.enforce_retention()
                if n:
                    log.info("usage retention: deleted %d rows older than %g days", n, self.retention_days)
            except asyncio.CancelledError:
                raise
            except Exception as err:
                log.warning("usage retention failed (will try again): %s", err)
            await asyncio.sleep(RETENTION_EVERY)

    async def close(self, within: float = 10.0) -> None:
        """Stop the tasks and write the last rows (graceful shutdown)."""
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks = []
        deadline = time.monotonic() + within
        while self.pending and time.monotonic() < deadline:
            if not await self.flush():
                await asyncio.sleep(0.2)
        if self.pending:
            log.error("shutdown: %d usage rows could not be written", len(self.pending))
