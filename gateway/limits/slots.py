"""Concurrency slots without Redis, counted per worker process, so the slots of a worker that died can be
given back: the shared table holds one row per live worker (its pid, then its slots per key); a
key's load is the sum over the rows. The main process's watchdog (gateway.workers) zeroes a dead worker's
row; a new worker takes a free row."""

from __future__ import annotations

import os
from typing import Any


def rows_for(workers: int) -> int:
    # Room for every worker plus the ones starting while a dead one's row is not yet released.
    return 2 * max(1, workers) + 4


def size(n_keys: int, rows: int) -> int:
    """Doubles the slot rows take at the end of the limit table, with the two that describe them."""
    return rows * (1 + n_keys) + 2


def describe(table: Any, n_keys: int, rows: int) -> None:
    """Written once by whoever makes the table: the layout, so any process can find the rows later."""
    a = table.get_obj()
    a[len(a) - 2] = n_keys
    a[len(a) - 1] = rows


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie (dead, not yet reaped) still answers kill(0)
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return True  # no /proc: trust kill(0)


class SlotTable:
    """A view of the slot rows at the end of the shared limit table (`multiprocessing.Array("d")`, laid
    out by `describe`); the methods that change rows take the array's lock (an RLock)."""

    def __init__(self, table: Any) -> None:
        self.lock = table.get_lock()
        self.a = a = table.get_obj()
        self.n_keys = int(a[len(a) - 2])
        self.rows = int(a[len(a) - 1])
        self.width = 1 + self.n_keys
        self.offset = len(a) - size(self.n_keys, self.rows)
        self.row = -1

    def _base(self, row: int) -> int:
        return self.offset + row * self.width

    def claim(self, pid: int | None = None) -> int:
        """Take this process's row: its own, else a free one, else one whose owner is gone."""
        pid = pid or os.getpid()
        a = self.a
        with self.lock:
            owners = [int(a[self._base(r)]) for r in range(self.rows)]
            for wanted in (pid, 0):
                if wanted in owners:
                    self.row = owners.index(wanted)
                    break
            else:
                stale = [r for r, owner in enumerate(owners) if not _alive(owner)]
                self.row = stale[0] if stale else 0
                self._zero(self.row)
            a[self._base(self.row)] = pid
        return self.row

    def _zero(self, row: int) -> None:
        base = self._base(row)
        for i in range(self.width):
            self.a[base + i] = 0

    def total(self, key_slot: int) -> float:
        """Slots of a key taken by all workers (call with the lock held)."""
        a = self.a
        return sum(a[self._base(r) + 1 + key_slot] for r in range(self.rows))

    def take(self, key_slot: int) -> None:
        self.a[self._base(self.row) + 1 + key_slot] += 1

    def give(self, key_slot: int) -> None:
        i = self._base(self.row) + 1 + key_slot
        if self.a[i] > 0:
            self.a[i] -= 1

    def release(self, pid: int) -> float:
        """The owner `pid` is gone: free its row and return how many slots that gave back."""
        a = self.a
        freed = 0.0
        with self.lock:
            for r in range(self.rows):
                base = self._base(r)
                if int(a[base]) == pid:
                    freed += sum(a[base + 1 : base + self.width])
                    self._zero(r)
        return freed
