"""The OpenAI SDK, sync and async, against the gateway's /v1, backed by the mock and a fake OpenAI upstream."""

from __future__ import annotations

import base64
import json
import struct

import httpx
import openai
import pytest

from tests.fakes.openai_upstream import API_KEY, FakeOpenAI
from tests.harness import Gateway

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather for a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}
TIME = {
    "type": "function",
    "function": {"name": "get_time", "parameters": {"type": "object", "properties": {"tz": {"type": "string"}}}},
}
PIXEL = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="


@pytest.fixture(scope="module")
def client(openai_gateway: Gateway) -> openai.OpenAI:
    return openai.OpenAI(base_url=openai_gateway.url + "/v1", api_key="anything", max_retries=0)


@pytest.fixture(scope="module")
def aclient(openai_gateway: Gateway) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=openai_gateway.url + "/v1", api_key="anything", max_retries=0)


# ---------------------------------------------------------------------------------------------- mock


def test_mock_chat(client: openai.OpenAI) -> None:
    r = client.chat.completions.create(model="demo", messages=[{"role": "user", "content": "hello gateway"}])
    assert r.choices[0].message.content == "You said: hello gateway"
    assert r.choices[0].message.role == "assistant"
    assert r.choices[0].finish_reason == "stop"
    assert r.model == "demo"
    assert r.usage is not None and r.usage.prompt_tokens > 0 and r.usage.completion_tokens > 0


def test_mock_stream_arrives_in_chunks(client: openai.OpenAI) -> None:
    stream = client.chat.completions.create(
        model="demo", stream=True, messages=[{"role": "user", "content": "stream me please"}]
    )
    chunks = list(stream)
    texts = [c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta.content]
    assert len(texts) >= 3
    assert "".join(texts) == "You said: stream me please"
    assert chunks[0].choices[0].delta.role == "assistant"
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert len({c.id for c in chunks}) == 1


async def test_async_client_stream_with_usage(aclient: openai.AsyncOpenAI) -> None:
    stream = await aclient.chat.completions.create(
        model="demo",
        stream=True,
        stream_options={"include_usage": True},
        messages=[{"role": "user", "content": "count me"}],
    )
    chunks = [c async for c in stream]
    assert chunks[-1].choices == [] and chunks[-1].usage is not None
    assert chunks[-1].usage.total_tokens == chunks[-1].usage.prompt_tokens + chunks[-1].usage.completion_tokens


async def test_async_client_plain(aclient: openai.AsyncOpenAI) -> None:
    r = await aclient.chat.completions.create(model="demo", messages=[{"role": "user", "content": "async"}])
    assert r.choices[0].message.content == "You said: async"


def test_mock_tool_call(client: openai.OpenAI) -> None:
    r = client.chat.completions.create(model="demo", tools=[WEATHER], messages=[{"role": "user", "content": "Paris"}])
    call = r.choices[0].message.tool_calls[0]
    assert r.choices[0].finish_reason == "tool_calls"
    assert call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == {"city": "Paris"}


def test_model_listing_and_lookup(client: openai.OpenAI) -> None:
    ids = [m.id for m in client.models.list()]
    assert {"demo", "gpt-test", "gpt-alias"} <= set(ids)
    assert "oai/gpt-other" in ids  # discovered from the upstream's own /models
    assert client.models.retrieve("gpt-test").id == "gpt-test"
    assert client.models.retrieve("oai/gpt-test").owned_by == "oai"
    with pytest.raises(openai.NotFoundError):
        client.models.retrieve("no-such-model")


# ---------------------------------------------------------------------------------------------- openai upstream


