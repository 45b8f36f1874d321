"""Fault injection: every way an upstream can break (tests/fakes/faulty_upstream.py), in every upstream wire
format, streamed and whole, seen through each client dialect. The client always gets the answer or a clear
error in its own dialect (an HTTP error before the first byte, the dialect's error event after it) within
bounded time, and the worker stays healthy: it keeps answering, in-flight returns to 0, no traceback, and
every upstream connection it opened is closed."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from providers.registry import PROVIDER_TYPES
from tests.fakes.faulty_upstream import FaultyUpstream
from tests.fakes.server import ThreadedServer
from tests.harness import Gateway

WIRES = [w for w in ("openai", "anthropic", "ollama") if w in PROVIDER_TYPES]
OK = ("ok", "trickle")
# Faults that break the stream after content went out: the client sees a 200 and then an error event.
MID = ("truncated", "invalid_json", "stall", "reset", "huge_line", "error_mid")
# Faults seen before any content: an ordinary HTTP error with this status.
PRE = {"stall_start": 504, "error_200": 502, "html": 502, "empty": 502}
# gzip_lie: aiohttp fails on the first body bytes, before any content -> an HTTP error.
PRE_OR_MID = ("gzip_lie",)
WHOLE = {
    "truncated": 502,
    "invalid_json": 502,
    "stall": 504,
    "stall_start": 504,
    "reset": 502,
    "gzip_lie": 502,
    "huge_line": 502,
    "error_200": 502,
    "error_mid": 502,
    "html": 502,
    "empty": 502,
}
FAULTS = OK + MID + tuple(PRE) + PRE_OR_MID
READ_TIMEOUT = 1.0
CLIENT_TIMEOUT = 30.0  # a hang guard, far above every bound the gateway sets


@pytest.fixture(scope="module")
def faulty() -> Iterator[tuple[FaultyUpstream, str]]:
    fake = FaultyUpstream()
    server = ThreadedServer(fake.app).start()
    yield fake, server.url
    server.stop()


@pytest.fixture(scope="module")
def gw(faulty: tuple[FaultyUpstream, str]) -> Iterator[Gateway]:
    _, url = faulty
    base = {"openai": url + "/v1", "anthropic": url, "ollama": url}
    providers = {
        f"f_{w}": {
            "type": w,
            "base_url": base[w],
            "api_key": "sk-faulty",
            "timeout": 20,
            "read_timeout": READ_TIMEOUT,
            "connect_timeout": 2,
            "max_tokens": 64,
            # the translated lane reads every event; same-API forwarding has its own fault tests
            "passthrough": False,
        }
        for w in WIRES
    }
    models = {f"{w}-{f}": {"provider": f"f_{w}", "model": f, "retries": 0} for w in WIRES for f in FAULTS}
    models["demo"] = {"provider": "mock", "model": "demo"}
    providers["mock"] = {"type": "mock"}
    with Gateway({"providers": providers, "models": models}) as g:
        yield g


@pytest.fixture(scope="module")
def http(gw: Gateway) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=gw.url, timeout=CLIENT_TIMEOUT) as c:
        yield c


def _sse_events(text: str) -> list[tuple[str | None, str]]:
    out = []
    for block in text.replace("\r\n", "\n").split("\n\n"):
        event, data = None, []
        for line in block.split("\n"):
            if line.startswith("event:"):
                event = line[6:].strip()
            elif line.startswith("data:"):
                data.append(line[5:].strip())
        if data:
            out.append((event, "\n".join(data)))
    return out


# ---------------------------------------------------------------------------------------------- OpenAI dialect


def _openai(http: httpx.Client, model: str, stream: bool) -> httpx.Response:
    return http.post(
        "/v1/chat/completions", json={"model": model, "stream": stream, "messages": [{"role": "user", "content": "hi"}]}
    )


def _openai_error(body: Any) -> dict[str, Any]:
    assert isinstance(body, dict) and set(body) == {"error"}, body
    err = body["error"]
    assert isinstance(err["message"], str) and err["message"] and isinstance(err["type"], str)
    return err


@pytest.mark.parametrize("wire", WIRES)
@pytest.mark.parametrize("fault", FAULTS)
def test_openai_stream(http: httpx.Client, wire: str, fault: str) -> None:
    r = _openai(http, f"{wire}-{fault}", True)
    if fault in PRE or (fault in PRE_OR_MID and r.status_code != 200):
        err = _openai_error(r.json())
        if fault in PRE:
            assert r.status_code == PRE[fault], r.text
        else:
            assert r.status_code in (502, 504)
        if fault == "error_200":
            assert "upstream exploded" in err["message"]
        return
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/event-stream")
    events = [data for _, data in _sse_events(r.text)]
    chunks = [json.loads(d) for d in events if d != "[DONE]"]
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c.get("choices"))
    if fault in OK:
        assert events[-1] == "[DONE]" and text == "Hello world"
        assert chunks[-1]["choices"] == [] or chunks[-1]["choices"][0]["finish_reason"] == "stop"
        return
    # After the first byte: what arrived, then the dialect's error event, and no [DONE] pretending success.
    assert "[DONE]" not in events
    assert text.startswith("Hello")
    err = _openai_error(chunks[-1])
    if fault == "stall":
        assert err["type"] == "timeout"
    if fault == "error_mid":
        assert "upstream exploded" in err["message"]
    if fault == "huge_line":
        assert "bytes" in err["message"] or "invalid" in err["message"]


@pytest.mark.parametrize("wire", WIRES)
@pytest.mark.parametrize("fault", FAULTS)
def test_openai_whole(http: httpx.Client, wire: str, fault: str) -> None:
    r = _openai(http, f"{wire}-{fault}", False)
    if fault in OK:
        assert r.status_code == 200, r.text
        assert r.json()["choices"][0]["message"]["content"] == "Hello world"
        return
    assert r.status_code == WHOLE[fault], r.text
    err = _openai_error(r.json())
    if fault in ("error_200", "error_mid"):
        assert "upstream exploded" in err["message"]


# ---------------------------------------------------------------------------------------------- Ollama dialect


@pytest.mark.parametrize("wire", WIRES)
@pytest.mark.parametrize("fault", FAULTS)
def test_ollama_stream(http: httpx.Client, wire: str, fault: str) -> None:
    r = http.post(
        "/ollama/api/chat", json={"model": f"{wire}-{fault}", "messages": [{"role": "user", "content": "hi"}]}
    )
    if r.status_code != 200:
        assert fault in PRE or fault in PRE_OR_MID, r.text
        body = r.json()
        assert set(body) == {"error"} and isinstance(body["error"], str) and body["error"]
        return
    lines = [json.loads(line) for line in r.text.splitlines() if line.strip()]
    if fault in OK:
        assert lines[-1]["done"] is True and "error" not in lines[-1]
        assert "".join(line["message"]["content"] for line in lines) == "Hello world"
        return
    assert fault in MID or fault in PRE_OR_MID, r.text
    assert set(lines[-1]) == {"error"} and isinstance(lines[-1]["error"], str)
    assert not any(line.get("done") for line in lines)


# ---------------------------------------------------------------------------------------------- Anthropic dialect


@pytest.mark.parametrize("wire", WIRES)
@pytest.mark.parametrize("fault", FAULTS)
def test_anthropic_stream(http: httpx.Client, wire: str, fault: str) -> None:
    r = http.post(
        "/anthropic/v1/messages",
        headers={"anthropic-version": "2023-06-01"},
        json={
            "model": f"{wire}-{fault}",
            "max_tokens": 32,
            "stream": True,
            "messages": [{"role": "user", "content": "hi"}],
        },
    )
    if r.status_code != 200:
        assert fault in PRE or fault in PRE_OR_MID, r.text
        body = r.json()
        assert body["type"] == "error" and body["error"]["message"] and body["error"]["type"]
        return
    events = _sse_events(r.text)
    names = [e for e, _ in events]
    if fault in OK:
        assert names[-1] == "message_stop" and "error" not in names
        return
    assert fault in MID or fault in PRE_OR_MID, r.text
    assert names[-1] == "error" and "message_stop" not in names
    body = json.loads(events[-1][1])
    assert body["type"] == "error" and body["error"]["message"]


# ---------------------------------------------------------------------------------------------- the worker afterwards


def _metric(text: str, name: str) -> float:
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name + "{") or line.startswith(name + " "):
            total += float(line.rsplit(" ", 1)[1])
    return total


def test_worker_healthy_after_faults(http: httpx.Client, gw: Gateway, faulty: tuple[FaultyUpstream, str]) -> None:
    fake, _ = faulty
    assert http.get("/health").status_code == 200
    r = _openai(http, "demo", False)
    assert r.status_code == 200 and r.json()["choices"][0]["message"]["content"]
    # Every upstream connection the gateway opened is closed, stalls included (polling: closes are async).
    deadline = time.monotonic() + 10
    while fake.open_streams and time.monotonic() < deadline:
        time.sleep(0.05)
    assert fake.open_streams == 0
    assert _metric(http.get("/metrics").text, "llm_link_in_flight_requests") == 0
    log = gw.log()
    assert "Traceback" not in log and "internal error" not in log, log[-3000:]
    assert gw.proc is not None and gw.proc.poll() is None
