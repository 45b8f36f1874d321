"""The Anthropic dialect (/anthropic/v1) with the anthropic SDK and raw HTTP, and the anthropic provider as
seen by the strict fake upstream: request shape, event sequence, errors in Anthropic's shape."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import anthropic
import httpx
import openai
import pytest

from tests.fakes.anthropic_upstream import API_KEY as ANTHROPIC_KEY
from tests.fakes.anthropic_upstream import SIGNATURE, FakeAnthropic
from tests.fakes.openai_upstream import API_KEY as OPENAI_KEY
from tests.fakes.openai_upstream import FakeOpenAI
from tests.fakes.server import ThreadedServer
from tests.harness import Gateway

WEATHER = {
    "name": "get_weather",
    "description": "Weather for a city",
    "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}
TIME = {"name": "get_time", "input_schema": {"type": "object", "properties": {"tz": {"type": "string"}}}}
OAI_WEATHER = {"type": "function", "function": {"name": "get_weather", "parameters": WEATHER["input_schema"]}}
CLIENT_KEY = "sk-client-secret-789"


@pytest.fixture(scope="module")
def fake_anthropic() -> Iterator[FakeAnthropic]:
    fake = FakeAnthropic()
    server = ThreadedServer(fake.app).start()
    fake.url = server.url  # type: ignore[attr-defined]
    yield fake
    server.stop()


@pytest.fixture(scope="module")
def gw(fake_openai: FakeOpenAI, fake_anthropic: FakeAnthropic) -> Iterator[Gateway]:
    url = fake_anthropic.url  # type: ignore[attr-defined]
    config = {
        "server": {"max_body_bytes": 200_000},
        "providers": {
            "mock": {"type": "mock", "options": {"chunks": 3}},
            "oai": {"type": "openai", "base_url": fake_openai.url, "api_key": OPENAI_KEY},  # type: ignore[attr-defined]
            "claude": {"type": "anthropic", "base_url": url, "api_key": ANTHROPIC_KEY, "max_tokens": 1234},
            "claude2": {"type": "anthropic", "base_url": url + "/v1", "api_key": ANTHROPIC_KEY},
            "badkey": {"type": "anthropic", "base_url": url, "api_key": "sk-wrong"},
            "dead": {"type": "anthropic", "base_url": "http://127.0.0.1:9", "api_key": "x", "connect_timeout": 2},
        },
        "models": {
            "demo": "mock/demo",
            "gpt-test": "oai/gpt-test",
            "claude-test": "claude/claude-test",
            "claude-default": "claude2/claude-test",
            "claude-capped": {"provider": "claude2", "model": "claude-test", "max_tokens": 777},
            "claude-badkey": "badkey/claude-test",
            "ghost": "dead/claude-test",
        },
    }
    with Gateway(config) as g:
        yield g


@pytest.fixture(scope="module")
def client(gw: Gateway) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=gw.url + "/anthropic", api_key=CLIENT_KEY, max_retries=0)


def _events(gw: Gateway, body: dict[str, Any], **kwargs: Any) -> list[tuple[str, dict[str, Any]]]:
    """The raw SSE events of a streamed /messages call: (event name, data)."""
    r = httpx.post(gw.url + "/anthropic/v1/messages", json={**body, "stream": True}, **kwargs)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/event-stream")
    out = []
    for block in r.text.split("\n\n"):
        if not block.strip():
            continue
        lines = block.split("\n")
        assert lines[0].startswith("event: ") and lines[1].startswith("data: ") and len(lines) == 2
        name, data = lines[0][7:], json.loads(lines[1][6:])
        assert data["type"] == name
        out.append((name, data))
    return out


def _check_sequence(events: list[tuple[str, dict[str, Any]]]) -> None:
    """Anthropic's grammar: message_start, blocks 0..n-1 each start/deltas/stop without overlap,
    message_delta, message_stop."""
    names = [n for n, _ in events if n != "ping"]
    assert names[0] == "message_start" and names[-2:] == ["message_delta", "message_stop"]
    open_index = None
    next_index = 0
    for name, data in events[1:-2]:
        if name == "content_block_start":
            assert open_index is None and data["index"] == next_index
            open_index = next_index
            next_index += 1
        elif name == "content_block_delta":
            assert data["index"] == open_index
        elif name == "content_block_stop":
            assert data["index"] == open_index
            open_index = None
    assert open_index is None


# ---------------------------------------------------------------------------------------------- SDK


@pytest.mark.parametrize("model", ["demo", "gpt-test", "claude-test"])
def test_stream_helper_text_and_final_message(client: anthropic.Anthropic, model: str) -> None:
    with client.messages.stream(model=model, max_tokens=100, messages=[{"role": "user", "content": "stream me"}]) as s:
        pieces = list(s.text_stream)
        final = s.get_final_message()
    assert len(pieces) >= 2
    assert "".join(pieces).endswith("stream me") and final.content[0].text == "".join(pieces)
    assert final.stop_reason == "end_turn" and final.model == model and final.id.startswith("msg_")


@pytest.mark.parametrize("model", ["demo", "gpt-test", "claude-test"])
def test_tool_use_round_trip(client: anthropic.Anthropic, model: str) -> None:
    messages: list[dict[str, Any]] = [{"role": "user", "content": "weather in Paris?"}]
    r = client.messages.create(model=model, max_tokens=200, tools=[WEATHER], messages=messages)
    assert r.stop_reason == "tool_use"
    use = [b for b in r.content if b.type == "tool_use"][0]
    assert use.name == "get_weather" and isinstance(use.input, dict) and use.input["city"]
    messages += [
        {"role": "assistant", "content": r.content},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": use.id, "content": "18C"}]},
    ]
    r2 = client.messages.create(model=model, max_tokens=200, tools=[WEATHER], messages=messages)
    assert r2.stop_reason == "end_turn"
    assert r2.content[0].text.endswith("18C")


def test_streamed_parallel_tool_calls_event_sequence(gw: Gateway) -> None:
    for model in ("gpt-test", "claude-test"):
        events = _events(
            gw,
            {
                "model": model,
                "max_tokens": 100,
                "tools": [WEATHER, TIME],
                "messages": [{"role": "user", "content": "parallel please, with text"}],
            },
        )
        _check_sequence(events)
        starts = [d["content_block"] for n, d in events if n == "content_block_start"]
        assert [b["type"] for b in starts] == ["text", "tool_use", "tool_use"]
        assert starts[1]["input"] == {} and starts[1]["name"] == "get_weather"
        args: dict[int, str] = {}
        for n, d in events:
            if n == "content_block_delta" and d["delta"]["type"] == "input_json_delta":
                args[d["index"]] = args.get(d["index"], "") + d["delta"]["partial_json"]
        assert {i: json.loads(a) for i, a in args.items()} == {1: {"city": "Paris"}, 2: {"tz": "Europe/Paris"}}
        delta = [d for n, d in events if n == "message_delta"][0]
        assert delta["delta"] == {"stop_reason": "tool_use", "stop_sequence": None}
        assert delta["usage"]["output_tokens"] > 0


def test_thinking_streams_with_signature_and_replays(
    client: anthropic.Anthropic, gw: Gateway, fake_anthropic: FakeAnthropic
) -> None:
    events = _events(
        gw,
        {
            "model": "claude-test",
            "max_tokens": 4000,
            "thinking": {"type": "enabled", "budget_tokens": 2048},
            "messages": [{"role": "user", "content": "think"}],
        },
    )
    _check_sequence(events)
    starts = [d["content_block"]["type"] for n, d in events if n == "content_block_start"]
    assert starts == ["thinking", "text"]
    deltas = [d["delta"] for n, d in events if n == "content_block_delta" and d["index"] == 0]
    assert deltas == [
        {"type": "thinking_delta", "thinking": "thinking hard"},
        {"type": "signature_delta", "signature": SIGNATURE},
    ]
    assert fake_anthropic.last["thinking"] == {"type": "enabled", "budget_tokens": 2048}
    r = client.messages.create(
        model="claude-test",
        max_tokens=4000,
        thinking={"type": "enabled", "budget_tokens": 2048},
        messages=[{"role": "user", "content": "think"}],
    )
    assert r.content[0].type == "thinking" and r.content[0].signature == SIGNATURE
    client.messages.create(
        model="claude-test",
        max_tokens=4000,
        thinking={"type": "enabled", "budget_tokens": 2048},
        messages=[
            {"role": "user", "content": "think"},
            {"role": "assistant", "content": r.content},
            {"role": "user", "content": "again"},
        ],
    )
    replayed = fake_anthropic.last["messages"][1]["content"][0]
    assert replayed == {"type": "thinking", "thinking": "thinking hard", "signature": SIGNATURE}


def test_thinking_from_openai_upstream_becomes_thinking_block(client: anthropic.Anthropic) -> None:
    r = client.messages.create(model="oai/reasoning", max_tokens=100, messages=[{"role": "user", "content": "x"}])
    assert [b.type for b in r.content] == ["thinking", "text"]
    assert r.content[0].thinking == "thinking hard" and r.content[0].signature == ""


def test_what_real_clients_send_is_accepted(gw: Gateway, fake_anthropic: FakeAnthropic) -> None:
    """Claude Code: ?beta=true, anthropic-beta, Bearer or x-api-key, system blocks with cache_control,
    metadata, extra sampling fields, fields this gateway does not know."""
    body = {
        "model": "claude-test",
        "max_tokens": 300,
        "temperature": 0.5,
        "top_k": 40,
        "system": [
            {"type": "text", "text": "You are Claude Code.", "cache_control": {"type": "ephemeral"}},
            {"type": "text", "text": "Be brief."},
        ],
        "metadata": {"user_id": "user_abc"},
        "context_management": {"edits": []},
        "tools": [
            {**WEATHER, "cache_control": {"type": "ephemeral"}},
            {"type": "web_search_20250305", "name": "web_search", "max_uses": 5},
        ],
        "messages": [
            {
                "role": "user",
                "content": [{"type": "text", "text": "hi", "cache_control": {"type": "ephemeral", "ttl": "5m"}}],
            }
        ],
        "tool_choice": {"type": "none"},
    }
    for headers in (
        {
            "x-api-key": CLIENT_KEY,
            "anthropic-version": "2023-06-01",
            "anthropic-beta": "claude-code-20250219,interleaved-thinking-2025-05-14",
        },
        {"Authorization": f"Bearer {CLIENT_KEY}"},
    ):
        r = httpx.post(gw.url + "/anthropic/v1/messages?beta=true", json=body, headers=headers)
        assert r.status_code == 200, r.text
        assert r.json()["content"] == [{"type": "text", "text": "echo: hi"}]
        sent = fake_anthropic.last
        assert sent["system"] == body["system"]  # blocks with their cache breakpoints kept
        assert sent["messages"][0]["content"][0]["cache_control"] == {"type": "ephemeral", "ttl": "5m"}
        assert [t["name"] for t in sent["tools"]] == ["get_weather", "web_search"]  # forwarded as sent (§7)
        assert sent["context_management"] == {"edits": []}
        assert sent["tools"][0]["cache_control"] == {"type": "ephemeral"}
        assert sent["metadata"] == {"user_id": "user_abc"} and sent["top_k"] == 40 and sent["temperature"] == 0.5
        upstream_headers = {k.lower(): v for k, v in fake_anthropic.headers[-1].items()}
        assert upstream_headers["x-api-key"] == ANTHROPIC_KEY and "authorization" not in upstream_headers
        assert CLIENT_KEY not in json.dumps(upstream_headers)


def test_openai_history_is_reshaped_for_anthropic(fake_anthropic: FakeAnthropic, gw: Gateway) -> None:
    """OpenAI client -> Anthropic upstream: systems hoisted and joined, same-role turns merged, a user turn
    first, tool messages gathered into one user turn before the text that follows, odd ids made legal,
    temperature kept over top_p, max_tokens from the provider's setting."""
    oai = openai.OpenAI(base_url=gw.url + "/v1", api_key="x", max_retries=0)
    r = oai.chat.completions.create(
        model="claude-test",
        temperature=1.6,
        top_p=0.9,
        stop=["END"],
        messages=[
            {"role": "assistant", "content": "Hello, how can I help?"},
            {"role": "system", "content": "sys one"},
            {"role": "user", "content": "first"},
            {"role": "user", "content": "second"},
            {
                "role": "assistant",
                "content": "checking",
                "tool_calls": [
                    {
                        "id": "call:1",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": '{"city":"Oslo"}'},
                    },
                    {"id": "call_2", "type": "function", "function": {"name": "get_weather", "arguments": ""}},
                ],
            },
            {"role": "tool", "tool_call_id": "call:1", "content": "cold"},
            {"role": "tool", "tool_call_id": "call_2", "content": "warm"},
            {"role": "user", "content": "and so?"},
            {"role": "developer", "content": "sys two"},
        ],
        tools=[OAI_WEATHER],
    )
    assert r.choices[0].message.content == "got: cold | warm"
    sent = fake_anthropic.last
    assert sent["system"] == "sys one\n\nsys two"
    assert sent["max_tokens"] == 1234 and sent["temperature"] == 1.0 and "top_p" not in sent
    assert sent["stop_sequences"] == ["END"]
    msgs = sent["messages"]
    assert [m["role"] for m in msgs] == ["user", "assistant", "user", "assistant", "user"]
    assert [b["text"] for b in msgs[2]["content"]] == ["first", "second"]
    uses = [b for b in msgs[3]["content"] if b["type"] == "tool_use"]
    assert [(u["id"], u["input"]) for u in uses] == [("call_1", {"city": "Oslo"}), ("call_2", {})]
    assert [b["type"] for b in msgs[4]["content"]] == ["tool_result", "tool_result", "text"]
    assert [b["tool_use_id"] for b in msgs[4]["content"][:2]] == ["call_1", "call_2"]


