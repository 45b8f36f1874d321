"""Graceful shutdown and the HTTP edge: SIGTERM with a stream in flight, the drain deadline, slow clients,
oversized headers."""

from __future__ import annotations

import os
import signal
import socket
import threading
import time
from typing import Any

import httpx
import openai

from tests.harness import Gateway

TEXT = "one two three four five six seven eight nine ten"


def slow_config(graceful: float, **server: Any) -> dict[str, Any]:
    return {
        "server": {"graceful_timeout": graceful, **server},
        "providers": {"slow": {"type": "mock", "options": {"chunks": 10, "chunk_delay": 0.3}}},
        "models": {"demo": "slow/demo"},
    }


def sse_lines(gw: Gateway, out: list[str], started: threading.Event) -> None:
    with httpx.stream(
        "POST",
        gw.url + "/v1/chat/completions",
        timeout=30,
        json={"model": "demo", "stream": True, "messages": [{"role": "user", "content": TEXT}]},
    ) as r:
        for line in r.iter_lines():
            if line:
                out.append(line)
                started.set()


def ready_refused(gw: Gateway, within: float = 1.0) -> bool:
    """/ready answers 503 or the port refuses, within a moment of SIGTERM (the main process relays the
    signal to the workers; a connection accepted in between may still be answered)."""
    deadline = time.monotonic() + within
    while True:
        try:
            if httpx.get(gw.url + "/ready", timeout=2).status_code == 503:
                return True
        except (httpx.ConnectError, httpx.RemoteProtocolError, httpx.ReadError):
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)


def test_sigterm_drains_a_stream_in_flight_and_exits_zero() -> None:
    gw = Gateway(slow_config(20), workers=2).start()
    try:
        client = openai.OpenAI(base_url=gw.url + "/v1", api_key="x", max_retries=0)
        stream = client.chat.completions.create(model="demo", stream=True, messages=[{"role": "user", "content": TEXT}])
        chunks = [next(stream)]
        assert gw.proc is not None
        os.kill(gw.proc.pid, signal.SIGTERM)  # as docker / kubernetes do: the main process only
        assert ready_refused(gw)  # at once: no longer ready, new connections refused
        chunks += list(stream)
        text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        assert text == f"You said: {TEXT}"
        assert chunks[-1].choices[0].finish_reason == "stop"
        assert gw.proc.wait(30) == 0
    finally:
        gw.stop()


def test_stream_cut_at_graceful_timeout_ends_with_dialect_error() -> None:
    gw = Gateway(slow_config(1.5), workers=1).start()
    try:
        lines: list[str] = []
        started = threading.Event()
        t = threading.Thread(target=sse_lines, args=(gw, lines, started))
        t.start()
        assert started.wait(10)
        assert gw.proc is not None
        os.kill(gw.proc.pid, signal.SIGTERM)
        t.join(30)
        assert '"error"' in lines[-1] and "shutting down" in lines[-1]
        assert "data: [DONE]" not in lines
        assert gw.proc.wait(30) == 0
    finally:
        gw.stop()


def test_slow_client_cannot_hold_the_worker() -> None:
    with Gateway(slow_config(5, request_timeout=1), workers=1) as gw:
        slow = socket.create_connection(("127.0.0.1", gw.port))
        slow.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100\r\n")  # stalls
        try:
            # The single worker still answers others while the slow client dawdles ...
            assert httpx.get(gw.url + "/health", timeout=5).status_code == 200
            # ... and the slow client is dropped after server.request_timeout.
            slow.settimeout(10)
            data = slow.recv(4096)
            assert data == b"" or data.startswith(b"HTTP/1.1 408")
        finally:
            slow.close()


def test_oversized_headers_are_refused() -> None:
    with Gateway(slow_config(5, max_header_bytes=2048), workers=1) as gw:
        r = httpx.get(gw.url + "/health", headers={"X-Big": "a" * 4000})
        assert r.status_code == 413
        assert httpx.get(gw.url + "/health").status_code == 200
