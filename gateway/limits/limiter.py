"""The limiter every worker uses: Redis when configured (one Lua script per admission, one per settlement,
both in this folder), the local shared table otherwise or while Redis is down."""

from __future__ import annotations

import asyncio
import logging
import math
import os
import socket
import time
from pathlib import Path
from typing import Any

from gateway.limits.common import (
    CONCURRENCY,
    LIMIT_NAMES,
    OK,
    QUOTA,
    RETRY_REDIS_AFTER,
    RPM,
    Ticket,
    Verdict,
    duration,
    limit_headers,
    month_id,
)
from gateway.limits.local import LocalLimiter
from unified.errors import GatewayError

log = logging.getLogger("llm_link")

_HERE = Path(__file__).parent
ADMIT_LUA = (_HERE / "admit.lua").read_text(encoding="utf-8")
SETTLE_LUA = (_HERE / "settle.lua").read_text(encoding="utf-8")
RELEASE_LUA = (_HERE / "release.lua").read_text(encoding="utf-8")


def lease_owner(pid: int) -> str:
    """The prefix of every concurrency lease a worker takes in Redis: host and pid."""
    return f"{socket.gethostname()}:{pid}:"


def release_redis_leases(redis_url: str, prefix: str, pid: int) -> int:
    """From the main process when a worker died: drop its concurrency leases now rather than when they
    expire. Every key's lease set is looked at (database keys too), so this scans; it runs only when a
    worker died. Best effort (Redis down: the leases still expire)."""
    from redis import Redis

    client = Redis.from_url(redis_url, socket_connect_timeout=1, socket_timeout=2)
    try:
        release = client.register_script(RELEASE_LUA)
        owner = lease_owner(pid)
        return sum(int(release(keys=[k], args=[owner])) for k in client.scan_iter(match=f"{prefix}:*:conc", count=500))
    finally:
        client.close()


