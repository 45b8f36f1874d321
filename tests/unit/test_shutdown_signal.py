"""The main process's SIGTERM handler (gateway.shutdown): Sanic's stop handler writes worker states through
a multiprocessing proxy, which is not re-entrant. Called from the signal handler on the main thread it could
interrupt the manager's own call on that proxy halfway, and the main process then died with exit 1 instead of
a clean 0 (seen under CI load: `'NoneType' object has no attribute 'get'` in the manager's monitor loop)."""

from __future__ import annotations

import multiprocessing
import signal
import threading
import time
from types import SimpleNamespace
from typing import Any

from gateway import shutdown


def test_sigterm_runs_sanics_stop_off_the_main_thread_with_the_proxy_intact() -> None:
    sync = multiprocessing.Manager()
    try:
        states = sync.dict({"Srv-0": {"server": True, "state": "ACKED"}})
        calls: list[bool] = []

        def sanic_stop(signum: int, frame: Any) -> None:  # what Sanic's shutdown_signal does to the proxy
            on_main = threading.current_thread() is threading.main_thread()
            states["Srv-0"] = {**states["Srv-0"], "state": "TERMINATED"}
            calls.append(on_main)  # last: the test reads the state once this is set

        manager = SimpleNamespace(wait_for_ack=lambda: None)
        app = SimpleNamespace(state=SimpleNamespace(server_info=[]), _manager=manager)
        saved = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}
        signal.signal(signal.SIGTERM, sanic_stop)
        try:
            shutdown.refuse_new_connections(app)
            manager.wait_for_ack()  # the workers' start-up is acknowledged
            signal.raise_signal(signal.SIGTERM)
            deadline = time.monotonic() + 10
            while not calls and time.monotonic() < deadline:
                assert states["Srv-0"]["state"] in ("ACKED", "TERMINATED")  # the monitor loop's own reads
            assert calls == [False]
            assert states["Srv-0"]["state"] == "TERMINATED"
        finally:
            for sig, handler in saved.items():
                signal.signal(sig, handler)
    finally:
        sync.shutdown()
