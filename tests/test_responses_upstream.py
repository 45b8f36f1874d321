"""The `api: responses` mode of the `openai` provider, against the strict fake Responses API
(tests/fakes/responses_upstream.py), seen through the OpenAI chat, Anthropic and Ollama SDKs; and first the
fake itself, checked with the official OpenAI SDK so the tests below stand on a faithful upstream."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import anthropic
import httpx
import ollama
import openai
import pytest

from gateway.config import ConfigError, parse
from providers.openai_responses.request import encode_request
from providers.openai_responses.response import events as response_events
from tests.fakes.responses_upstream import API_KEY, FakeResponses
from tests.harness import Gateway
from unified.errors import GatewayError
from unified.types import (
    Finish,
    Message,
    TextPart,
    ThinkingDelta,
    ThinkingPart,
    Tool,
    ToolCallDelta,
    ToolCallPart,
    ToolCallStart,
    ToolResultPart,
)
from unified.types import Request as UnifiedRequest

WEATHER_FN = {
    "type": "function",
    "name": "get_weather",
    "description": "Weather for a city",
    "strict": False,
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}


@pytest.fixture(scope="module")
def direct(fake_responses: FakeResponses) -> openai.OpenAI:
    return openai.OpenAI(base_url=fake_responses.url, api_key=API_KEY, max_retries=0)  # type: ignore[attr-defined]


# ---------------------------------------------------------------------------------------------- the fake


def test_fake_stream_is_the_real_event_sequence(direct: openai.OpenAI) -> None:
    with direct.responses.stream(
        model="reasoning", input="hi", include=["reasoning.encrypted_content"], store=False
    ) as stream:
        types = [e.type for e in stream]
        final = stream.get_final_response()
    assert types[:2] == ["response.created", "response.in_progress"]
    assert types[-1] == "response.completed"
    assert types.count("response.output_item.added") == types.count("response.output_item.done") == 2
    assert "response.reasoning_summary_text.delta" in types and "response.output_text.delta" in types
    assert final.output_text == "echo: hi"
    assert final.output[0].type == "reasoning" and final.output[0].encrypted_content
    assert final.usage is not None and final.usage.input_tokens_details.cached_tokens == 4


def test_fake_tool_round_trip_and_pairing(direct: openai.OpenAI) -> None:
    first = direct.responses.create(model="gpt-resp", input="weather?", tools=[WEATHER_FN])  # type: ignore[list-item]
    call = first.output[0]
    assert call.type == "function_call" and call.name == "get_weather"
    history = [
        {"role": "user", "content": "weather?"},
        {"type": "function_call", "call_id": call.call_id, "name": call.name, "arguments": call.arguments},
        {"type": "function_call_output", "call_id": call.call_id, "output": "sunny"},
    ]
    second = direct.responses.create(model="gpt-resp", input=history, tools=[WEATHER_FN])  # type: ignore[arg-type, list-item]
    assert second.output_text == "got: sunny"
    with pytest.raises(openai.BadRequestError, match="No tool output found"):
        direct.responses.create(model="gpt-resp", input=history[:2], tools=[WEATHER_FN])  # type: ignore[arg-type, list-item]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"max_tokens": 10}, "Unknown parameter: 'max_tokens'"),
        ({"max_output_tokens": 5}, "max_output_tokens"),
        ({"tools": [{**WEATHER_FN, "strict": None}]}, "additionalProperties"),
        ({"input": [{"role": "assistant", "content": [{"type": "input_text", "text": "x"}]}]}, "'input_text'"),
        (
            {"input": [{"type": "reasoning", "id": "rs_1", "summary": [], "encrypted_content": "EqQBsig"}]},
            "could not be verified",
        ),
    ],
)
def test_fake_refuses_what_the_real_api_refuses(direct: openai.OpenAI, kwargs: dict, message: str) -> None:
    body = {"model": "gpt-resp", "input": "hi", **kwargs}
    with pytest.raises(openai.BadRequestError, match=message):
        direct.post("/responses", body=body, cast_to=object)


# ---------------------------------------------------------------------------------------------- the provider

WEATHER_CHAT = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather for a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}


@pytest.fixture(scope="module")
def gw(fake_responses: FakeResponses) -> Iterator[Gateway]:
    provider = {"type": "openai", "api": "responses", "base_url": fake_responses.url, "api_key": API_KEY}  # type: ignore[attr-defined]
    config = {
        "providers": {"resp": provider, "rebuilt": {**provider, "passthrough": False}},
        "models": {
            "alias-resp": "resp/gpt-resp",
            "rebuilt-resp": "rebuilt/gpt-resp",
            "gpt-resp": "resp/gpt-resp",
            "thinker": "resp/reasoning",
            "short": "resp/length",
            "broken": "resp/fail-stream",
            "limited": "resp/fail-429",
            "dropper": "resp/drop",
        },
    }
    with Gateway(config) as g:
        yield g


@pytest.fixture(scope="module")
def chat(gw: Gateway) -> openai.OpenAI:
    return openai.OpenAI(base_url=gw.url + "/v1", api_key="unused", max_retries=0)


@pytest.fixture(scope="module")
def claude(gw: Gateway) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=gw.url + "/anthropic", api_key="unused", max_retries=0)


@pytest.fixture(scope="module")
def llama(gw: Gateway) -> ollama.Client:
    return ollama.Client(host=gw.url + "/ollama")


def test_chat_goes_to_responses_with_instructions_and_store_false(
    chat: openai.OpenAI, fake_responses: FakeResponses
) -> None:
    r = chat.chat.completions.create(
        model="gpt-resp",
        max_tokens=5,
        temperature=0.3,
        messages=[{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hello"}],
    )
    assert r.choices[0].message.content == "echo: hello"
    assert r.choices[0].finish_reason == "stop"
    assert r.usage is not None and (r.usage.prompt_tokens, r.usage.completion_tokens) == (20, 9)
    assert r.usage.prompt_tokens_details is not None and r.usage.prompt_tokens_details.cached_tokens == 4
    body = fake_responses.last
    assert body["instructions"] == "Be brief." and body["store"] is False
    assert body["input"] == [{"type": "message", "role": "user", "content": [{"type": "input_text", "text": "hello"}]}]
    assert body["max_output_tokens"] == 16  # the API's minimum; the chat client may ask for less
    assert body["temperature"] == 0.3 and "stream" not in body


def test_chat_stream_text_and_usage(chat: openai.OpenAI) -> None:
    stream = chat.chat.completions.create(
        model="gpt-resp",
        stream=True,
        stream_options={"include_usage": True},
        messages=[{"role": "user", "content": "stream me please"}],
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "echo: stream me please"
    assert [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason] == ["stop"]
    assert chunks[-1].usage is not None and chunks[-1].usage.total_tokens == 29


@pytest.mark.parametrize("stream", [False, True], ids=["json", "sse"])
def test_chat_tool_round_trip(chat: openai.OpenAI, fake_responses: FakeResponses, stream: bool) -> None:
    messages: list[Any] = [{"role": "user", "content": "weather in Paris?"}]
    if stream:
        calls: dict[int, dict[str, str]] = {}
        finish = None
        for chunk in chat.chat.completions.create(
            model="gpt-resp", messages=messages, tools=[WEATHER_CHAT], stream=True
        ):
            for tc in chunk.choices[0].delta.tool_calls or [] if chunk.choices else []:
                entry = calls.setdefault(tc.index, {"id": "", "name": "", "arguments": ""})
                entry["id"] += tc.id or ""
                entry["name"] += (tc.function.name or "") if tc.function else ""
                entry["arguments"] += (tc.function.arguments or "") if tc.function else ""
            if chunk.choices and chunk.choices[0].finish_reason:
                finish = chunk.choices[0].finish_reason
        assert finish == "tool_calls" and len(calls) == 1
        call_id, name, arguments = calls[0]["id"], calls[0]["name"], calls[0]["arguments"]
    else:
        r = chat.chat.completions.create(model="gpt-resp", messages=messages, tools=[WEATHER_CHAT])  # type: ignore[list-item]
        assert r.choices[0].finish_reason == "tool_calls"
        tc = r.choices[0].message.tool_calls[0]  # type: ignore[index]
        call_id, name, arguments = tc.id, tc.function.name, tc.function.arguments  # type: ignore[union-attr]
    assert name == "get_weather" and json.loads(arguments) == {"city": "Paris"}
    sent_tool = fake_responses.last["tools"][0]
    assert sent_tool["type"] == "function" and sent_tool["strict"] is False and "function" not in sent_tool
    messages += [
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [{"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}],
        },
        {"role": "tool", "tool_call_id": call_id, "content": "sunny"},
    ]
    r2 = chat.chat.completions.create(model="gpt-resp", messages=messages, tools=[WEATHER_CHAT])  # type: ignore[list-item]
    assert r2.choices[0].message.content == "got: sunny"
    kinds = [i["type"] for i in fake_responses.last["input"]]
    assert kinds == ["message", "function_call", "function_call_output"]


def test_reasoning_reaches_chat_clients(chat: openai.OpenAI, fake_responses: FakeResponses) -> None:
    r = chat.chat.completions.create(
        model="thinker", reasoning_effort="low", messages=[{"role": "user", "content": "think"}]
    )
    assert r.choices[0].message.content == "echo: think"
    assert fake_responses.last["reasoning"] == {"effort": "low"}
    assert fake_responses.last["include"] == ["reasoning.encrypted_content"]
    assert r.usage is not None and r.usage.completion_tokens_details is not None
    assert r.usage.completion_tokens_details.reasoning_tokens == 3


def test_anthropic_client_tools_stream_and_usage(claude: anthropic.Anthropic, fake_responses: FakeResponses) -> None:
    tool = {"name": "get_weather", "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}}}
    with claude.messages.stream(
        model="gpt-resp",
        max_tokens=256,
        tools=[tool],
        messages=[{"role": "user", "content": "weather?"}],  # type: ignore[list-item]
    ) as stream:
        final = stream.get_final_message()
    assert final.stop_reason == "tool_use"
    use = next(b for b in final.content if b.type == "tool_use")
    assert use.name == "get_weather" and use.input == {"city": "Paris"}
    r = claude.messages.create(
        model="gpt-resp",
        max_tokens=256,
        system="Terse.",
        tools=[tool],  # type: ignore[list-item]
        messages=[
            {"role": "user", "content": "weather?"},
            {
                "role": "assistant",
                "content": [{"type": "tool_use", "id": use.id, "name": use.name, "input": use.input}],
            },
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": use.id, "content": "rainy"}]},
        ],
    )
    assert r.content[0].type == "text" and r.content[0].text == "got: rainy"
    assert (r.usage.input_tokens, r.usage.cache_read_input_tokens, r.usage.output_tokens) == (16, 4, 9)
    assert fake_responses.last["instructions"] == "Terse."


def test_anthropic_client_sees_length_as_max_tokens(claude: anthropic.Anthropic) -> None:
    r = claude.messages.create(model="short", max_tokens=64, messages=[{"role": "user", "content": "a b c d"}])
    assert r.stop_reason == "max_tokens"


def test_ollama_client_chat_and_stream(llama: ollama.Client) -> None:
    r = llama.chat(model="gpt-resp", messages=[{"role": "user", "content": "hi there"}], stream=False)
    assert r.message.content == "echo: hi there" and r.done_reason == "stop"
    parts = list(llama.chat(model="gpt-resp", messages=[{"role": "user", "content": "streaming"}], stream=True))
    assert "".join(p.message.content or "" for p in parts) == "echo: streaming"
    tools = llama.chat(
        model="gpt-resp", messages=[{"role": "user", "content": "weather?"}], tools=[WEATHER_CHAT], stream=False
    )
    assert tools.message.tool_calls and tools.message.tool_calls[0].function.arguments == {"city": "Paris"}


def test_upstream_errors_reach_clients_in_their_shape(chat: openai.OpenAI, claude: anthropic.Anthropic) -> None:
    with pytest.raises(openai.RateLimitError, match="upstream says 429"):
        chat.chat.completions.create(model="limited", messages=[{"role": "user", "content": "x"}])
    with pytest.raises(anthropic.APIStatusError, match="The model failed"):
        claude.messages.create(model="broken", max_tokens=64, messages=[{"role": "user", "content": "x"}])
    # response.failed before any content: an ordinary HTTP error (nothing was streamed yet)
    with pytest.raises(openai.InternalServerError, match="The model failed"):
        list(chat.chat.completions.create(model="broken", stream=True, messages=[{"role": "user", "content": "x"}]))


def test_upstream_cut_mid_stream_ends_the_client_stream_with_an_error(chat: openai.OpenAI) -> None:
    text = ""
    with pytest.raises(openai.APIError):
        for chunk in chat.chat.completions.create(
            model="dropper", stream=True, messages=[{"role": "user", "content": "long enough to cut"}]
        ):
            text += (chunk.choices[0].delta.content or "") if chunk.choices else ""
    assert text.startswith("echo:")  # what came before the cut reached the client


def test_api_responses_is_only_for_openai_providers() -> None:
    with pytest.raises(ConfigError) as err:
        parse({"providers": {"c": {"type": "anthropic", "base_url": "http://x", "api": "responses"}}}, "test")
    assert any(p.startswith("providers.c.api:") for p in err.value.problems)
    with pytest.raises(ConfigError) as err:
        parse({"providers": {"o": {"type": "openai", "api": "completions"}}}, "test")
    assert any(p.startswith("providers.o.api:") for p in err.value.problems)


# ---------------------------------------------------------------------------------------------- Responses clients


@pytest.fixture(scope="module")
def responses_client(gw: Gateway) -> openai.OpenAI:
    return openai.OpenAI(base_url=gw.url + "/v1", api_key="unused", max_retries=0)


def test_encrypted_reasoning_round_trips_for_stateless_clients(
    responses_client: openai.OpenAI, fake_responses: FakeResponses
) -> None:
    first = responses_client.responses.create(
        model="thinker",
        input="plan it",
        store=False,
        reasoning={"effort": "low", "summary": "auto"},
        include=["reasoning.encrypted_content"],
    )
    reasoning = next(item for item in first.output if item.type == "reasoning")
    assert reasoning.encrypted_content and reasoning.summary[0].text == "thinking hard"
    history: list[Any] = [{"role": "user", "content": "plan it"}]
    history += [item.model_dump(exclude_none=True) for item in first.output]
    history.append({"role": "user", "content": "go on"})
    second = responses_client.responses.create(
        model="thinker", input=history, store=False, reasoning={"effort": "low", "summary": "auto"}
    )
    assert second.output_text == "echo: go on"  # the fake verified the encrypted content it got back
    sent = [i for i in fake_responses.last["input"] if i.get("type") == "reasoning"]
    assert [i["encrypted_content"] for i in sent] == [reasoning.encrypted_content]


def test_custom_and_hosted_tools_reach_a_responses_upstream(
    responses_client: openai.OpenAI, fake_responses: FakeResponses
) -> None:
    patch_tool = {"type": "custom", "name": "apply_patch", "description": "Edit files", "format": {"type": "text"}}
    r = responses_client.responses.create(
        model="gpt-resp",
        input="patch it",
        tools=[patch_tool, {"type": "web_search"}, WEATHER_FN],  # type: ignore[list-item]
    )
    call = r.output[0]
    assert call.type == "custom_tool_call" and call.name == "apply_patch" and call.input == "Paris"
    sent = {t["type"]: t for t in fake_responses.last["tools"]}
    assert sent["custom"]["format"] == {"type": "text"} and "web_search" in sent
    follow = responses_client.responses.create(
        model="gpt-resp",
        input=[
            {"role": "user", "content": "patch it"},
            {"type": "custom_tool_call", "call_id": call.call_id, "name": "apply_patch", "input": "Paris"},
            {"type": "custom_tool_call_output", "call_id": call.call_id, "output": "patched"},
        ],
        tools=[patch_tool],  # type: ignore[list-item]
    )
    assert follow.output_text == "got: patched"


def test_compact_goes_to_the_responses_upstream(responses_client: openai.OpenAI) -> None:
    out = responses_client.post(
        "/responses/compact",
        body={"model": "gpt-resp", "input": [{"role": "user", "content": [{"type": "input_text", "text": "hi"}]}]},
        cast_to=object,
    )
    assert isinstance(out, dict) and out["output"][-1]["type"] == "compaction"


# ---------------------------------------------------------------------------------------------- stream decoding, in process


def _sse(*events: dict[str, Any]) -> list[tuple[str | None, bytes]]:
    return [(e["type"], json.dumps(e).encode()) for e in events]


async def _aiter(pairs: list[tuple[str | None, bytes]]) -> AsyncIterator[tuple[str | None, bytes]]:
    for pair in pairs:
        yield pair


def _decode(pairs: list[tuple[str | None, bytes]]) -> list[Any]:
    async def collect() -> list[Any]:
        return [e async for e in response_events(_aiter(pairs), "m", "up")]

    return asyncio.run(collect())


CREATED = {"type": "response.created", "response": {"id": "resp_1", "model": "m-1", "output": []}}
USAGE = {"input_tokens": 5, "output_tokens": 2, "output_tokens_details": {"reasoning_tokens": 1}}


def test_custom_tool_input_becomes_escaped_json_arguments() -> None:
    item = {"type": "custom_tool_call", "id": "ctc_1", "call_id": "c1", "name": "apply_patch", "input": ""}
    events = _decode(
        _sse(
            CREATED,
            {"type": "response.output_item.added", "output_index": 0, "item": item},
            {"type": "response.custom_tool_call_input.delta", "output_index": 0, "delta": 'a "quoted"\n'},
            {"type": "response.custom_tool_call_input.delta", "output_index": 0, "delta": "line"},
            {"type": "response.output_item.done", "output_index": 0, "item": {**item, "input": 'a "quoted"\nline'}},
            {"type": "response.completed", "response": {"id": "resp_1", "status": "completed", "usage": USAGE}},
        )
    )
    args = "".join(e.arguments for e in events if isinstance(e, ToolCallDelta))
    assert json.loads(args) == {"input": 'a "quoted"\nline'}
    finish = events[-1]
    assert isinstance(finish, Finish) and finish.stop_reason == "tool_calls" and finish.usage.reasoning_tokens == 1


def test_arguments_only_in_the_done_item_are_not_lost() -> None:
    item = {"type": "function_call", "id": "fc_1", "call_id": "c1", "name": "f", "namespace": "ns", "arguments": ""}
    events = _decode(
        _sse(
            CREATED,
            {"type": "response.output_item.added", "output_index": 0, "item": item},
            {"type": "response.output_item.done", "output_index": 0, "item": {**item, "arguments": '{"a":1}'}},
            {"type": "response.completed", "response": {"id": "resp_1", "status": "completed"}},
        )
    )
    start = next(e for e in events if isinstance(e, ToolCallStart))
    assert start.name == "ns__f" and start.id == "c1"
    assert [e.arguments for e in events if isinstance(e, ToolCallDelta)] == ['{"a":1}']


def test_encrypted_reasoning_comes_with_the_done_item() -> None:
    item = {"type": "reasoning", "id": "rs_1", "summary": []}
    done = {**item, "summary": [{"type": "summary_text", "text": "hmm"}], "encrypted_content": "gAAAA-opaque"}
    events = _decode(
        _sse(
            CREATED,
            {"type": "response.output_item.added", "output_index": 0, "item": item},
            {"type": "response.reasoning_summary_text.delta", "output_index": 0, "summary_index": 0, "delta": "hmm"},
            {"type": "response.output_item.done", "output_index": 0, "item": done},
            {
                "type": "response.incomplete",
                "response": {"status": "incomplete", "incomplete_details": {"reason": "max_output_tokens"}},
            },
        )
    )
    thinking = [e for e in events if isinstance(e, ThinkingDelta)]
    assert "".join(t.text for t in thinking) == "hmm" and thinking[-1].encrypted == "gAAAA-opaque"
    assert isinstance(events[-1], Finish) and events[-1].stop_reason == "length"


@pytest.mark.parametrize(
    ("tail", "kind"),
    [
        (
            [
                {
                    "type": "response.failed",
                    "response": {"status": "failed", "error": {"code": "rate_limit_exceeded", "message": "slow down"}},
                }
            ],
            "rate_limit",
        ),
        ([{"type": "error", "code": "server_error", "message": "boom"}], "api_error"),
        ([{"type": "response.output_text.delta", "output_index": 0, "delta": "par"}], "upstream_unreachable"),
    ],
    ids=["failed", "error-event", "no-completed"],
)
def test_stream_failures_are_gateway_errors(tail: list[dict[str, Any]], kind: str) -> None:
    with pytest.raises(GatewayError) as err:
        _decode(_sse(CREATED, *tail))
    assert err.value.kind == kind


def test_request_encoding_restores_custom_namespace_and_strictness() -> None:
    req = UnifiedRequest(
        model="x",
        messages=[
            Message(role="system", content=[TextPart(text="sys")]),
            Message(role="user", content=[TextPart(text="hi")]),
            Message(
                role="assistant",
                content=[
                    ThinkingPart(text="t", signature="anthropic-sig"),  # not verifiable upstream: left out
                    ToolCallPart(id="c1", name="apply_patch", arguments='{"input": "*** patch"}'),
                    ToolCallPart(id="c2", name="ns__f", arguments="{}"),
                ],
            ),
            Message(
                role="user",
                content=[
                    ToolResultPart(tool_call_id="c1", content=[TextPart(text="ok")]),
                    ToolResultPart(tool_call_id="c2", content=[TextPart(text="no")], is_error=True),
                ],
            ),
        ],
        tools=[
            Tool(name="apply_patch", custom={"type": "text"}),
            Tool(name="ns__f", namespace="ns", parameters={"type": "object", "properties": {}}),
        ],
        max_tokens=4,
    )
    body = encode_request(req, "up", stream=True)
    assert body["instructions"] == "sys" and body["store"] is False and body["stream"] is True
    assert body["max_output_tokens"] == 16
    assert [i["type"] for i in body["input"]] == [
        "message",
        "custom_tool_call",
        "function_call",
        "custom_tool_call_output",
        "function_call_output",
    ]
    assert body["input"][1]["input"] == "*** patch"
    assert body["input"][2] == {
        "type": "function_call",
        "call_id": "c2",
        "name": "f",
        "arguments": "{}",
        "namespace": "ns",
    }
    assert body["input"][4]["output"] == "Error: no"
    assert body["tools"][0] == {"type": "custom", "name": "apply_patch", "format": {"type": "text"}}
    assert body["tools"][1]["type"] == "namespace" and body["tools"][1]["tools"][0]["strict"] is False
    assert "include" not in body  # no reasoning asked for, none to replay


# ---------------------------------------------------------------------------------------------- forwarding


def test_responses_client_body_is_forwarded_as_sent(gw: Gateway, fake_responses: FakeResponses) -> None:
    body = {
        "model": "alias-resp",
        "input": [{"role": "user", "content": "as sent"}],
        "metadata": {"team": "blue"},
        "prompt_cache_key": "conv-1",
        "truncation": "auto",
        "store": False,
    }
    r = httpx.post(gw.url + "/v1/responses", json=body, timeout=30)
    assert r.status_code == 200, r.text
    assert fake_responses.last == {**body, "model": "gpt-resp"}  # only the model changed
    answer = r.json()
    assert answer["model"] == "alias-resp" and answer["output"][0]["content"][0]["text"] == "echo: as sent"
    assert r.headers["X-LLM-Link-Provider"] == "resp/gpt-resp"


def test_responses_stream_is_relayed_and_usage_counted(gw: Gateway, fake_responses: FakeResponses) -> None:
    def tokens() -> float:
        text = httpx.get(gw.url + "/metrics").text
        return sum(
            float(line.rsplit(" ", 1)[1])
            for line in text.splitlines()
            if line.startswith("llm_link_tokens_total{") and 'model="alias-resp"' in line
        )

    before = tokens()
    body = {"model": "alias-resp", "input": "relay me", "stream": True}
    with httpx.stream("POST", gw.url + "/v1/responses", json=body, timeout=30) as r:
        raw_stream = b"".join(r.iter_bytes()).decode()
    assert r.status_code == 200
    events = [json.loads(line[6:]) for line in raw_stream.splitlines() if line.startswith("data: ")]
    assert [e["type"] for e in events][0] == "response.created" and events[-1]["type"] == "response.completed"
    assert [e["sequence_number"] for e in events] == list(range(len(events)))
    # the upstream's own bytes: its obfuscation padding and item ids, which the translated lane never makes
    assert any("obfuscation" in e for e in events if e["type"] == "response.output_text.delta")
    assert events[-1]["response"]["model"] == "alias-resp"
    assert fake_responses.last["stream"] is True and fake_responses.last["input"] == "relay me"
    assert tokens() - before == 29  # input 20 + output 9, read from response.completed on the side


def test_forwarded_upstream_error_keeps_status_and_body(gw: Gateway, fake_responses: FakeResponses) -> None:
    r = httpx.post(gw.url + "/v1/responses", json={"model": "limited", "input": "x"}, timeout=30)
    assert r.status_code == 429 and r.headers.get("Retry-After") == "1"
    assert r.json()["error"]["message"] == "upstream says 429"


def test_passthrough_false_rebuilds_the_request(gw: Gateway, fake_responses: FakeResponses) -> None:
    r = httpx.post(
        gw.url + "/v1/responses",
        json={"model": "rebuilt-resp", "input": [{"role": "user", "content": "hi"}]},
        timeout=30,
    )
    assert r.status_code == 200, r.text
    sent = fake_responses.last
    assert sent["store"] is False  # the translated lane's own body
    assert sent["input"] == [{"type": "message", "role": "user", "content": [{"type": "input_text", "text": "hi"}]}]
