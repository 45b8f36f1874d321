"""Upstream calls' whole-request deadlines (`providers.X.timeout`), kept by one sweeper per worker.

aiohttp's `ClientTimeout(total=...)` arms and cancels a loop timer for every request and wraps every body
read in a timer context; with hundreds of calls a second that is measurable (bench.timeout_cost). Here a
call's deadline goes into a time bucket (a set), and a single loop timer, armed only while some call is
in flight, expires each bucket when its time comes. Granularity: a deadline fires between its time and
TICK seconds (plus any loop lag) after it; aiohttp itself rounds deadlines of 5 s or more up to the
next whole second.

What expiry does is what aiohttp's own total timeout does: before the response headers the waiting task
is cancelled and the call raises TimeoutError; after them the body's next read raises TimeoutError.
"""

from __future__ import annotations

import asyncio
import math
from typing import Any

TICK = 0.1  # seconds between a deadline and the sweep that enforces it, at most


class Deadline:
    """One upstream call's deadline. Until `resp` is set the task is cancelled on expiry; after, the
    response body is failed with TimeoutError."""

    __slots__ = ("bucket", "fired", "owner", "resp", "task")

    def __init__(self, owner: Deadlines, bucket: int, task: asyncio.Task[Any] | None) -> None:
        self.owner = owner
        self.bucket = bucket
        self.task = task
        self.resp: Any = None
        self.fired = False

    def drop(self) -> None:
        """The call finished (or failed) in time: forget it. Safe to call more than once."""
        owner = self.owner
        entries = owner.buckets.get(self.bucket)
        if entries is not None:
            entries.discard(self)
            if not entries:
                del owner.buckets[self.bucket]

    def expire(self) -> None:
        self.fired = True
        resp = self.resp
        if resp is None:
            if self.task is not None:
                self.task.cancel()
        else:
            # Wakes a read in progress and fails the next one, as aiohttp's timer does.
            resp.content.set_exception(TimeoutError())


class Deadlines:
    """The worker's deadline sweeper (on app.ctx): `add` when a call starts, `Deadline.drop` when it ends."""

    def __init__(self, tick: float = TICK) -> None:
        self.tick = tick
        self.buckets: dict[int, set[Deadline]] = {}
        self._handle: asyncio.TimerHandle | None = None
        self._swept = 0  # every bucket up to this one has been expired

    def add(self, seconds: float) -> Deadline:
        """A deadline `seconds` from now for the current task's upstream call."""
        loop = asyncio.get_running_loop()
        now = loop.time()
        if self._handle is None:
            # Idle until now: nothing older than this is held, so the sweep starts here.
            self._swept = math.floor(now / self.tick)
            self._handle = loop.call_at((self._swept + 1) * self.tick, self._sweep, loop)
        bucket = max(math.ceil((now + seconds) / self.tick), self._swept + 1)
        entry = Deadline(self, bucket, asyncio.current_task(loop))
        entries = self.buckets.get(bucket)
        if entries is None:
            entries = self.buckets[bucket] = set()
        entries.add(entry)
        return entry

    def _sweep(self, loop: asyncio.AbstractEventLoop) -> None:
        now = math.floor(loop.time() / self.tick)
        buckets = self.buckets
        for bucket in range(self._swept + 1, now + 1):
            entries = buckets.pop(bucket, None)
            if entries:
                for entry in entries:
                    entry.expire()
        self._swept = now
        # Armed only while calls are in flight: an idle worker has no timer.
        self._handle = loop.call_at((now + 1) * self.tick, self._sweep, loop) if buckets else None

    def close(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def __len__(self) -> int:
        return sum(len(entries) for entries in self.buckets.values())


__all__ = ["TICK", "Deadline", "Deadlines"]
