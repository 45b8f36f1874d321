"""Workers that come back: a worker killed with SIGKILL (as the OOM killer does) is replaced within
seconds, and the concurrency slots and in-flight requests it held are given back, without Redis (slots in
shared memory, per worker) and with it (leases named after the worker)."""

from __future__ import annotations

import os
import re
import signal
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.harness import Gateway
from tests.redis_server import RedisServer

KEY = "sk-edge-workers-key"
SLOTS = 2


def _config(redis_url: str | None = None) -> dict[str, Any]:
    cfg: dict[str, Any] = {
        "providers": {"mock": {"type": "mock", "options": {"chunks": 200, "chunk_delay": 0.2}}},
        "models": {"slow": "mock/slow", "demo": "mock/demo"},
        "auth": {"keys": [{"name": "team", "key": KEY, "max_concurrency": SLOTS}]},
    }
    if redis_url:
        cfg["state"] = {"redis_url": redis_url}
    return cfg


def _pids(gw: Gateway) -> set[int]:
    text = httpx.get(gw.url + "/metrics", timeout=5).text
    return {int(p) for p in re.findall(r'llm_link_worker_asyncio_tasks\{pid="(\d+)"\}', text)}


def _in_flight(gw: Gateway) -> float:
    text = httpx.get(gw.url + "/metrics", timeout=5).text
    return sum(float(v) for v in re.findall(r"^llm_link_in_flight_requests\{[^}]*\} (\S+)$", text, re.M))


def _wait(predicate: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            value = predicate()
            if value:
                return value
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


class Holder:
    """Long streams on their own connections; `started` counts those that got their first bytes."""

    def __init__(self, gw: Gateway, n: int) -> None:
        self.gw = gw
        self.statuses: list[int] = []
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self._run, daemon=True) for _ in range(n)]
        for t in self.threads:
            t.start()

    def _run(self) -> None:
        body = {"model": "slow", "stream": True, "messages": [{"role": "user", "content": "a b c d e f"}]}
        try:
            with httpx.stream(
                "POST",
                self.gw.url + "/v1/chat/completions",
                json=body,
                headers={"Authorization": f"Bearer {KEY}"},
                timeout=60,
            ) as r:
                with self.lock:
                    self.statuses.append(r.status_code)
                for _ in r.iter_bytes():
                    pass
        except httpx.HTTPError:
            pass

    def wait(self, n: int) -> list[int]:
        return _wait(lambda: len(self.statuses) >= n and list(self.statuses), 20, "streams to start")


def _kill_and_recover(gw: Gateway) -> None:
    (old,) = _wait(lambda: _pids(gw), 10, "the worker's pid on /metrics")
    held = Holder(gw, SLOTS)
    assert held.wait(SLOTS) == [200] * SLOTS
    assert _in_flight(gw) == SLOTS
    refused = httpx.post(
        gw.url + "/v1/chat/completions",
        json={"model": "demo", "messages": [{"role": "user", "content": "x"}]},
        headers={"Authorization": f"Bearer {KEY}"},
    )
    assert refused.status_code == 429  # the key's slots are all taken
    os.kill(old, signal.SIGKILL)  # as the OOM killer would
    new = _wait(lambda: (p := _pids(gw)) and old not in p and p, 20, "a new worker")
    assert len(new) == 1
    assert _in_flight(gw) == 0  # the dead worker's in-flight requests are gone from the gauge
    again = Holder(gw, SLOTS)
    assert again.wait(SLOTS) == [200] * SLOTS  # every slot was given back
    log = gw.log()
    assert f"[{old}] died" in log


def test_killed_worker_is_replaced_and_its_slots_freed_without_redis() -> None:
    with Gateway(_config()) as gw:
        _kill_and_recover(gw)
        assert "gave back 2 concurrency slot(s)" in gw.log()


@pytest.fixture(scope="module")
def redis_server() -> Iterator[RedisServer]:
    if not os.environ.get("CI") and not __import__("shutil").which("redis-server"):
        pytest.skip("redis-server is not installed")
    with RedisServer() as server:
        yield server


def test_killed_worker_is_replaced_and_its_leases_freed_with_redis(redis_server: RedisServer) -> None:
    with Gateway(_config(redis_server.url)) as gw:
        _kill_and_recover(gw)
        assert "gave back 2 concurrency lease(s) in Redis" in gw.log()
