"""Per-key limits: requests and tokens per minute (moving windows), concurrent requests, monthly tokens.

With `state.redis_url` every worker of every replica counts in one Redis: admitting a request is one Lua
script (one round trip) that checks every limit and takes a request slot and a concurrency lease
atomically; settling it (tokens used, lease returned) is a second one, only for keys that need it.
Without Redis the workers of one process group share a table in shared memory (`multiprocessing.Array`,
made by the main process), which is exact across those workers but forgets monthly usage on restart.
If Redis cannot be reached, requests keep flowing: each worker counts in that local table (a warning, a
metric), and tries Redis again a second later.

Windows are 60 one-second buckets, so they move every second and never reset on the clock minute. Tokens
are known only once a response is done, so the request that crosses a token limit completes and the next
one is refused."""

from __future__ import annotations

import asyncio
import calendar
import logging
import math
import multiprocessing
import time
from typing import Any

from unified.errors import GatewayError

log = logging.getLogger("llm_link")

WINDOW = 60
RETRY_REDIS_AFTER = 1.0  # seconds between attempts to reach Redis while it is down

# Refusal codes shared by both backends.
OK, RPM, TPM, CONCURRENCY, QUOTA = 0, 1, 2, 3, 4
LIMIT_NAMES = {RPM: "requests", TPM: "tokens", CONCURRENCY: "concurrency", QUOTA: "monthly_tokens"}

_ADMIT = """
local t = redis.call('TIME')
local sec = tonumber(t[1])
local now = sec + tonumber(t[2]) / 1000000
local rpm, tpm, conc, quota = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])

-- used in the last 60 s, ms until all of it has left the window, ms until it is below `limit`
local function window(key, limit)
  local flat = redis.call('HGETALL', key)
  local used, newest, stale, live = 0, -1, {}, {}
  for i = 1, #flat, 2 do
    local s, n = tonumber(flat[i]), tonumber(flat[i + 1])
    if s <= sec - 60 then
      stale[#stale + 1] = flat[i]
    else
      used = used + n
      live[#live + 1] = {s, n}
      if s > newest then newest = s end
    end
  end
  if #stale > 0 then redis.call('HDEL', key, unpack(stale)) end
  local reset, retry = 0, 0
  if newest >= 0 then reset = math.max(0, math.floor((newest + 60 - now) * 1000)) end
  if used >= limit then
    table.sort(live, function(a, b) return a[1] < b[1] end)
    local left = used
    for _, b in ipairs(live) do
      left = left - b[2]
      if left < limit then retry = math.max(0, math.floor((b[1] + 60 - now) * 1000)); break end
    end
  end
  return used, reset, retry
end

local code = 0
local month = 0
if quota > 0 then
  month = tonumber(redis.call('GET', KEYS[4]) or '0')
  if month >= quota then code = 4 end
end
if code == 0 and conc > 0 then
  redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now)  -- leases left behind by a crashed worker
  if redis.call('ZCARD', KEYS[3]) >= conc then code = 3 end
end
local r_used, r_reset, r_retry = 0, 0, 0
if rpm > 0 then
  r_used, r_reset, r_retry = window(KEYS[1], rpm)
  if code == 0 and r_used >= rpm then code = 1 end
end
local t_used, t_reset, t_retry = 0, 0, 0
if tpm > 0 then
  t_used, t_reset, t_retry = window(KEYS[2], tpm)
  if code == 0 and t_used >= tpm then code = 2 end
end
if code == 0 then
  if rpm > 0 then
    redis.call('HINCRBY', KEYS[1], sec, 1)
    redis.call('EXPIRE', KEYS[1], 120)
    r_used = r_used + 1
    r_reset = 60000
  end
  if conc > 0 then
    redis.call('ZADD', KEYS[3], now + tonumber(ARGV[6]), ARGV[5])
    redis.call('EXPIRE', KEYS[3], math.floor(tonumber(ARGV[6])) + 60)
  end
end
return {code, r_used, r_reset, r_retry, t_used, t_reset, t_retry, month}
"""

_SETTLE = """
local sec = redis.call('TIME')[1]
local n = tonumber(ARGV[1])
if n > 0 and ARGV[3] == '1' then
  redis.call('HINCRBY', KEYS[1], sec, n)
  redis.call('EXPIRE', KEYS[1], 120)
end
if n > 0 and ARGV[4] == '1' then
  redis.call('INCRBY', KEYS[3], n)
  redis.call('EXPIRE', KEYS[3], ARGV[5])
end
if ARGV[2] ~= '' then redis.call('ZREM', KEYS[2], ARGV[2]) end
return 1
"""


class Verdict:
    """What one admission found: the refusal code (OK = admitted) and the numbers for the headers."""

    __slots__ = ("code", "month", "r_reset", "r_retry", "r_used", "t_reset", "t_retry", "t_used")

    def __init__(
        self,
        code: int,
        r_used: float,
        r_reset: float,
        r_retry: float,
        t_used: float,
        t_reset: float,
        t_retry: float,
        month: float,
    ) -> None:
        self.code = code
        self.r_used, self.r_reset, self.r_retry = r_used, r_reset, r_retry  # resets in seconds
        self.t_used, self.t_reset, self.t_retry = t_used, t_reset, t_retry
        self.month = month


class Ticket:
    """An admitted request: what to give back when it is done."""

    __slots__ = ("key", "month", "remote", "slot")

    def __init__(self, key: Any, slot: str, month: str, remote: bool) -> None:
        self.key = key
        self.slot = slot  # concurrency lease id ("" = none taken)
        self.month = month
        self.remote = remote  # admitted by Redis (else by the local table)


