"""The access log: one JSON line per request on stdout.

Written without a logging.LogRecord per line and without a flush per line, which together cost as much as
a tenth of a proxied request: a line goes out at once when the log has been quiet for `interval` seconds
(so a person or a test watching a lightly used gateway sees every line immediately); under load, lines
written within `interval` of the last flush are batched and flushed by a timer `interval` later."""

from __future__ import annotations

import asyncio
import logging
import sys
import time
from typing import IO

LOGGER = logging.getLogger("llm_link.access")  # its level switches the access log on and off


class AccessLog:
    def __init__(self, stream: IO[str] | None = None, interval: float = 0.01) -> None:
        self.stream = stream or sys.stdout
        self.interval = interval
        self.pending: list[str] = []
        self.last_flush = 0.0
        self.timer: asyncio.TimerHandle | None = None

    @property
    def enabled(self) -> bool:
        return LOGGER.isEnabledFor(logging.INFO)

    def write(self, line: str) -> None:
        self.pending.append(line)
        now = time.monotonic()
        if now - self.last_flush >= self.interval:
            self.flush()
        elif self.timer is None:
            self.timer = asyncio.get_running_loop().call_later(self.interval, self.flush)

    def flush(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        self.last_flush = time.monotonic()
        if self.pending:
            lines, self.pending = self.pending, []
            try:
                self.stream.write("\n".join(lines) + "\n")
                self.stream.flush()
            except (OSError, ValueError):  # stdout closed or full: never fail a request over its log line
                pass
