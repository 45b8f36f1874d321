"""Per-target circuit breaker and in-flight cap. State lives in each worker (no cross-worker sharing): a
target that fails in one worker is ejected there first, which is enough to stop a retry storm."""

from __future__ import annotations

import asyncio
import time

from unified.errors import GatewayError

# Failures that say the target is unhealthy. 429 is a rate signal, and 4xx are the client's fault.
_FAILURE_KINDS = {"upstream_unreachable", "timeout", "overloaded", "api_error"}


def counts_as_failure(err: BaseException) -> bool:
    if isinstance(err, GatewayError):
        return err.kind in _FAILURE_KINDS or err.status >= 500
    return isinstance(err, (asyncio.TimeoutError, OSError))


class Circuit:
    """closed -> open after `threshold` consecutive failures -> half-open after `cooldown` (one real client
    request is the probe) -> closed on its success, open again on its failure."""

    __slots__ = ("cooldown", "failures", "opened_at", "probing", "reported_open", "state", "threshold")

    def __init__(self, threshold: int = 5, cooldown: float = 30.0) -> None:
        self.threshold = threshold
        self.cooldown = cooldown
        self.failures = 0
        self.opened_at = 0.0
        self.state = "closed"
        self.probing = False
        self.reported_open = False  # what the circuit gauge last said

    def available(self, now: float) -> bool:
        if self.state == "closed":
            return True
        if self.state == "open":
            return now - self.opened_at >= self.cooldown
        return not self.probing  # half-open: one probe at a time

    def acquire(self, now: float) -> None:
        """The target was chosen for an attempt."""
        if self.state == "open" and now - self.opened_at >= self.cooldown:
            self.state = "half_open"
        if self.state == "half_open":
            self.probing = True

    def success(self) -> None:
        self.failures = 0
        self.state = "closed"
        self.probing = False

    def failure(self, now: float) -> None:
        self.probing = False
        self.failures += 1
        if self.state == "half_open" or self.failures >= self.threshold:
            self.state = "open"
            self.opened_at = now

    def release(self) -> None:
        """The attempt ended without a health verdict (e.g. a 4xx or a cancelled client)."""
        self.probing = False

    @property
    def is_open(self) -> bool:
        return self.state != "closed"


class ConcurrencyCap:
    """At most `limit` upstream requests in flight per provider in this worker; a request over the cap waits
    briefly for a slot, then gets a 429."""

    __slots__ = ("_waiters", "in_flight", "limit", "wait")

    def __init__(self, limit: int | None, wait: float = 2.0) -> None:
        self.limit = limit
        self.in_flight = 0
        self._waiters: asyncio.Condition | None = None
        self.wait = wait

    async def acquire(self, provider: str, deadline: float | None) -> None:
        if self.limit is None:
            return
        if self.in_flight >= self.limit:
            if self._waiters is None:
                self._waiters = asyncio.Condition()
            timeout = self.wait if deadline is None else max(0.0, min(self.wait, deadline - time.monotonic()))
            try:
                async with self._waiters:
                    await asyncio.wait_for(self._waiters.wait_for(lambda: self.in_flight < (self.limit or 0)), timeout)
            except TimeoutError:
                raise GatewayError(
                    "rate_limit",
                    f"provider {provider!r} is at its concurrency limit ({self.limit}); try again",
                    headers={"Retry-After": "1"},
                ) from None
        self.in_flight += 1

    async def release(self) -> None:
        if self.limit is None:
            return
        self.in_flight -= 1
        if self._waiters is not None:
            async with self._waiters:
                self._waiters.notify(1)
