"""CPU time and memory of a process tree, read from /proc (Linux only).

CPU per request = delta of utime+stime, summed over the server's main process and every descendant
(Sanic workers, uvicorn workers, node), divided by completed requests. On a shared machine this is far
steadier than requests/s: other load slows a system down but barely changes what each request costs it."""

from __future__ import annotations

import os
import threading
import time

TICK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


def _stat(pid: int) -> list[str] | None:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            raw = f.read().decode()
    except OSError:
        return None
    # The command name may hold spaces and parentheses; fields restart after the last ')'.
    return raw[raw.rfind(")") + 2 :].split()


def tree(root: int) -> list[int]:
    """root and all its descendants, found through the ppid field of every process."""
    children: dict[int, list[int]] = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            fields = _stat(int(name))
            if fields is not None:
                children.setdefault(int(fields[1]), []).append(int(name))
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(children.get(pid, ()))
    return out


def cpu_seconds(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        fields = _stat(pid)
        if fields is not None:
            total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat)
    return total / TICK


def rss_bytes(pid: int) -> int:
    fields = _stat(pid)
    return int(fields[21]) * PAGE if fields is not None else 0


class TreeCPU:
    """CPU seconds of a whole tree, including processes that appear during the run."""

    def __init__(self, root: int) -> None:
        self.root = root

    def sample(self) -> dict[int, float]:
        return {pid: cpu_seconds([pid]) for pid in tree(self.root)}

    @staticmethod
    def delta(before: dict[int, float], after: dict[int, float]) -> float:
        return sum(v - before.get(pid, 0.0) for pid, v in after.items())


class RSSSampler:
    """Polls the RSS of every process in a tree in a thread; keeps the peak per process."""

    def __init__(self, root: int, interval: float = 0.2) -> None:
        self.root, self.interval = root, interval
        self.peak: dict[int, int] = {}
        self.peak_total = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        pids = tree(self.root)
        refreshed = time.monotonic()
        while not self._stop.is_set():
            if time.monotonic() - refreshed > 2:
                pids, refreshed = tree(self.root), time.monotonic()
            total = 0
            for pid in pids:
                rss = rss_bytes(pid)
                total += rss
                if rss > self.peak.get(pid, 0):
                    self.peak[pid] = rss
            self.peak_total = max(self.peak_total, total)
            self._stop.wait(self.interval)

    def __enter__(self) -> RSSSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def peak_worker(self) -> int:
        """Largest peak among the tree's processes (for Sanic/uvicorn: a worker; for node: the server)."""
        return max(self.peak.values(), default=0)
