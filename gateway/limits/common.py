"""What both limit backends share: refusal codes, the verdict of one admission, the ticket of an admitted
request, month ids, and the x-ratelimit-* headers."""

from __future__ import annotations

import calendar
import time
from typing import Any

WINDOW = 60
RETRY_REDIS_AFTER = 1.0  # seconds between attempts to reach Redis while it is down

# Refusal codes shared by both backends.
OK, RPM, TPM, CONCURRENCY, QUOTA = 0, 1, 2, 3, 4
LIMIT_NAMES = {RPM: "requests", TPM: "tokens", CONCURRENCY: "concurrency", QUOTA: "monthly_tokens"}


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


def limit_headers(key: Any, v: Verdict) -> dict[str, str]:
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
