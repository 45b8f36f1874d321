"""A provider's whole-call `timeout` (kept by the worker's deadline sweeper, providers.deadlines) as a
client sees it, on the same-API forwarding lane and the translated lane: an upstream that never answers
or stalls is cut with the dialect's timeout error (504 before the first byte, the error event after it),
the upstream connection is closed, and a slow answer that arrives in time is not cut."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.fakes.faulty_upstream import FaultyUpstream
from tests.fakes.scripted_upstream import ScriptedUpstream
from tests.fakes.server import ThreadedServer
from tests.harness import Gateway

TIMEOUT = 1.5  # the providers' `timeout`
BOUND = 15.0  # "bounded": far above TIMEOUT plus the sweep's granularity, far below a hang
LANES = ("forward", "translate")


@pytest.fixture(scope="module")
def faulty() -> Iterator[FaultyUpstream]:
    fake = FaultyUpstream()
    server = ThreadedServer(fake.app).start()
    fake.url = server.url  # type: ignore[attr-defined]
    yield fake
    server.stop()


@pytest.fixture(scope="module")
def scripted() -> Iterator[tuple[ScriptedUpstream, str]]:
    fake = ScriptedUpstream()
    server = ThreadedServer(fake.app).start()
    yield fake, server.url
    server.stop()


@pytest.fixture(scope="module")
def gw(faulty: FaultyUpstream, scripted: tuple[ScriptedUpstream, str]) -> Iterator[Gateway]:
    url = faulty.url  # type: ignore[attr-defined]
    common = {"api_key": "sk-faulty", "timeout": TIMEOUT, "connect_timeout": 2}
    providers: dict[str, Any] = {
        "forward": {"type": "openai", "base_url": url + "/v1", **common},
        "translate": {"type": "openai", "base_url": url + "/v1", "passthrough": False, **common},
        "claude": {"type": "anthropic", "base_url": url, "max_tokens": 64, **common},
        "slow": {"type": "openai", "base_url": scripted[1] + "/slow/v1", "api_key": "sk-s", "timeout": 3.0},
    }
    models: dict[str, Any] = {
        f"{lane}-{fault}": {"provider": lane, "model": fault, "retries": 0}
        for lane in LANES
        for fault in ("ok", "stall", "stall_start")
    }
    models["claude-stall"] = {"provider": "claude", "model": "stall", "retries": 0}
    models["slow"] = {"provider": "slow", "model": "s", "retries": 0}
    with Gateway({"providers": providers, "models": models}) as g:
        yield g


@pytest.fixture(scope="module")
def http(gw: Gateway) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=gw.url, timeout=60) as c:
        yield c


def _chat(http: httpx.Client, model: str, stream: bool) -> tuple[httpx.Response, float]:
    t = time.monotonic()
    r = http.post(
        "/v1/chat/completions", json={"model": model, "stream": stream, "messages": [{"role": "user", "content": "hi"}]}
    )
    return r, time.monotonic() - t


def _data(text: str) -> list[str]:
    return [line[5:].strip() for line in text.replace("\r\n", "\n").split("\n") if line.startswith("data:")]


def _upstream_hung_up(fake: FaultyUpstream) -> bool:
    for _ in range(100):  # the fake notices a closed connection within 0.05 s
        if fake.open_streams == 0:
            return True
        time.sleep(0.05)
    return False


@pytest.mark.parametrize("lane", LANES)
@pytest.mark.parametrize("fault", ["stall_start", "stall"])  # no headers ever / headers then half a body
def test_whole_answer_that_never_comes_is_a_504_timeout(
    http: httpx.Client, faulty: FaultyUpstream, lane: str, fault: str
) -> None:
    r, took = _chat(http, f"{lane}-{fault}", False)
    assert r.status_code == 504, r.text
    assert r.json()["error"]["type"] == "timeout"
    assert "timed out" in r.json()["error"]["message"]
    assert TIMEOUT * 0.9 <= took < BOUND
    assert _upstream_hung_up(faulty)


@pytest.mark.parametrize("lane", LANES)
def test_stream_that_never_starts_is_a_504_timeout(http: httpx.Client, faulty: FaultyUpstream, lane: str) -> None:
    r, took = _chat(http, f"{lane}-stall_start", True)
    assert r.status_code == 504, r.text
    assert r.json()["error"]["type"] == "timeout"
    assert took < BOUND
    assert _upstream_hung_up(faulty)


@pytest.mark.parametrize("lane", LANES)
def test_stalled_stream_ends_with_the_timeout_error_event(
    http: httpx.Client, faulty: FaultyUpstream, lane: str
) -> None:
    r, took = _chat(http, f"{lane}-stall", True)
    assert r.status_code == 200
    events = _data(r.text)
    assert "[DONE]" not in events
    chunks = [json.loads(e) for e in events]
    assert any(c.get("choices") and c["choices"][0]["delta"].get("content") == "Hello" for c in chunks)
    assert chunks[-1].get("error", {}).get("type") == "timeout", r.text[-600:]
    assert took < BOUND
    assert _upstream_hung_up(faulty)


def test_stalled_anthropic_stream_ends_with_an_error_event(http: httpx.Client, faulty: FaultyUpstream) -> None:
    t = time.monotonic()
    r = http.post(
        "/anthropic/v1/messages",
        headers={"anthropic-version": "2023-06-01"},
        json={
            "model": "claude-stall",
            "max_tokens": 64,
            "stream": True,
            "messages": [{"role": "user", "content": "hi"}],
        },
    )
    assert r.status_code == 200
    assert time.monotonic() - t < BOUND
    last = json.loads(_data(r.text)[-1])
    assert last["type"] == "error" and last["error"]["type"] in ("timeout_error", "api_error"), last
    assert "message_stop" not in r.text
    assert _upstream_hung_up(faulty)


@pytest.mark.parametrize("lane", LANES)
def test_answer_in_time_is_whole(http: httpx.Client, lane: str) -> None:
    for stream in (False, True):
        r, _ = _chat(http, f"{lane}-ok", stream)
        assert r.status_code == 200, r.text
        if stream:
            assert _data(r.text)[-1] == "[DONE]"
        else:
            assert r.json()["choices"][0]["message"]["content"] == "Hello world"


@pytest.mark.parametrize("stream", [False, True])
def test_slow_answer_within_the_timeout_is_not_cut(
    http: httpx.Client, scripted: tuple[ScriptedUpstream, str], stream: bool
) -> None:
    # 1 s of silence (several sweeps) under a 3 s timeout; then, later, one that must not inherit a deadline
    fake, _ = scripted
    fake.script("slow", ["slow:1.0", "ok"])
    for _ in range(2):
        r, _took = _chat(http, "slow", stream)
        assert r.status_code == 200, r.text
        if stream:
            events = _data(r.text)
            assert events[-1] == "[DONE]"
            text = "".join(
                (c["choices"][0]["delta"].get("content") or "")
                for c in map(json.loads, events[:-1])
                if c.get("choices")
            )
            assert text == "from slow and more"
        else:
            assert r.json()["choices"][0]["message"]["content"] == "from slow"
