"""The access log: one JSON line per request on stdout.

Written without a logging.LogRecord per line and without a flush per line, which together cost as much as
a tenth of a proxied request: a line goes out at once when the log has been quiet for `interval` seconds
(so a person or a test watching a lightly used gateway sees every line immediately); under load, lines
written within `interval` of the last flush are batched and flushed by a timer `interval` later."""

from __future__ import annotations

import asyncio
import logging
import sys
from logging import INFO
from time import monotonic
from typing import IO, TYPE_CHECKING

import msgspec
from msgspec import UNSET, UnsetType

from gateway.edge import log_safe

if TYPE_CHECKING:
    from gateway.call import Call

LOGGER = logging.getLogger("llm_link.access")  # its level switches the access log on and off


class Line(msgspec.Struct, omit_defaults=True, gc=False):
    """One access-log line, keys in this order; the defaulted ones only when they say something.
    (A Struct and one reused encoder: cheaper than a dict through orjson, and the same JSON.)"""

    request_id: str
    dialect: str
    model: str | None  # as the client sent it, made log-safe; null before one was read
    provider: str | None  # null when no provider was involved
    status: int
    duration_ms: float
    stream: bool
    upstream_model: str | UnsetType = UNSET
    attempts: int | UnsetType = UNSET  # only when more than one upstream request was made
    tokens_in: int | UnsetType = UNSET  # both tokens_* once either is known
    tokens_out: int | UnsetType = UNSET
    cost_usd: float | UnsetType = UNSET
    key: str | UnsetType = UNSET  # the gateway key's name, never the key
    error: str | UnsetType = UNSET


_encode_into = msgspec.json.Encoder().encode_into


class AccessLog:
    def __init__(self, stream: IO[str] | None = None, interval: float = 0.01) -> None:
        self.stream = stream or sys.stdout
        self.interval = interval
        self.pending = bytearray()  # lines not flushed yet, each encoded straight onto the end
        self.last_flush = 0.0
        self.timer: asyncio.TimerHandle | None = None
        self.is_on = LOGGER.isEnabledFor  # bound once: the level may change, the logger does not

    def request(self, call: Call, total: float) -> None:
        """The line of a finished request (`total` seconds long), if the access log is on."""
        if not self.is_on(INFO):
            return
        model = call.model
        upstream_model = call.upstream_model
        attempts = call.attempts
        tokens_in = call.input_tokens
        tokens_out = call.output_tokens
        tokens = tokens_in or tokens_out
        cost = call.cost
        error = call.error
        pending = self.pending
        try:
            _encode_into(
                Line(
                    call.request_id,
                    call.dialect,
                    log_safe(model) if model else None,
                    call.provider or None,
                    call.status,
                    round(total * 1000, 2),
                    call.stream,
                    log_safe(upstream_model) if upstream_model else UNSET,  # type: ignore[arg-type]
                    attempts if attempts > 1 else UNSET,
                    tokens_in if tokens else UNSET,
                    tokens_out if tokens else UNSET,
                    round(cost, 10) if cost is not None else UNSET,
                    call.key_name or UNSET,
                    log_safe(error, 300) if error else UNSET,  # type: ignore[arg-type]
                ),
                pending,
                -1,
            )
        except Exception:  # (unreachable with log-safe strings) no half line left behind
            del pending[pending.rfind(b"\n") + 1 :]
            raise
        pending.append(10)  # \n
        # Flush now if the log was quiet, else once `interval` has passed.
        now = monotonic()
        if now - self.last_flush >= self.interval:
            self.flush()
        elif self.timer is None:
            self.timer = asyncio.get_running_loop().call_later(self.interval, self.flush)

    def flush(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        self.last_flush = monotonic()
        if self.pending:
            data, self.pending = self.pending, bytearray()
            stream = self.stream
            try:
                # The lines are UTF-8 already: onto a UTF-8 text stream's byte buffer as they are (after
                # whatever text is waiting in it), else decoded and written as text.
                raw = getattr(stream, "buffer", None)
                if raw is not None and _utf8(stream):
                    stream.flush()
                    raw.write(data)
                    raw.flush()
                else:
                    stream.write(data.decode())
                    stream.flush()
            except (OSError, ValueError):  # stdout closed or full: never fail a request over its log line
                pass


def _utf8(stream: IO[str]) -> bool:
    return (getattr(stream, "encoding", None) or "").lower().replace("-", "").replace("_", "") == "utf8"
