"""`/v1/realtime` relayed: the official `openai` SDK's realtime client talks to the gateway with
a gateway key; a fake Realtime upstream sees the provider's key and upstream model; events pass both ways;
close codes pass on when either side goes away; the session is one call in the metrics with its usage."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest
import websockets

from tests.fakes.realtime_upstream import API_KEY, INPUT_TOKENS, OUTPUT_TOKENS, FakeRealtime
from tests.fakes.server import ThreadedServer
from tests.harness import Gateway

KEY = "sk-realtime-team-0001"
LIMITED = "sk-realtime-limited-0002"


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeRealtime]:
    fake = FakeRealtime()
    server = ThreadedServer(fake.app).start()
    fake.url = server.url + "/v1"  # type: ignore[attr-defined]
    yield fake
    server.stop()


@pytest.fixture(scope="module")
def gw(fake: FakeRealtime) -> Iterator[Gateway]:
    cfg = {
        "providers": {
            "oai": {"type": "openai", "base_url": fake.url, "api_key": API_KEY},  # type: ignore[attr-defined]
            "badkey": {"type": "openai", "base_url": fake.url, "api_key": "sk-wrong"},  # type: ignore[attr-defined]
            "mock": {"type": "mock"},
        },
        "models": {"voice": "oai/gpt-realtime-fake", "broken-voice": "badkey/gpt-realtime-fake", "demo": "mock/x"},
        "auth": {"keys": [{"name": "rt-team", "key": KEY}, {"name": "rt-limited", "key": LIMITED, "rpm": 1}]},
    }
    with Gateway(cfg) as g:
        yield g


def ws_url(gw: Gateway, model: str) -> str:
    return gw.url.replace("http", "ws") + f"/v1/realtime?model={model}"


def metric(gw: Gateway, name: str, **labels: str) -> float:
    total = 0.0
    for line in httpx.get(gw.url + "/metrics").text.splitlines():
        if line.startswith(name + "{") and all(f'{k}="{v}"' in line for k, v in labels.items()):
            total += float(line.rsplit(" ", 1)[1])
    return total


def test_sdk_realtime_session_is_relayed_with_the_providers_key(gw: Gateway, fake: FakeRealtime) -> None:
    before = metric(gw, "llm_link_tokens_total", model="voice", direction="output")
    client = openai.OpenAI(base_url=gw.url + "/v1", api_key=KEY)
    seen: list[Any] = []
    with client.realtime.connect(model="voice") as conn:
        conn.conversation.item.create(
            item={"type": "message", "role": "user", "content": [{"type": "input_text", "text": "hello voice"}]}
        )
        conn.response.create()
        for event in conn:
            seen.append(event)
            if event.type == "response.done":
                break
    types = [e.type for e in seen]
    assert types[0] == "session.created"
    assert "conversation.item.created" in types
    deltas = [e.delta for e in seen if e.type == "response.output_text.delta"]
    assert "".join(deltas) == "echo: hello voice"
    assert fake.models[-1] == "gpt-realtime-fake"  # the upstream model, not the client's name
    assert fake.headers[-1]["Authorization"] == f"Bearer {API_KEY}"  # the client's key was swapped
    # the session is one call with the usage of its responses
    deadline = time.monotonic() + 5
    while metric(gw, "llm_link_tokens_total", model="voice", direction="output") - before < OUTPUT_TOKENS:
        assert time.monotonic() < deadline, gw.log()[-2000:]
        time.sleep(0.1)
    assert metric(gw, "llm_link_key_tokens_total", key="rt-team", model="voice", direction="input") >= INPUT_TOKENS


def test_binary_frames_pass_both_ways(gw: Gateway) -> None:
    async def run() -> bytes:
        async with websockets.connect(ws_url(gw, "voice"), additional_headers={"Authorization": f"Bearer {KEY}"}) as ws:
            await ws.recv()  # session.created
            await ws.send(b"\x00\x01audio")
            return await ws.recv()  # type: ignore[return-value]

    assert asyncio.run(run()) == b"\x00\x01audio"


def test_upstream_close_code_reaches_the_client(gw: Gateway) -> None:
    async def run() -> int | None:
        async with websockets.connect(ws_url(gw, "voice"), additional_headers={"Authorization": f"Bearer {KEY}"}) as ws:
            await ws.recv()
            item = {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "hang up 4321"}]}
            await ws.send(json.dumps({"type": "conversation.item.create", "item": item}))
            try:
                while True:
                    await asyncio.wait_for(ws.recv(), 10)
            except websockets.ConnectionClosed as closed:
                return closed.rcvd.code if closed.rcvd else None

    assert asyncio.run(run()) == 4321


def test_client_close_reaches_the_upstream(gw: Gateway, fake: FakeRealtime) -> None:
    async def run() -> None:
        async with websockets.connect(ws_url(gw, "voice"), additional_headers={"Authorization": f"Bearer {KEY}"}) as ws:
            await ws.recv()
            await ws.close(code=4001, reason="done")

    n = len(fake.client_close_codes)
    asyncio.run(run())
    deadline = time.monotonic() + 5
    while len(fake.client_close_codes) == n:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert fake.client_close_codes[-1] == 4001


@pytest.mark.parametrize(
    ("model", "key", "status"),
    [("voice", "sk-wrong", 401), ("nope", KEY, 404), ("demo", KEY, 400), ("broken-voice", KEY, 502)],
)
def test_refusals_are_http_errors_before_the_upgrade(gw: Gateway, model: str, key: str, status: int) -> None:
    async def run() -> int:
        try:
            async with websockets.connect(ws_url(gw, model), additional_headers={"Authorization": f"Bearer {key}"}):
                return 101
        except websockets.InvalidStatus as err:
            return err.response.status_code

    assert asyncio.run(run()) == status


def test_a_session_counts_against_the_keys_rpm(gw: Gateway) -> None:
    async def session() -> tuple[str, int | None]:
        async with websockets.connect(
            ws_url(gw, "voice"), additional_headers={"Authorization": f"Bearer {LIMITED}"}
        ) as ws:
            first = json.loads(await asyncio.wait_for(ws.recv(), 10))
            try:
                while True:
                    await asyncio.wait_for(ws.recv(), 0.5 if first["type"] == "session.created" else 10)
            except TimeoutError:
                return first["type"], None
            except websockets.ConnectionClosed as closed:
                return first["type"], closed.rcvd.code if closed.rcvd else None

    assert asyncio.run(session()) == ("session.created", None)
    kind, code = asyncio.run(session())  # the minute's one request is used up
    assert (kind, code) == ("error", 1008)
