"""The Responses API over WebSocket: the official `openai` SDK's `client.responses.connect()`
against the gateway, answered from a fake OpenAI chat upstream and the mock; the events are those of the
SSE stream, one per message; a continuation on the same connection by `previous_response_id` carries the
whole conversation upstream; keys, limits and metrics count each message."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest

from tests.fakes.openai_upstream import API_KEY, FakeOpenAI
from tests.harness import Gateway

KEY = "sk-ws-team-0001"
LIMITED = "sk-ws-limited-0002"


@pytest.fixture(scope="module")
def gw(fake_openai: FakeOpenAI) -> Iterator[Gateway]:
    cfg = {
        "providers": {
            "oai": {"type": "openai", "base_url": fake_openai.url, "api_key": API_KEY},  # type: ignore[attr-defined]
            "mock": {"type": "mock"},
        },
        "models": {"m-openai": "oai/gpt-4o-mini", "m-mock": "mock/demo"},
        "auth": {"keys": [{"name": "ws-team", "key": KEY}, {"name": "ws-limited", "key": LIMITED, "rpm": 2}]},
    }
    with Gateway(cfg) as g:
        yield g


def events_until_done(conn: Any) -> list[Any]:
    out = []
    for event in conn:
        out.append(event)
        if event.type in ("response.completed", "response.failed", "response.incomplete", "error"):
            return out
    raise AssertionError("connection closed before the response ended")


def sse_types(gw: Gateway, body: dict[str, Any]) -> list[str]:
    r = httpx.post(gw.url + "/v1/responses", json={**body, "stream": True}, headers={"Authorization": f"Bearer {KEY}"})
    assert r.status_code == 200, r.text
    return [json.loads(line[5:])["type"] for line in r.text.splitlines() if line.startswith("data:")]


@pytest.mark.parametrize("model", ["m-openai", "m-mock"])
def test_sdk_websocket_gets_the_sse_event_sequence(gw: Gateway, model: str) -> None:
    client = openai.OpenAI(base_url=gw.url + "/v1", api_key=KEY)
    prompt = f"over a socket {uuid.uuid4().hex}"
    with client.responses.connect() as conn:
        conn.response.create(model=model, input=prompt)
        events = events_until_done(conn)
    types = [e.type for e in events]
    assert types == sse_types(gw, {"model": model, "input": prompt})
    assert types[0] == "response.created" and types[-1] == "response.completed"
    done = events[-1].response
    if model == "m-openai":
        assert done.output_text == f"echo: {prompt}"
    assert [e.sequence_number for e in events] == list(range(len(events)))


def test_a_continuation_on_the_connection_sends_the_whole_conversation(gw: Gateway, fake_openai: FakeOpenAI) -> None:
    client = openai.OpenAI(base_url=gw.url + "/v1", api_key=KEY)
    first, second = f"first {uuid.uuid4().hex}", f"second {uuid.uuid4().hex}"
    with client.responses.connect() as conn:
        conn.response.create(model="m-openai", input=first, store=False)
        one = events_until_done(conn)[-1].response
        # As Codex does: only the new input, chained to the previous answer on this connection.
        conn.response.create(model="m-openai", input=second, previous_response_id=one.id, store=False)
        two = events_until_done(conn)[-1]
    assert two.type == "response.completed" and two.response.output_text == f"echo: {second}"
    upstream = fake_openai.requests[-1]["messages"]
    assert [m["role"] for m in upstream] == ["user", "assistant", "user"]
    assert first in json.dumps(upstream[0]) and f"echo: {first}" in json.dumps(upstream[1])


def test_errors_are_error_messages_and_the_connection_stays_open(gw: Gateway) -> None:
    client = openai.OpenAI(base_url=gw.url + "/v1", api_key=KEY)
    with client.responses.connect() as conn:
        conn.response.create(model="no-such-model", input="hi")
        error = events_until_done(conn)[-1]
        assert error.type == "error"
        assert error.status == 404
        conn.response.create(model="m-mock", input="hi", previous_response_id="resp_unknown")
        assert events_until_done(conn)[-1].type == "error"
        conn.response.create(model="m-mock", input="still here")
        assert events_until_done(conn)[-1].type == "response.completed"


def test_a_wrong_key_is_refused_at_the_upgrade(gw: Gateway) -> None:
    client = openai.OpenAI(base_url=gw.url + "/v1", api_key="sk-wrong")
    with pytest.raises(Exception) as info:
        with client.responses.connect() as conn:
            conn.response.create(model="m-mock", input="hi")
            events_until_done(conn)
    assert "401" in str(info.value)


def test_each_message_counts_against_the_keys_limits_and_metrics(gw: Gateway) -> None:
    def count() -> float:
        total = 0.0
        for line in httpx.get(gw.url + "/metrics").text.splitlines():
            if line.startswith("llm_link_key_requests_total{") and 'key="ws-limited"' in line:
                total += float(line.rsplit(" ", 1)[1])
        return total

    before = count()
    client = openai.OpenAI(base_url=gw.url + "/v1", api_key=LIMITED)
    with client.responses.connect() as conn:
        results = []
        for _ in range(3):
            conn.response.create(model="m-mock", input="hi")
            results.append(events_until_done(conn)[-1])
    assert [r.type for r in results] == ["response.completed", "response.completed", "error"]
    assert results[-1].status == 429
    assert count() - before == 3