def test_upstream_text_usage_and_headers(client: openai.OpenAI, fake_openai: FakeOpenAI) -> None:
    raw = client.chat.completions.with_raw_response.create(
        model="gpt-alias",
        max_tokens=50,
        temperature=0.3,
        messages=[{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"}],
    )
    r = raw.parse()
    assert r.choices[0].message.content == "echo: hi"
    assert r.model == "gpt-alias"  # the name the client asked for
    assert r.usage.prompt_tokens == 12 and r.usage.completion_tokens == 7
    assert r.usage.prompt_tokens_details.cached_tokens == 3
    sent = fake_openai.last
    assert sent["model"] == "gpt-test" and sent["max_tokens"] == 50 and sent["temperature"] == 0.3
    assert sent["messages"][0] == {"role": "system", "content": "be brief"}
    assert fake_openai.headers[-1]["X-Team"] == "blue"
    assert raw.headers["x-llm-link-provider"] == "oai/gpt-test"
    assert float(raw.headers["x-llm-link-overhead-ms"]) > 0
    assert raw.headers["x-request-id"]


def test_request_id_is_echoed(openai_gateway: Gateway) -> None:
    r = httpx.post(
        openai_gateway.url + "/v1/chat/completions",
        headers={"X-Request-ID": "trace-42"},
        json={"model": "demo", "messages": [{"role": "user", "content": "x"}]},
    )
    assert r.headers["x-request-id"] == "trace-42"


def test_provider_slash_model_passthrough(client: openai.OpenAI, fake_openai: FakeOpenAI) -> None:
    r = client.chat.completions.create(model="oai/gpt-other", messages=[{"role": "user", "content": "direct"}])
    assert r.choices[0].message.content == "echo: direct"
    assert fake_openai.last["model"] == "gpt-other"


def test_max_completion_tokens_accepted(client: openai.OpenAI, fake_openai: FakeOpenAI) -> None:
    client.chat.completions.create(
        model="gpt-test", max_completion_tokens=33, messages=[{"role": "user", "content": "hi"}]
    )
    # Same API on both sides: forwarded as the client sent it; the translated lane's mapping to
    # max_tokens for compatible servers is covered by the matrix tests.
    assert fake_openai.last["max_completion_tokens"] == 33 and "max_tokens" not in fake_openai.last


def test_upstream_stream_asks_for_usage_and_strips_it(client: openai.OpenAI, fake_openai: FakeOpenAI) -> None:
    chunks = list(
        client.chat.completions.create(
            model="gpt-test", stream=True, messages=[{"role": "user", "content": "stream this"}]
        )
    )
    assert fake_openai.last["stream_options"] == {"include_usage": True}
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "echo: stream this"
    assert all(c.choices for c in chunks)  # the client did not ask for usage: no usage-only chunk


def test_upstream_streamed_parallel_tool_calls(client: openai.OpenAI, fake_openai: FakeOpenAI) -> None:
    stream = client.chat.completions.create(
        model="gpt-test", stream=True, tools=[WEATHER, TIME], messages=[{"role": "user", "content": "parallel please"}]
    )
    calls: dict[int, dict[str, str]] = {}
    finish = None
    fragments = 0
    for chunk in stream:
        if not chunk.choices:
            continue
        for tc in chunk.choices[0].delta.tool_calls or []:
            entry = calls.setdefault(tc.index, {"id": "", "name": "", "args": ""})
            entry["id"] += tc.id or ""
            entry["name"] += (tc.function.name or "") if tc.function else ""
            entry["args"] += (tc.function.arguments or "") if tc.function else ""
            fragments += 1
        finish = chunk.choices[0].finish_reason or finish
    assert finish == "tool_calls"
    assert fragments > 4  # arguments really arrived in pieces
    assert calls[0] == {"id": "call_w1", "name": "get_weather", "args": '{"city": "Paris"}'}
    assert calls[1] == {"id": "call_t2", "name": "get_time", "args": '{"tz": "Europe/Paris"}'}


def test_tool_round_trip_and_images(client: openai.OpenAI, fake_openai: FakeOpenAI) -> None:
    r = client.chat.completions.create(
        model="gpt-test",
        tools=[WEATHER, TIME],
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "weather? with text"},
                    {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PIXEL}"}},
                ],
            },
        ],
    )
    msg = r.choices[0].message
    assert msg.content == "Let me check." and msg.tool_calls[0].id == "call_w1"
    r2 = client.chat.completions.create(
        model="gpt-test",
        tools=[WEATHER],
        messages=[
            {"role": "user", "content": "weather?"},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "call_w1",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
                    },
                    {"id": "call_t2", "type": "function", "function": {"name": "get_time", "arguments": "{}"}},
                ],
            },
            {"role": "tool", "tool_call_id": "call_w1", "content": "18C"},
            {"role": "tool", "tool_call_id": "call_t2", "content": "noon"},
        ],
    )
    assert r2.choices[0].message.content == "got: 18C | noon"
    sent = fake_openai.last["messages"]
    assert [m["role"] for m in sent] == ["user", "assistant", "tool", "tool"]
    assert sent[1]["tool_calls"][1]["id"] == "call_t2"