def test_max_tokens_defaults_and_caps(fake_anthropic: FakeAnthropic, gw: Gateway) -> None:
    oai = openai.OpenAI(base_url=gw.url + "/v1", api_key="x", max_retries=0)
    oai.chat.completions.create(model="claude-default", messages=[{"role": "user", "content": "x"}])
    assert fake_anthropic.last["max_tokens"] == 4096  # no setting anywhere: the documented default
    oai.chat.completions.create(model="claude-capped", messages=[{"role": "user", "content": "x"}])
    assert fake_anthropic.last["max_tokens"] == 777  # the model's max_tokens in config
    oai.chat.completions.create(
        model="claude-test", reasoning_effort="high", messages=[{"role": "user", "content": "x"}]
    )
    sent = fake_anthropic.last
    assert sent["thinking"] == {"type": "enabled", "budget_tokens": 16384} and sent["max_tokens"] > 16384


def test_images_by_url_and_unpaired_results(client: anthropic.Anthropic, fake_anthropic: FakeAnthropic) -> None:
    client.messages.create(
        model="claude-test",
        max_tokens=50,
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "image", "source": {"type": "url", "url": "https://example.test/cat.png"}},
                    {"type": "text", "text": "describe"},
                ],
            }
        ],
    )
    assert fake_anthropic.last["messages"][0]["content"][0]["source"] == {
        "type": "url",
        "url": "https://example.test/cat.png",
    }
    with pytest.raises(anthropic.BadRequestError) as info:
        client.messages.create(
            model="claude-test",
            max_tokens=50,
            messages=[
                {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_nowhere", "content": "x"}]}
            ],
        )
    assert "toolu_nowhere" in info.value.message
    assert info.value.body["error"]["type"] == "invalid_request_error"


def test_stop_sequence_reported(client: anthropic.Anthropic) -> None:
    r = client.messages.create(
        model="claude/stop-seq", max_tokens=50, stop_sequences=["###"], messages=[{"role": "user", "content": "x"}]
    )
    assert r.stop_reason == "stop_sequence" and r.stop_sequence == "###"
    oai = openai.OpenAI(base_url=client.base_url.__str__().replace("/anthropic", "/v1"), api_key="x", max_retries=0)
    r2 = oai.chat.completions.create(model="claude/length", messages=[{"role": "user", "content": "x"}])
    assert r2.choices[0].finish_reason == "length"


# ---------------------------------------------------------------------------------------------- count_tokens, models


def test_count_tokens_exact_from_anthropic(client: anthropic.Anthropic, fake_anthropic: FakeAnthropic) -> None:
    r = client.messages.count_tokens(
        model="claude-test",
        system="sys",
        tools=[WEATHER],
        messages=[{"role": "user", "content": "how many tokens is this?"}],
    )
    sent = fake_anthropic.count_requests[-1]
    assert r.input_tokens == FakeAnthropic.count_for(sent)
    assert sent["model"] == "claude-test" and sent["system"] == "sys" and "max_tokens" not in sent


def test_count_tokens_estimated_for_others(client: anthropic.Anthropic) -> None:
    text = "x" * 400
    r = client.messages.count_tokens(model="gpt-test", messages=[{"role": "user", "content": text}])
    assert r.input_tokens == 100  # chars / 4
    with_tools = client.messages.count_tokens(
        model="gpt-test", tools=[WEATHER], messages=[{"role": "user", "content": text}]
    )
    assert with_tools.input_tokens > 100


def test_models_listing_and_pagination(client: anthropic.Anthropic, gw: Gateway) -> None:
    everything = [m.id for m in client.models.list(limit=100).data]
    assert {"demo", "gpt-test", "claude-test"} <= set(everything)
    assert "claude/claude-other" in everything  # discovered from the upstream's own /v1/models
    page = client.models.list(limit=2)
    assert [m.id for m in page.data] == everything[:2]
    assert page.has_more and page.first_id == everything[0] and page.last_id == everything[1]
    nxt = client.models.list(limit=2, after_id=everything[1])
    assert [m.id for m in nxt.data] == everything[2:4]
    before = client.models.list(limit=1, before_id=everything[3])
    assert [m.id for m in before.data] == [everything[2]]
    last = client.models.list(limit=1000, after_id=everything[-2])
    assert [m.id for m in last.data] == [everything[-1]] and not last.has_more
    assert httpx.get(gw.url + "/anthropic/v1/models?limit=0").status_code == 400
    raw = httpx.get(gw.url + "/anthropic/v1/models").json()
    assert raw["data"][0]["type"] == "model" and raw["data"][0]["created_at"].endswith("Z")
    assert client.models.retrieve("claude-test").id == "claude-test"
    with pytest.raises(anthropic.NotFoundError):
        client.models.retrieve("no-such-model")


# ---------------------------------------------------------------------------------------------- errors


def _post(gw: Gateway, body: Any, **kwargs: Any) -> httpx.Response:
    return httpx.post(gw.url + "/anthropic/v1/messages", json=body, **kwargs)


def _error_type(r: httpx.Response) -> str:
    data = r.json()
    assert data["type"] == "error" and data["error"]["message"]
    return data["error"]["type"]


def test_bad_requests_are_400_naming_the_field(gw: Gateway) -> None:
    r = _post(gw, {"model": "demo", "messages": [{"role": "user", "content": "x"}]})
    assert r.status_code == 400 and _error_type(r) == "invalid_request_error" and "max_tokens" in r.text
    r = _post(gw, {"model": "demo", "max_tokens": 10, "messages": [{"role": "user", "content": 5}]})
    assert r.status_code == 400 and "messages[0].content" in r.json()["error"]["message"]
    r = _post(gw, {"model": "demo", "max_tokens": 10, "messages": [{"role": "user", "content": [{"type": "bogus"}]}]})
    assert r.status_code == 400 and "messages[0].content[0]" in r.json()["error"]["message"]
    r = httpx.post(
        gw.url + "/anthropic/v1/messages", content=b'{"model": ', headers={"content-type": "application/json"}
    )
    assert r.status_code == 400 and _error_type(r) == "invalid_request_error"
    r = _post(gw, {"model": "demo", "max_tokens": 10, "messages": []})
    assert r.status_code == 400


def test_unknown_model_and_route(gw: Gateway, client: anthropic.Anthropic) -> None:
    with pytest.raises(anthropic.NotFoundError) as info:
        client.messages.create(model="nope", max_tokens=10, messages=[{"role": "user", "content": "x"}])
    assert info.value.body["error"]["type"] == "not_found_error"
    r = httpx.get(gw.url + "/anthropic/v1/nothing-here")
    assert r.status_code == 404 and _error_type(r) == "not_found_error"


def test_body_too_large_is_413(gw: Gateway) -> None:
    r = _post(gw, {"model": "demo", "max_tokens": 10, "messages": [{"role": "user", "content": "x" * 300_000}]})
    assert r.status_code == 413 and _error_type(r) == "request_too_large"


@pytest.mark.parametrize(
    ("model", "exc", "status", "type_"),
    [
        ("claude/fail-400", anthropic.BadRequestError, 400, "invalid_request_error"),
        ("claude-badkey", anthropic.AuthenticationError, 401, "authentication_error"),
        ("claude/fail-429", anthropic.RateLimitError, 429, "rate_limit_error"),
        ("claude/fail-500", anthropic.InternalServerError, 500, "api_error"),
        ("claude/fail-529", anthropic.OverloadedError, 529, "overloaded_error"),
        ("oai/fail-503", anthropic.OverloadedError, 529, "overloaded_error"),
        ("ghost", anthropic.InternalServerError, 502, "api_error"),
    ],
)
def test_upstream_errors_in_anthropic_shape(
    client: anthropic.Anthropic, model: str, exc: type, status: int, type_: str
) -> None:
    with pytest.raises(exc) as info:
        client.messages.create(model=model, max_tokens=10, messages=[{"role": "user", "content": "x"}])
    assert info.value.status_code == status
    assert info.value.body["error"]["type"] == type_
    assert ANTHROPIC_KEY not in json.dumps(info.value.body)


def test_rate_limit_keeps_retry_after_and_openai_sees_503_for_overload(gw: Gateway) -> None:
    r = _post(gw, {"model": "claude/fail-429", "max_tokens": 10, "messages": [{"role": "user", "content": "x"}]})
    assert r.status_code == 429 and r.headers["retry-after"] == "1"
    oai = openai.OpenAI(base_url=gw.url + "/v1", api_key="x", max_retries=0)
    with pytest.raises(openai.InternalServerError) as info:
        oai.chat.completions.create(model="claude/fail-529", messages=[{"role": "user", "content": "x"}])
    assert info.value.status_code == 503 and "upstream says 529" in info.value.message


def test_error_event_after_stream_started(client: anthropic.Anthropic, gw: Gateway) -> None:
    events = _events(
        gw, {"model": "claude/error-event", "max_tokens": 50, "messages": [{"role": "user", "content": "hello"}]}
    )
    assert events[0][0] == "message_start"
    assert events[-1] == ("error", {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}})
    with (
        pytest.raises(anthropic.APIStatusError),
        client.messages.stream(
            model="claude/error-event", max_tokens=50, messages=[{"role": "user", "content": "hello"}]
        ) as s,
    ):
        list(s.text_stream)
    events = _events(
        gw,
        {"model": "claude/drop", "max_tokens": 50, "messages": [{"role": "user", "content": "a long enough message"}]},
    )
    assert events[-1][0] == "error" and events[-1][1]["error"]["type"] == "api_error"
    oai = openai.OpenAI(base_url=gw.url + "/v1", api_key="x", max_retries=0)
    with pytest.raises(openai.APIError) as info:
        list(
            oai.chat.completions.create(
                model="claude/error-event", stream=True, messages=[{"role": "user", "content": "hello"}]
            )
        )
    assert "Overloaded" in str(info.value)


def test_stream_error_before_first_byte_is_http_error(client: anthropic.Anthropic) -> None:
    with (
        pytest.raises(anthropic.RateLimitError),
        client.messages.stream(
            model="claude/fail-429", max_tokens=10, messages=[{"role": "user", "content": "x"}]
        ) as s,
    ):
        list(s.text_stream)


def test_keys_never_logged(gw: Gateway, client: anthropic.Anthropic) -> None:
    client.messages.create(model="claude-test", max_tokens=10, messages=[{"role": "user", "content": "x"}])
    log = gw.log()
    assert ANTHROPIC_KEY not in log and CLIENT_KEY not in log
    assert '"dialect":"anthropic"' in log