def month_id(now: float) -> tuple[str, float]:
    """The calendar month in UTC ("202611") and the seconds until the next one starts."""
    t = time.gmtime(now)
    year, month = (t.tm_year + 1, 1) if t.tm_mon == 12 else (t.tm_year, t.tm_mon + 1)
    return f"{t.tm_year}{t.tm_mon:02d}", calendar.timegm((year, month, 1, 0, 0, 0)) - now


def duration(seconds: float) -> str:
    """OpenAI's style for x-ratelimit-reset-*: "20ms", "1s", "6m0s"."""
    if seconds < 1:
        return f"{max(0, int(seconds * 1000))}ms"
    if seconds < 60:
        return f"{seconds:.3g}s"
    minutes, rest = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{rest}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes}m{rest}s"


# ---------------------------------------------------------------------------------------------- local table

STRIDE = 3 * WINDOW + 3  # per key: request buckets, token buckets, bucket seconds, concurrency, month, month tokens
_REQ, _TOK, _SEC = 0, WINDOW, 2 * WINDOW
_CONC, _MONTH, _MONTH_TOKENS = 3 * WINDOW, 3 * WINDOW + 1, 3 * WINDOW + 2


def shared_table(n_keys: int) -> Any:
    """Made once in the main process and handed to every worker (Sanic's shared_ctx)."""
    return multiprocessing.Array("d", max(1, n_keys) * STRIDE, lock=True)


class LocalLimiter:
    """The same limits over a table in shared memory: exact across the workers of one process group."""

    def __init__(self, table: Any) -> None:
        self.lock = table.get_lock()
        self.a = table.get_obj()

    def _window(self, base: int, off: int, sec: int, now: float, limit: int) -> tuple[float, float, float]:
        a = self.a
        used = 0.0
        newest = -1
        live: list[tuple[float, float]] = []
        for i in range(WINDOW):
            s = a[base + _SEC + i]
            if s > sec - WINDOW:
                n = a[base + off + i]
                if n:
                    used += n
                    live.append((s, n))
                    if s > newest:
                        newest = int(s)
        reset = max(0.0, newest + WINDOW - now) if newest >= 0 else 0.0
        retry = 0.0
        if used >= limit:
            left = used
            for s, n in sorted(live):
                left -= n
                if left < limit:
                    retry = max(0.0, s + WINDOW - now)
                    break
        return used, reset, retry

    def _bucket(self, base: int, sec: int) -> int:
        a = self.a
        i = sec % WINDOW
        if a[base + _SEC + i] != sec:
            a[base + _SEC + i] = sec
            a[base + _REQ + i] = 0
            a[base + _TOK + i] = 0
        return i

    def admit(self, key: Any, month: str) -> Verdict:
        now = time.time()
        sec = int(now)
        base = key.index * STRIDE
        a = self.a
        with self.lock:
            code = OK
            used_month = 0.0
            if key.monthly_tokens:
                if a[base + _MONTH] != int(month):
                    a[base + _MONTH] = int(month)
                    a[base + _MONTH_TOKENS] = 0
                used_month = a[base + _MONTH_TOKENS]
                if used_month >= key.monthly_tokens:
                    code = QUOTA
            if code == OK and key.max_concurrency and a[base + _CONC] >= key.max_concurrency:
                code = CONCURRENCY
            r = self._window(base, _REQ, sec, now, key.rpm) if key.rpm else (0.0, 0.0, 0.0)
            if code == OK and key.rpm and r[0] >= key.rpm:
                code = RPM
            t = self._window(base, _TOK, sec, now, key.tpm) if key.tpm else (0.0, 0.0, 0.0)
            if code == OK and key.tpm and t[0] >= key.tpm:
                code = TPM
            if code == OK:
                if key.rpm:
                    a[base + _REQ + self._bucket(base, sec)] += 1
                    r = (r[0] + 1, float(WINDOW), 0.0)
                if key.max_concurrency:
                    a[base + _CONC] += 1
        return Verdict(code, r[0], r[1], r[2], t[0], t[1], t[2], used_month)

    def settle(self, key: Any, tokens: int, month: str, slot: bool) -> None:
        sec = int(time.time())
        base = key.index * STRIDE
        a = self.a
        with self.lock:
            if tokens and key.tpm:
                a[base + _TOK + self._bucket(base, sec)] += tokens
            if tokens and key.monthly_tokens:
                if a[base + _MONTH] != int(month):
                    a[base + _MONTH] = int(month)
                    a[base + _MONTH_TOKENS] = 0
                a[base + _MONTH_TOKENS] += tokens
            if slot and a[base + _CONC] > 0:
                a[base + _CONC] -= 1


# ---------------------------------------------------------------------------------------------- the limiter


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
            self._admit = self.redis.register_script(_ADMIT)
            self._settle = self.redis.register_script(_SETTLE)

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
                slot = f"{request_id}:{self._seq}"
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
        headers = _headers(key, verdict)
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


def _headers(key: Any, v: Verdict) -> dict[str, str]:
    headers: dict[str, str] = {}
    if key.rpm:
        headers["x-ratelimit-limit-requests"] = str(key.rpm)
        headers["x-ratelimit-remaining-requests"] = str(max(0, key.rpm - int(v.r_used)))
        headers["x-ratelimit-reset-requests"] = duration(v.r_retry if v.code == RPM else v.r_reset)
    if key.tpm:
        headers["x-ratelimit-limit-tokens"] = str(key.tpm)
        headers["x-ratelimit-remaining-tokens"] = str(max(0, key.tpm - int(v.t_used)))
        headers["x-ratelimit-reset-tokens"] = duration(v.t_retry if v.code == TPM else v.t_reset)
    return headers
