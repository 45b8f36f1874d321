"""Limits counted in a table in shared memory (`multiprocessing.Array`, made by the main process): exact
across the workers of one process group; monthly usage is forgotten on restart."""

from __future__ import annotations

import multiprocessing
import time
from typing import Any

from gateway.limits import slots
from gateway.limits.common import CONCURRENCY, OK, QUOTA, RPM, TPM, WINDOW, Verdict
from gateway.limits.slots import rows_for

STRIDE = 3 * WINDOW + 3  # per key: request buckets, token buckets, bucket seconds, concurrency, month, month tokens
_REQ, _TOK, _SEC = 0, WINDOW, 2 * WINDOW
_MONTH, _MONTH_TOKENS = 3 * WINDOW + 1, 3 * WINDOW + 2  # 3 * WINDOW: unused (concurrency: gateway.limits.slots)


def shared_table(n_keys: int, workers: int = 1) -> Any:
    """Made once in the main process and handed to every worker (Sanic's shared_ctx): the counters per
    key slot, then the concurrency slots per worker process (gateway.limits.slots)."""
    n, rows = max(1, n_keys), rows_for(workers)
    table = multiprocessing.Array("d", n * STRIDE + slots.size(n, rows), lock=True)
    slots.describe(table, n, rows)
    return table


class LocalLimiter:
    """The same limits over a table in shared memory: exact across the workers of one process group.
    Concurrency is counted per worker process, so what a dead worker held can be given back."""

    def __init__(self, table: Any) -> None:
        self.lock = table.get_lock()
        self.a = table.get_obj()
        self.conc = slots.SlotTable(table)
        self.conc.claim()
        self.slots = self.conc.n_keys  # keys added at run time share slots beyond this

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
        base = (key.index % self.slots) * STRIDE
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
            if code == OK and key.max_concurrency and self.conc.total(key.index % self.slots) >= key.max_concurrency:
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
                    self.conc.take(key.index % self.slots)
        return Verdict(code, r[0], r[1], r[2], t[0], t[1], t[2], used_month)

    def settle(self, key: Any, tokens: int, month: str, slot: bool) -> None:
        sec = int(time.time())
        base = (key.index % self.slots) * STRIDE
        a = self.a
        with self.lock:
            if tokens and key.tpm:
                a[base + _TOK + self._bucket(base, sec)] += tokens
            if tokens and key.monthly_tokens:
                if a[base + _MONTH] != int(month):
                    a[base + _MONTH] = int(month)
                    a[base + _MONTH_TOKENS] = 0
                a[base + _MONTH_TOKENS] += tokens
            if slot:
                self.conc.give(key.index % self.slots)
