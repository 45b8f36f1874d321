"""Workers that come back. Sanic's manager notices a worker process that died (OOM killer, a
crash, `kill -9`) but does not start a new one, so the gateway would quietly lose capacity until nothing
is left. A watchdog thread in the main process replaces it within a second or so, and first gives back
what the dead worker held: its concurrency slots (the shared table, and its leases in Redis) and its share
of the live gauges (the in-flight gauge would otherwise stay up for good)."""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

log = logging.getLogger("llm_link")

POLL = 0.2  # seconds between looks at the worker processes
MAX_RESTARTS = 10  # per worker name within RESTART_WINDOW; past that it stays down (a crash loop)
RESTART_WINDOW = 60.0


def start_watchdog(app: Any, on_dead: Callable[[int], None]) -> threading.Thread | None:
    """From main_process_ready: watch the server workers of Sanic's manager; replace any that dies."""
    manager = getattr(app, "_manager", None)
    if manager is None:  # single-process mode: nothing to replace
        return None
    thread = threading.Thread(target=_watch, args=(manager, on_dead), name="llm-link-watchdog", daemon=True)
    thread.start()
    return thread


def _watch(manager: Any, on_dead: Callable[[int], None]) -> None:
    from sanic.worker.constants import ProcessState
    from sanic.worker.process import WorkerProcess

    dead_states = (ProcessState.FAILED, ProcessState.COMPLETED)
    handled: set[int] = set()
    restarts: dict[str, deque[float]] = {}
    while True:
        time.sleep(POLL)
        if getattr(manager, "_shutting_down", False):
            return
        if not getattr(manager, "llm_link_acked", False):  # still starting up (gateway.shutdown marks this)
            continue
        try:
            processes = [p for w in list(manager.transient.values()) for p in w.processes]
        except RuntimeError:  # the manager changed its dict meanwhile; look again next time
            continue
        for process in processes:
            if WorkerProcess.SERVER_LABEL not in process.name:
                continue
            # The manager's own monitor loop reaps the process and marks it FAILED or COMPLETED.
            pid = process.pid
            if process.state not in dead_states or pid is None or pid in handled:
                continue
            handled.add(pid)
            if getattr(manager, "_shutting_down", False):
                return
            try:
                on_dead(pid)
            except Exception:
                log.exception("releasing what worker %s held failed", pid)
            times = restarts.setdefault(process.name, deque())
            now = time.monotonic()
            while times and now - times[0] > RESTART_WINDOW:
                times.popleft()
            if len(times) >= MAX_RESTARTS:
                log.error(
                    "worker %s [%s] died %d times within %ds; not starting it again",
                    process.name,
                    pid,
                    len(times),
                    int(RESTART_WINDOW),
                )
                continue
            times.append(now)
            log.warning("worker %s [%s] died (exit code %s); starting a new one", process.name, pid, process.exitcode)
            # The manager's monitor loop restarts a process named in a message (as auto-reload does).
            manager.monitor_publisher.send(process.name)


def release_metrics(pid: int) -> None:
    """Drop the dead worker's live gauges (in-flight, tasks); its counters stay, they did happen."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(pid)