def test_image_reaches_upstream_as_data_uri(client: openai.OpenAI, fake_openai: FakeOpenAI) -> None:
    client.chat.completions.create(
        model="gpt-test",
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "what is this"},
                    {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PIXEL}"}},
                ],
            }
        ],
    )
    parts = fake_openai.last["messages"][0]["content"]
    assert parts[1] == {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PIXEL}"}}


def test_reasoning_content_passes_through(client: openai.OpenAI) -> None:
    r = client.chat.completions.create(model="reasoner", messages=[{"role": "user", "content": "think"}])
    assert r.choices[0].message.model_extra.get("reasoning_content") == "thinking hard"


def test_embeddings_float_and_base64(client: openai.OpenAI, openai_gateway: Gateway) -> None:
    r = client.embeddings.create(model="gpt-test", input=["abc", "hello"])  # SDK asks for base64 by default
    assert [d.embedding for d in r.data] == [[0.5, -0.25, 3.0, 1.0], [0.5, -0.25, 5.0, 1.0]]
    assert r.usage.prompt_tokens == 5
    raw = httpx.post(
        openai_gateway.url + "/v1/embeddings", json={"model": "gpt-test", "input": "abc", "encoding_format": "base64"}
    ).json()
    vec = struct.unpack("<4f", base64.b64decode(raw["data"][0]["embedding"]))
    assert vec == (0.5, -0.25, 3.0, 1.0)
    floats = httpx.post(openai_gateway.url + "/v1/embeddings", json={"model": "demo", "input": "abc"}).json()
    assert len(floats["data"][0]["embedding"]) == 8


# ---------------------------------------------------------------------------------------------- errors


def test_malformed_json_is_400(openai_gateway: Gateway) -> None:
    r = httpx.post(
        openai_gateway.url + "/v1/chat/completions",
        content=b'{"model": "demo", "messages": [',
        headers={"Content-Type": "application/json"},
    )
    assert r.status_code == 400
    assert r.json()["error"]["type"] == "invalid_request_error"


def test_missing_messages_names_the_field(openai_gateway: Gateway) -> None:
    r = httpx.post(openai_gateway.url + "/v1/chat/completions", json={"model": "demo"})
    assert r.status_code == 400
    assert r.json()["error"]["param"] == "messages"
    assert "messages" in r.json()["error"]["message"]


def test_wrong_type_names_the_field(openai_gateway: Gateway) -> None:
    r = httpx.post(
        openai_gateway.url + "/v1/chat/completions",
        json={"model": "demo", "messages": [{"role": "user", "content": 5}]},
    )
    assert r.status_code == 400
    assert r.json()["error"]["param"] == "messages[0].content"
    r = httpx.post(
        openai_gateway.url + "/v1/chat/completions",
        json={"model": "demo", "temperature": "hot", "messages": [{"role": "user", "content": "x"}]},
    )
    assert r.status_code == 400 and r.json()["error"]["param"] == "temperature"