class Limiter:
    """Admits and settles requests for keys with limits; Redis when configured, else the local table."""

    def __init__(self, local: LocalLimiter, redis_url: str | None, prefix: str, lease: float, metrics: Any) -> None:
        self.local = local
        self.prefix = prefix
        self.lease = lease  # a concurrency slot lost with a crashed worker frees itself after this long
        self.metrics = metrics
        self.redis: Any = None
        self.down_until = 0.0
        self.down = False
        self._seq = 0
        # Leases are named after this worker, so the main process can give them back if it dies.
        self.owner = lease_owner(os.getpid())
        self._keys: dict[str, tuple[str, str, str, str]] = {}
        self._pending: set[asyncio.Task[None]] = set()
        if redis_url:
            from redis.asyncio import Redis
            from redis.asyncio.retry import Retry
            from redis.backoff import NoBackoff

            # Short timeouts and no retries: a missing Redis must cost a request milliseconds, not seconds.
            self.redis = Redis.from_url(
                redis_url,
                socket_connect_timeout=0.5,
                socket_timeout=0.5,
                retry=Retry(NoBackoff(), 0),
                decode_responses=False,
            )
            self._admit = self.redis.register_script(ADMIT_LUA)
            self._settle = self.redis.register_script(SETTLE_LUA)

    async def close(self) -> None:
        if self._pending:
            await asyncio.gather(*self._pending, return_exceptions=True)
        if self.redis is not None:
            try:
                await self.redis.aclose()
            except Exception:
                pass

    def _names(self, key: Any, month: str) -> tuple[str, str, str, str]:
        # One hash tag per key, so a Redis Cluster keeps a key's counters on one shard.
        names = self._keys.get(key.name)
        if names is None or not names[3].endswith(month):
            p = f"{self.prefix}:{{{key.name}}}"
            names = self._keys[key.name] = (f"{p}:rpm", f"{p}:tpm", f"{p}:conc", f"{p}:month:{month}")
        return names

    def _redis_usable(self) -> bool:
        return self.redis is not None and (not self.down or time.monotonic() >= self.down_until)

    def _failed(self, err: BaseException) -> None:
        self.down_until = time.monotonic() + RETRY_REDIS_AFTER
        if self.metrics is not None:
            self.metrics.child(self.metrics.limiter_fallback, "redis_unreachable").inc()
        if not self.down:
            self.down = True
            log.warning(
                "limits: Redis unreachable (%s); counting in this process group until it is back", type(err).__name__
            )

    def _recovered(self) -> None:
        if self.down:
            self.down = False
            log.warning("limits: Redis is reachable again; shared counting resumed")

    async def admit(self, key: Any, request_id: str) -> tuple[Ticket, dict[str, str]]:
        """Admit a request for `key` or raise 429 in the caller's dialect; returns the ticket and the
        x-ratelimit-* headers for the response."""
        now = time.time()
        month, until_next_month = month_id(now)
        verdict = None
        slot = ""
        if self._redis_usable():
            names = self._names(key, month)
            if key.max_concurrency:
                self._seq += 1
                slot = f"{self.owner}{self._seq}"
            try:
                raw = await self._admit(
                    keys=names,
                    args=[
                        key.rpm or 0,
                        key.tpm or 0,
                        key.max_concurrency or 0,
                        key.monthly_tokens or 0,
                        slot,
                        self.lease,
                    ],
                )
                self._recovered()
                verdict = Verdict(
                    int(raw[0]), raw[1], raw[2] / 1000, raw[3] / 1000, raw[4], raw[5] / 1000, raw[6] / 1000, raw[7]
                )
            except Exception as err:
                self._failed(err)
        remote = verdict is not None
        if verdict is None:
            slot = ""
            verdict = self.local.admit(key, month)
        headers = limit_headers(key, verdict)
        if verdict.code != OK:
            raise self._refusal(key, verdict, headers, until_next_month)
        if not remote and key.max_concurrency:
            slot = "local"
        return Ticket(key, slot, month, remote), headers

    def settle(self, ticket: Ticket, tokens: int) -> Any:
        """Count the tokens a finished request used and give back its concurrency slot. Returns an
        awaitable, or None when there is nothing to do."""
        key = ticket.key
        if not ticket.slot and not (tokens and (key.tpm or key.monthly_tokens)):
            return None
        if not ticket.remote:
            self.local.settle(key, tokens, ticket.month, bool(ticket.slot))
            return None
        return self._settle_remote(ticket, tokens)

    async def _settle_remote(self, ticket: Ticket, tokens: int) -> None:
        key = ticket.key
        names = self._names(key, ticket.month)
        try:
            await self._settle(
                keys=(names[1], names[2], names[3]),
                args=[tokens, ticket.slot, "1" if key.tpm else "0", "1" if key.monthly_tokens else "0", 40 * 86400],
            )
        except Exception as err:
            self._failed(err)
            self.local.settle(key, tokens, ticket.month, False)

    def settle_later(self, ticket: Ticket, tokens: int) -> None:
        """Settle from a cancelled request (client gone): as a task, since this one may not await."""
        pending = self.settle(ticket, tokens)
        if pending is not None:
            task = asyncio.ensure_future(pending)
            self._pending.add(task)
            task.add_done_callback(self._pending.discard)

    def _refusal(self, key: Any, v: Verdict, headers: dict[str, str], until_next_month: float) -> GatewayError:
        if self.metrics is not None:
            self.metrics.child(self.metrics.rate_limited, key.name, LIMIT_NAMES[v.code]).inc()
        if v.code == QUOTA:
            retry = until_next_month
            message = (
                f"Monthly token quota of {key.monthly_tokens} for key {key.name!r} is used up "
                f"({int(v.month)} tokens this month); it renews at the start of next month (UTC)."
            )
        elif v.code == CONCURRENCY:
            retry = 1.0
            message = (
                f"Too many concurrent requests for key {key.name!r}: at most {key.max_concurrency} "
                "at a time. Retry when one finishes."
            )
        elif v.code == RPM:
            retry = v.r_retry
            message = (
                f"Rate limit reached for key {key.name!r}: {key.rpm} requests per minute. Retry in {duration(retry)}."
            )
        else:
            retry = v.t_retry
            message = (
                f"Rate limit reached for key {key.name!r}: {key.tpm} tokens per minute "
                f"(used {int(v.t_used)}). Retry in {duration(retry)}."
            )
        headers = {**headers, "Retry-After": str(max(1, math.ceil(retry)))}
        code = "insufficient_quota" if v.code == QUOTA else "rate_limit_exceeded"
        return GatewayError("rate_limit", message, code=code, headers=headers, retryable=False)
