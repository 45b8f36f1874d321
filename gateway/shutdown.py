"""Graceful shutdown of a worker.

On SIGTERM Sanic's main process asks every worker to stop. A worker then (before_server_stop) marks itself
draining at once — /ready answers 503 — and stops accepting connections; requests and streams in flight
go on. Shortly before `server.graceful_timeout` whatever is still running is cancelled with a marker, so a
stream ends with its dialect's error event and a waiting request gets the dialect's 503, instead of a cut
connection. The process then exits 0."""

from __future__ import annotations

import asyncio
import signal
import threading
import time
from typing import Any

from unified.errors import GatewayError

CUT = "llm-link: server.graceful_timeout reached"


def is_cut(cancel: BaseException) -> bool:
    """Whether this cancellation is the drain deadline (answer the client) rather than a client gone."""
    return cancel.args == (CUT,)


def cut_error() -> GatewayError:
    return GatewayError(
        "overloaded",
        "The gateway is shutting down and this request did not finish within its graceful shutdown time; please retry.",
        status=503,
        retryable=True,
    )


def begin_drain(app: Any) -> None:
    """Called first thing when the worker is asked to stop."""
    ctx = app.ctx
    ctx.draining = True
    # The signal handler is gone by now: a second SIGTERM (e.g. sent to the whole process group) must not
    # kill the worker mid-drain. The main process still SIGKILLs on a second signal to it.
    for sig in (signal.SIGTERM, signal.SIGINT):
        try:
            signal.signal(sig, signal.SIG_IGN)
        except (ValueError, OSError):
            pass
    timeout = float(app.config.GRACEFUL_SHUTDOWN_TIMEOUT)
    # Sanic aborts the connections left at `timeout`; cut slightly earlier so the dialect's error is sent.
    delay = max(0.0, timeout - min(1.0, timeout * 0.2))
    inflight: dict[asyncio.Task[Any], Any] = ctx.inflight
    ctx.drain_cutter = asyncio.get_running_loop().call_later(delay, _cut, inflight)


def _cut(inflight: dict[asyncio.Task[Any], Any]) -> None:
    for task in list(inflight):
        if not task.done():
            task.cancel(CUT)


def refuse_new_connections(app: Any) -> None:
    """In the main process (main_process_ready): on SIGTERM/SIGINT close its copy of the listening socket
    before asking the workers to stop. Workers close theirs at once too, so the port stops accepting
    immediately (connection refused) instead of queueing connections nobody will serve."""
    socks = [info.settings["sock"] for info in app.state.server_info if info.settings.get("sock") is not None]
    manager = getattr(app, "_manager", None)
    if manager is not None:
        # Sanic's manager never exits if asked to stop while it still waits for the workers' start-up
        # acknowledgement: note when that wait is over, and hold a signal back until then.
        wait_for_ack = manager.wait_for_ack

        def wait_then_mark() -> None:
            wait_for_ack()
            manager.llm_link_acked = True

        manager.wait_for_ack = wait_then_mark
    for sig in (signal.SIGTERM, signal.SIGINT):
        previous = signal.getsignal(sig)
        if not callable(previous):
            continue

        def handler(signum: int, frame: Any, previous: Any = previous) -> None:
            for sock in socks:
                try:
                    sock.close()
                except OSError:
                    pass
            if manager is None:
                previous(signum, frame)
                return
            # Sanic's own handler writes the workers' states through a multiprocessing proxy. Run here, on the
            # main thread, it may interrupt the manager's monitor loop halfway through a call on that same
            # proxy connection: each then reads the other's reply, the loop dies on a None state and the
            # process exits 1 instead of 0. A thread has its own connection to the proxy's server.
            threading.Thread(target=_when_acked, args=(manager, previous, signum), daemon=True).start()

        signal.signal(sig, handler)


def _acked(manager: Any) -> bool:
    return getattr(manager, "llm_link_acked", False)


def _when_acked(manager: Any, previous: Any, signum: int) -> None:
    """Sanic's stop handler, off the main thread, once the workers' start-up was acknowledged."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not _acked(manager):
        time.sleep(0.05)
    previous(signum, None)