def test_empty_messages_rejected(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError):
        client.chat.completions.create(model="demo", messages=[])


def test_unknown_model_is_404(client: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as info:
        client.chat.completions.create(model="gpt-nope", messages=[{"role": "user", "content": "x"}])
    assert info.value.body["code"] == "model_not_found"


def test_oversized_body_is_413(openai_gateway: Gateway) -> None:
    big = "x" * 300_000
    r = httpx.post(
        openai_gateway.url + "/v1/chat/completions",
        json={"model": "demo", "messages": [{"role": "user", "content": big}]},
    )
    assert r.status_code == 413
    assert "error" in r.json()


@pytest.mark.parametrize(
    ("model", "exc", "status"),
    [
        ("oai/fail-400", openai.BadRequestError, 400),
        ("oai/fail-401", openai.AuthenticationError, 401),
        ("oai/fail-429", openai.RateLimitError, 429),
        ("oai/fail-500", openai.InternalServerError, 500),
        ("oai/fail-503", openai.InternalServerError, 503),
    ],
)
def test_upstream_errors_pass_through(client: openai.OpenAI, model: str, exc: type, status: int) -> None:
    with pytest.raises(exc) as info:
        client.chat.completions.create(model=model, messages=[{"role": "user", "content": "x"}])
    assert info.value.status_code == status
    assert f"upstream says {status}" in info.value.message


def test_upstream_429_keeps_retry_after(openai_gateway: Gateway) -> None:
    r = httpx.post(
        openai_gateway.url + "/v1/chat/completions",
        json={"model": "oai/fail-429", "messages": [{"role": "user", "content": "x"}]},
    )
    assert r.status_code == 429 and r.headers["retry-after"] == "1"


def test_upstream_unreachable_is_502(client: openai.OpenAI) -> None:
    with pytest.raises(openai.InternalServerError) as info:
        client.chat.completions.create(model="ghost", messages=[{"role": "user", "content": "x"}])
    assert info.value.status_code == 502


def test_upstream_timeout_is_504(client: openai.OpenAI) -> None:
    with pytest.raises(openai.InternalServerError) as info:
        client.chat.completions.create(model="slowpoke", messages=[{"role": "user", "content": "x"}])
    assert info.value.status_code == 504


def test_error_body_on_200_is_an_error(client: openai.OpenAI) -> None:
    with pytest.raises(openai.APIStatusError) as info:
        client.chat.completions.create(model="oai/ok-200-error", messages=[{"role": "user", "content": "x"}])
    assert "quota exhausted" in info.value.message


def test_upstream_drop_mid_stream_ends_with_error(client: openai.OpenAI) -> None:
    stream = client.chat.completions.create(
        model="oai/drop", stream=True, messages=[{"role": "user", "content": "a long enough message"}]
    )
    received = []
    with pytest.raises(openai.APIError):
        for chunk in stream:
            received.append(chunk)
    assert received  # the stream had started before it broke


def test_in_stream_upstream_error_reaches_client(client: openai.OpenAI) -> None:
    stream = client.chat.completions.create(
        model="oai/error-chunk", stream=True, messages=[{"role": "user", "content": "x"}]
    )
    with pytest.raises(openai.APIError) as info:
        list(stream)
    assert "model crashed" in str(info.value)


def test_stream_error_before_first_byte_is_http_error(client: openai.OpenAI) -> None:
    with pytest.raises(openai.RateLimitError):
        client.chat.completions.create(model="oai/fail-429", stream=True, messages=[{"role": "user", "content": "x"}])


def test_client_disconnect_cancels_upstream(openai_gateway: Gateway, fake_openai: FakeOpenAI) -> None:
    before = fake_openai.cancelled
    with httpx.stream(
        "POST",
        openai_gateway.url + "/v1/chat/completions",
        json={
            "model": "oai/slow-stream",
            "stream": True,
            "messages": [{"role": "user", "content": "a long message that streams slowly " * 3}],
        },
    ) as r:
        for _ in r.iter_raw():
            break  # read one piece, then hang up
    import time

    deadline = time.monotonic() + 5
    while fake_openai.cancelled == before and time.monotonic() < deadline:
        time.sleep(0.05)
    assert fake_openai.cancelled > before


def test_tool_message_without_id_is_400(openai_gateway: Gateway) -> None:
    r = httpx.post(
        openai_gateway.url + "/v1/chat/completions",
        json={"model": "demo", "messages": [{"role": "tool", "content": "x"}]},
    )
    assert r.status_code == 400 and "tool_call_id" in r.json()["error"]["message"]


def test_cors_preflight(openai_gateway: Gateway) -> None:
    """A page served from this machine may call the gateway; by default no other origin may."""
    for origin, allowed in (("http://localhost:3000", True), ("http://example.test", False)):
        r = httpx.options(
            openai_gateway.url + "/v1/chat/completions",
            headers={
                "Origin": origin,
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "content-type,authorization",
            },
        )
        assert r.status_code in (200, 204)
        assert r.headers.get("access-control-allow-origin") == (origin if allowed else None)


def test_health_ready_metrics(openai_gateway: Gateway) -> None:
    assert httpx.get(openai_gateway.url + "/health").json()["status"] == "ok"
    assert httpx.get(openai_gateway.url + "/ready").status_code == 200
    httpx.post(
        openai_gateway.url + "/v1/chat/completions",
        json={"model": "demo", "messages": [{"role": "user", "content": "m"}]},
    )
    text = httpx.get(openai_gateway.url + "/metrics").text
    for family in (
        "llm_link_requests_total",
        "llm_link_request_duration_seconds",
        "llm_link_upstream_duration_seconds",
        "llm_link_time_to_first_token_seconds",
        "llm_link_overhead_seconds",
        "llm_link_tokens_total",
        "llm_link_in_flight_requests",
    ):
        assert family in text
    assert 'llm_link_requests_total{dialect="openai",model="demo",provider="mock",status="200"}' in text
    assert 'llm_link_tokens_total{direction="input",model="demo",provider="mock"}' in text


def test_api_key_never_in_logs_or_errors(openai_gateway: Gateway, client: openai.OpenAI) -> None:
    with pytest.raises(openai.APIError) as info:
        client.chat.completions.create(model="oai/fail-401", messages=[{"role": "user", "content": "x"}])
    assert API_KEY not in str(info.value.body)
    assert API_KEY not in openai_gateway.log()
    assert "request_id" in openai_gateway.log()


def test_requests_refused_before_an_endpoint_are_logged_and_counted(openai_gateway: Gateway) -> None:
    r = httpx.post(
        openai_gateway.url + "/v1/chat/completions",
        headers={"X-Request-ID": "too-big-1"},
        json={"model": "demo", "messages": [{"role": "user", "content": "x" * 300_000}]},
    )
    assert r.status_code == 413 and r.headers["x-request-id"] == "too-big-1"
    assert 'status="413"' in httpx.get(openai_gateway.url + "/metrics").text
    import time

    deadline = time.monotonic() + 2  # under load the access log batches lines for a few milliseconds
    while '"request_id":"too-big-1"' not in openai_gateway.log() and time.monotonic() < deadline:
        time.sleep(0.02)
    line = next(ln for ln in openai_gateway.log().splitlines() if '"request_id":"too-big-1"' in ln)
    assert '"status":413' in line


def test_every_non_streaming_answer_reports_overhead(openai_gateway: Gateway) -> None:
    for r in (
        httpx.get(openai_gateway.url + "/v1/models"),
        httpx.post(openai_gateway.url + "/v1/chat/completions", json={"model": "nope", "messages": []}),
    ):
        assert float(r.headers["x-llm-link-overhead-ms"]) > 0
