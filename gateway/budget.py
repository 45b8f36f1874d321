"""Budgets in US dollars per key per UTC day or calendar month (`auth.keys[].budget`).

Spend is counted in nano-dollars (integers, so sums are exact) per key and period: in Redis when
`state.redis_url` is set (one GET to admit, one INCRBY when the answer is done, sharing the limiter's
connection and its fail-open rules: while Redis is unreachable each process group counts in shared memory),
else in a table in shared memory that every worker of the process group uses.

A request is admitted while the period's spend is below the budget; its cost is known only when the answer
is done, so the request that crosses the budget completes (and is paid for) and the next one is refused,
with 429 in the caller's dialect, `Retry-After` at the start of the next period, and the remaining budget in
`x-ratelimit-*-budget` headers on every answer."""

from __future__ import annotations

import asyncio
import calendar
import math
import multiprocessing
import time
from typing import Any

from gateway.limits import duration
from unified.errors import GatewayError

NANO = 1_000_000_000  # nano-dollars per dollar
STRIDE = 2  # per key in the shared table: period id, spend in nano-dollars


def period_id(period: str, now: float) -> tuple[int, float]:
    """The current period as a number (20261128 or 202611, UTC) and the seconds until the next starts."""
    t = time.gmtime(now)
    if period == "day":
        start_next = calendar.timegm((t.tm_year, t.tm_mon, t.tm_mday, 0, 0, 0)) + 86400
        return t.tm_year * 10000 + t.tm_mon * 100 + t.tm_mday, start_next - now
    year, month = (t.tm_year + 1, 1) if t.tm_mon == 12 else (t.tm_year, t.tm_mon + 1)
    return t.tm_year * 100 + t.tm_mon, calendar.timegm((year, month, 1, 0, 0, 0)) - now


def shared_budget_table(n_keys: int) -> Any:
    """Made once in the main process and handed to every worker (Sanic's shared_ctx)."""
    return multiprocessing.Array("d", max(1, n_keys) * STRIDE, lock=True)


class LocalSpend:
    """Spend per key in shared memory: exact across the workers of one process group. Keys beyond the
    table (added at run time) are counted per process."""

    def __init__(self, table: Any) -> None:
        self.lock = table.get_lock()
        self.a = table.get_obj()
        self.size = len(self.a) // STRIDE
        self.extra: dict[str, list[float]] = {}

    def _slot(self, key: Any) -> tuple[Any, int]:
        index = getattr(key, "index", -1)
        if 0 <= index < self.size:
            return self.a, index * STRIDE
        return self.extra.setdefault(key.name, [0.0, 0.0]), 0

    def spent(self, key: Any, period: int) -> int:
        with self.lock:
            a, base = self._slot(key)
            return int(a[base + 1]) if a[base] == period else 0

    def add(self, key: Any, period: int, nano: int) -> int:
        """Count `nano` and return the period's new total."""
        with self.lock:
            a, base = self._slot(key)
            if a[base] != period:
                a[base] = period
                a[base + 1] = 0
            a[base + 1] += nano
            return int(a[base + 1])


class BudgetTicket:
    """An admitted request of a key with a budget: where to count its cost."""

    __slots__ = ("key", "period", "remote", "ttl")

    def __init__(self, key: Any, period: int, remote: bool, ttl: int) -> None:
        self.key = key
        self.period = period
        self.remote = remote
        self.ttl = ttl


class Budgets:
    """Admits and charges requests of keys with a budget. `limiter` (gateway.limits.Limiter) lends its
    Redis client and its reachability state, so both fail open and come back together."""

    def __init__(self, local: LocalSpend, limiter: Any, metrics: Any) -> None:
        self.local = local
        self.limiter = limiter
        self.metrics = metrics
        self.prefix = limiter.prefix
        self._pending: set[asyncio.Task[None]] = set()

    def _name(self, key: Any, period: int) -> str:
        # The key's hash tag, as the limiter's counters, so a Redis Cluster keeps them on one shard.
        return f"{self.prefix}:{{{key.name}}}:spend:{period}"

    async def admit(self, key: Any) -> tuple[BudgetTicket, dict[str, str]]:
        """The ticket to charge when the answer is done and the x-ratelimit-*-budget headers; a 429 once
        the period's budget is spent."""
        budget = key.budget
        period, until_next = period_id(budget.period, time.time())
        ttl = int(until_next) + 86400  # keep a finished period's count a day, for anyone looking
        spent = None
        limiter = self.limiter
        if limiter._redis_usable():
            try:
                raw = await limiter.redis.get(self._name(key, period))
                limiter._recovered()
                spent = int(raw) if raw else 0
            except Exception as err:
                limiter._failed(err)
        remote = spent is not None
        if spent is None:
            spent = self.local.spent(key, period)
        limit = round(budget.usd * NANO)
        self._report(key, limit - spent)
        headers = {
            "x-ratelimit-limit-budget": _usd(budget.usd),
            "x-ratelimit-remaining-budget": _usd(max(0, limit - spent) / NANO),
            "x-ratelimit-reset-budget": duration(until_next),
        }
        if spent >= limit:
            if self.metrics is not None:
                self.metrics.child(self.metrics.rate_limited, key.name, "budget").inc()
            when = "today (UTC)" if budget.period == "day" else "this month (UTC)"
            message = (
                f"Budget exceeded: key {key.name!r} has spent ${spent / NANO:.2f} {when} of its "
                f"${budget.usd:.2f} budget per {budget.period}; it renews in {duration(until_next)}."
            )
            headers["Retry-After"] = str(max(1, math.ceil(until_next)))
            raise GatewayError("rate_limit", message, code="budget_exceeded", headers=headers, retryable=False)
        return BudgetTicket(key, period, remote, ttl), headers

    def charge(self, ticket: BudgetTicket, cost: float) -> Any:
        """Count a finished answer's cost; an awaitable when it goes to Redis, else None."""
        nano = round(cost * NANO)
        if nano <= 0:
            return None
        if not ticket.remote:
            self._spent(ticket, self.local.add(ticket.key, ticket.period, nano))
            return None
        return self._charge_remote(ticket, nano)

    async def _charge_remote(self, ticket: BudgetTicket, nano: int) -> None:
        limiter = self.limiter
        try:
            pipe = limiter.redis.pipeline(transaction=False)
            name = self._name(ticket.key, ticket.period)
            pipe.incrby(name, nano)
            pipe.expire(name, ticket.ttl)
            total, _ = await pipe.execute()
            self._spent(ticket, int(total))
        except Exception as err:
            limiter._failed(err)
            self._spent(ticket, self.local.add(ticket.key, ticket.period, nano))

    def _spent(self, ticket: BudgetTicket, total: int) -> None:
        self._report(ticket.key, round(ticket.key.budget.usd * NANO) - total)

    def _report(self, key: Any, left: int) -> None:
        """The key's remaining budget for the metrics (the dashboard's "budget left")."""
        if self.metrics is not None:
            self.metrics.child(self.metrics.key_budget_remaining, key.name).set(max(0, left) / NANO)

    def charge_later(self, ticket: BudgetTicket, cost: float) -> None:
        """From a cancelled request (client gone), which may not await: as a task. What was answered
        upstream is still paid for."""
        pending = self.charge(ticket, cost)
        if pending is not None:
            task = asyncio.ensure_future(pending)
            self._pending.add(task)
            task.add_done_callback(self._pending.discard)

    async def close(self) -> None:
        if self._pending:
            await asyncio.gather(*self._pending, return_exceptions=True)


def _usd(value: float) -> str:
    text = f"{value:.6f}".rstrip("0").rstrip(".")
    return text or "0"
