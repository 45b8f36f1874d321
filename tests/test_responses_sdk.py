"""The Responses dialect through the official `openai` SDK (`responses.create`, `responses.stream`) against
every provider type (strict fake upstreams speaking each wire format): text, streams, function tools with
the result sent back, custom and namespace tools, reasoning round trips, hosted tools, state and errors."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest

from tests.fakes.aliyun_upstream import FakeAliyun
from tests.fakes.anthropic_upstream import API_KEY as ANTHROPIC_KEY
from tests.fakes.anthropic_upstream import SIGNATURE, FakeAnthropic
from tests.fakes.ollama_upstream import FakeOllama
from tests.fakes.openai_upstream import API_KEY, FakeOpenAI
from tests.fakes.server import ThreadedServer
from tests.harness import Gateway

PROVIDERS = ["openai", "anthropic", "ollama", "aliyun", "mock"]
MODELS = {p: f"m-{p}" for p in PROVIDERS}
WEATHER = {
    "type": "function",
    "name": "get_weather",
    "description": "Weather in a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}
PIXEL = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="


@pytest.fixture(scope="module")
def fake_anthropic() -> Iterator[FakeAnthropic]:
    fake = FakeAnthropic()
    server = ThreadedServer(fake.app).start()
    fake.url = server.url  # type: ignore[attr-defined]
    yield fake
    server.stop()


@pytest.fixture(scope="module")
def upstreams(
    fake_openai: FakeOpenAI, fake_anthropic: FakeAnthropic, fake_ollama: FakeOllama, fake_aliyun: FakeAliyun
) -> dict[str, Any]:
    return {"openai": fake_openai, "anthropic": fake_anthropic, "ollama": fake_ollama, "aliyun": fake_aliyun}


@pytest.fixture(scope="module")
def gw(upstreams: dict[str, Any]) -> Iterator[Gateway]:
    config = {
        "providers": {
            "mock": {"type": "mock", "options": {"chunks": 3}},
            "oai": {"type": "openai", "base_url": upstreams["openai"].url, "api_key": API_KEY},
            "claude": {"type": "anthropic", "base_url": upstreams["anthropic"].url, "api_key": ANTHROPIC_KEY},
            "oll": {"type": "ollama", "base_url": upstreams["ollama"].url},
            "ali": {"type": "aliyun", "base_url": upstreams["aliyun"].url, "api_key": API_KEY},
        },
        "models": {
            "m-openai": "oai/gpt-test",
            "m-anthropic": "claude/claude-test",
            "m-ollama": "oll/llama3.2",
            "m-aliyun": "ali/qwen-plus",
            "m-mock": "mock/demo",
            "m-thinking": "claude/thinking",
        },
    }
    with Gateway(config) as g:
        yield g


@pytest.fixture(scope="module")
def sdk(gw: Gateway) -> openai.OpenAI:
    return openai.OpenAI(base_url=gw.url + "/v1", api_key="unused", max_retries=0)


@pytest.fixture(scope="module")
def stored_gw() -> Iterator[Gateway]:
    config = {
        "providers": {"mock": {"type": "mock", "options": {"chunks": 3}}},
        "models": {"demo": "mock/demo"},
        "responses": {"store": "memory", "ttl": 600},
    }
    with Gateway(config) as g:
        yield g


def _metric(gw: Gateway, prefix: str) -> float:
    total = 0.0
    for line in httpx.get(gw.url + "/metrics").text.splitlines():
        if line.startswith(prefix):
            total += float(line.rsplit(" ", 1)[1])
    return total


# ---------------------------------------------------------------------------------------------- text


@pytest.mark.parametrize("provider", PROVIDERS)
def test_create_text(sdk: openai.OpenAI, provider: str) -> None:
    r = sdk.responses.create(model=MODELS[provider], input="hello responses", instructions="Be terse.")
    assert r.status == "completed"
    assert r.output_text.endswith("hello responses")
    assert r.id.startswith("resp_") and r.object == "response"
    [item] = r.output
    assert item.type == "message" and item.role == "assistant" and item.id.startswith("msg_")
    assert r.usage is not None and r.usage.input_tokens > 0 and r.usage.output_tokens > 0
    assert r.usage.total_tokens == r.usage.input_tokens + r.usage.output_tokens


@pytest.mark.parametrize("provider", PROVIDERS)
def test_stream_text(sdk: openai.OpenAI, provider: str) -> None:
    types: list[str] = []
    seqs: list[int] = []
    deltas: list[str] = []
    with sdk.responses.stream(model=MODELS[provider], input="hello stream") as stream:
        for event in stream:
            types.append(event.type)
            seqs.append(event.sequence_number)
            if event.type == "response.output_text.delta":
                deltas.append(event.delta)
        final = stream.get_final_response()
    assert types[:2] == ["response.created", "response.in_progress"]
    assert types[-1] == "response.completed"
    assert seqs == list(range(len(seqs))), "sequence numbers count up from 0 without gaps"
    assert "".join(deltas) == final.output_text and final.output_text.endswith("hello stream")
    i = types.index
    assert (
        i("response.output_item.added")
        < i("response.content_part.added")
        < i("response.output_text.delta")
        < i("response.output_text.done")
        < i("response.content_part.done")
        < i("response.output_item.done")
    )
    assert final.usage is not None and final.usage.output_tokens > 0


def test_stream_text_arrives_in_pieces(sdk: openai.OpenAI) -> None:
    with sdk.responses.stream(model="m-mock", input="one two three four five six") as stream:
        deltas = [e for e in stream if e.type == "response.output_text.delta"]
    assert len(deltas) >= 2


def test_image_input_reaches_upstream(sdk: openai.OpenAI, upstreams: dict[str, Any]) -> None:
    r = sdk.responses.create(
        model="m-openai",
        input=[
            {
                "role": "user",
                "content": [
                    {"type": "input_text", "text": "what is this"},
                    {"type": "input_image", "image_url": f"data:image/png;base64,{PIXEL}"},
                ],
            }
        ],
    )
    assert r.status == "completed"
    content = upstreams["openai"].last["messages"][-1]["content"]
    assert any(p.get("type") == "image_url" and PIXEL in p["image_url"]["url"] for p in content)


# ---------------------------------------------------------------------------------------------- tools


@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize("stream", [False, True], ids=["json", "sse"])
def test_function_tool_round_trip(sdk: openai.OpenAI, provider: str, stream: bool) -> None:
    model = MODELS[provider]
    ask: list[Any] = [{"role": "user", "content": "weather in Paris?"}]
    if stream:
        with sdk.responses.stream(model=model, input=ask, tools=[WEATHER]) as s:  # type: ignore[list-item]
            kinds = [e.type for e in s]
            first = s.get_final_response()
        assert "response.function_call_arguments.done" in kinds
    else:
        first = sdk.responses.create(model=model, input=ask, tools=[WEATHER])  # type: ignore[list-item]
    calls = [o for o in first.output if o.type == "function_call"]
    assert [c.name for c in calls] == ["get_weather"]
    call = calls[0]
    assert call.call_id and call.status == "completed"
    assert isinstance(json.loads(call.arguments).get("city"), str)
    follow = [
        *ask,
        call.model_dump(exclude_none=True),
        {"type": "function_call_output", "call_id": call.call_id, "output": "18C and sunny"},
    ]
    second = sdk.responses.create(model=model, input=follow, tools=[WEATHER])  # type: ignore[arg-type,list-item]
    assert "18C and sunny" in second.output_text
    assert not [o for o in second.output if o.type == "function_call"]


def test_custom_and_namespace_tools_over_chat_upstream(sdk: openai.OpenAI, upstreams: dict[str, Any]) -> None:
    fake = upstreams["openai"]
    tools: list[Any] = [
        {"type": "custom", "name": "apply_patch", "description": "Patch files", "format": {"type": "text"}},
        {
            "type": "namespace",
            "name": "files",
            "description": "File tools",
            "tools": [{**WEATHER, "name": "read"}],
        },
    ]
    r = sdk.responses.create(model="m-openai", input="patch it", tools=tools)
    sent = {t["function"]["name"]: t["function"] for t in fake.last["tools"]}
    assert set(sent) == {"apply_patch", "files__read"}
    assert sent["apply_patch"]["parameters"]["properties"] == {
        "input": {
            "type": "string",
            "description": sent["apply_patch"]["parameters"]["properties"]["input"]["description"],
        }
    }
    [call] = [o for o in r.output if o.type == "custom_tool_call"]
    assert call.name == "apply_patch" and call.input == "Paris"  # the fake calls tools[0] with one string
    # the call goes back as a custom_tool_call with its output; the upstream sees a function call + result
    follow: list[Any] = [
        {"role": "user", "content": "patch it"},
        call.model_dump(exclude_none=True),
        {"type": "custom_tool_call_output", "call_id": call.call_id, "output": "patched"},
    ]
    second = sdk.responses.create(model="m-openai", input=follow, tools=tools)
    assert "patched" in second.output_text
    assistant = fake.last["messages"][-2]
    assert assistant["tool_calls"][0]["function"] == {"name": "apply_patch", "arguments": '{"input":"Paris"}'}


def test_namespace_call_comes_back_with_its_namespace(sdk: openai.OpenAI) -> None:
    tools: list[Any] = [{"type": "namespace", "name": "files", "description": "File tools", "tools": [WEATHER]}]
    with sdk.responses.stream(model="m-openai", input="read", tools=tools) as s:
        added = [e.item for e in s if e.type == "response.output_item.added"]
        final = s.get_final_response()
    [call] = [o for o in final.output if o.type == "function_call"]
    assert call.name == "get_weather" and call.namespace == "files"
    assert added[0].type == "function_call" and added[0].namespace == "files"


def test_custom_tool_streams_input_events(sdk: openai.OpenAI) -> None:
    tools: list[Any] = [{"type": "custom", "name": "apply_patch", "format": {"type": "text"}}]
    with sdk.responses.stream(model="m-anthropic", input="patch it", tools=tools) as s:
        events = list(s)
    kinds = [e.type for e in events]
    assert "response.custom_tool_call_input.done" in kinds
    done = next(e for e in events if e.type == "response.output_item.done")
    assert done.item.type == "custom_tool_call" and done.item.input == "Paris"
    deltas = [e.delta for e in events if e.type == "response.custom_tool_call_input.delta"]
    assert "".join(deltas) == "Paris"  # the raw input, unwrapped from the upstream's JSON arguments


def test_hosted_tool_dropped_and_counted(gw: Gateway, sdk: openai.OpenAI, upstreams: dict[str, Any]) -> None:
    before = _metric(gw, 'llm_link_dropped_fields_total{dialect="responses",field="tools.web_search",provider="oai"}')
    r = sdk.responses.create(model="m-openai", input="hello hosted", tools=[{"type": "web_search"}, WEATHER])  # type: ignore[list-item]
    assert r.status == "completed"
    assert [t["function"]["name"] for t in upstreams["openai"].last["tools"]] == ["get_weather"]
    after = _metric(gw, 'llm_link_dropped_fields_total{dialect="responses",field="tools.web_search",provider="oai"}')
    assert after == before + 1


def test_forced_hosted_tool_is_a_400_naming_it(sdk: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as err:
        sdk.responses.create(
            model="m-openai", input="search", tools=[{"type": "web_search"}], tool_choice={"type": "web_search"}
        )
    assert "web_search" in err.value.message and err.value.param == "tool_choice"  # type: ignore[attr-defined]


# ---------------------------------------------------------------------------------------------- reasoning


def test_anthropic_thinking_round_trips_through_encrypted_content(
    sdk: openai.OpenAI, upstreams: dict[str, Any]
) -> None:
    fake = upstreams["anthropic"]
    ask: list[Any] = [{"role": "user", "content": "weather in Paris?"}]
    with sdk.responses.stream(
        model="m-thinking", input=ask, tools=[WEATHER], include=["reasoning.encrypted_content"], store=False
    ) as s:
        kinds = [e.type for e in s]
        first = s.get_final_response()
    assert "response.reasoning_summary_text.delta" in kinds
    reasoning = [o for o in first.output if o.type == "reasoning"]
    assert reasoning and reasoning[0].summary[0].text == "thinking hard"
    assert reasoning[0].encrypted_content
    call = next(o for o in first.output if o.type == "function_call")
    follow = [
        *ask,
        reasoning[0].model_dump(exclude_none=True),
        call.model_dump(exclude_none=True),
        {"type": "function_call_output", "call_id": call.call_id, "output": "18C"},
    ]
    second = sdk.responses.create(model="m-thinking", input=follow, tools=[WEATHER])  # type: ignore[list-item]
    assert "18C" in second.output_text
    assistant = fake.last["messages"][1]["content"]
    assert assistant[0] == {"type": "thinking", "thinking": "thinking hard", "signature": SIGNATURE}


def test_reasoning_without_include_has_no_encrypted_content(sdk: openai.OpenAI) -> None:
    r = sdk.responses.create(model="m-thinking", input="hi", reasoning={"effort": "low", "summary": "auto"})
    reasoning = [o for o in r.output if o.type == "reasoning"]
    assert reasoning and reasoning[0].encrypted_content is None
    assert r.reasoning is not None and r.reasoning.effort == "low"


# ---------------------------------------------------------------------------------------------- state


def test_stateless_by_default(sdk: openai.OpenAI, gw: Gateway) -> None:
    r = sdk.responses.create(model="m-mock", input="hi")
    assert r.store is False
    with pytest.raises(openai.BadRequestError) as err:
        sdk.responses.create(model="m-mock", input="again", previous_response_id=r.id)
    assert "stateless" in err.value.message and err.value.param == "previous_response_id"  # type: ignore[attr-defined]
    with pytest.raises(openai.NotFoundError):
        sdk.responses.retrieve(r.id)
    with pytest.raises(openai.BadRequestError) as err:
        sdk.responses.create(model="m-mock", input=[{"type": "item_reference", "id": r.output[0].id}])
    assert "store: false" in err.value.message


def test_memory_store_follow_up_and_retrieve(stored_gw: Gateway) -> None:
    client = openai.OpenAI(base_url=stored_gw.url + "/v1", api_key="unused", max_retries=0)
    first = client.responses.create(model="demo", input="my name is Ada", instructions="Be terse.")
    assert first.store is True
    fetched = client.responses.retrieve(first.id)
    assert fetched.id == first.id and fetched.output_text == first.output_text
    with client.responses.stream(model="demo", input="what is my name?", previous_response_id=first.id) as s:
        second = s.get_final_response()
    assert second.previous_response_id == first.id
    assert client.responses.retrieve(second.id).output_text == second.output_text
    # the mock reports more input tokens for the longer (replayed) conversation
    alone = client.responses.create(model="demo", input="what is my name?")
    assert second.usage is not None and alone.usage is not None
    assert second.usage.input_tokens > alone.usage.input_tokens
    with pytest.raises(openai.BadRequestError) as err:
        client.responses.create(model="demo", input="x", previous_response_id="resp_unknown")
    assert err.value.code == "previous_response_not_found"
    # the Vercel AI SDK's default: earlier output items by reference
    follow: list[Any] = [
        {"role": "user", "content": "my name is Ada"},
        {"type": "item_reference", "id": first.output[0].id},
        {"role": "user", "content": "what is my name?"},
    ]
    by_reference = client.responses.create(model="demo", input=follow)
    assert by_reference.usage is not None and by_reference.usage.input_tokens > alone.usage.input_tokens
    with pytest.raises(openai.BadRequestError) as err:
        client.responses.create(model="demo", input=[{"type": "item_reference", "id": "msg_gone"}])
    assert err.value.param == "input[0]"  # type: ignore[attr-defined]
    nostore = client.responses.create(model="demo", input="secret", store=False)
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve(nostore.id)


# ---------------------------------------------------------------------------------------------- endpoints and errors


def test_plain_get_of_responses_asks_for_a_websocket(gw: Gateway) -> None:
    # GET /v1/responses speaks the Responses API over WebSocket (tests/test_responses_ws.py); without an
    # upgrade it is a 426 in OpenAI's error shape.
    r = httpx.get(gw.url + "/v1/responses", timeout=5)
    assert r.status_code == 426
    assert "WebSocket" in r.json()["error"]["message"]


def test_input_tokens(sdk: openai.OpenAI) -> None:
    short = sdk.responses.input_tokens.count(model="m-mock", input="hi")
    long = sdk.responses.input_tokens.count(model="m-mock", input="hi " * 400, tools=[WEATHER])  # type: ignore[list-item]
    assert short.object == "response.input_tokens"
    assert 0 < short.input_tokens < long.input_tokens


def test_compact_without_responses_upstream_is_a_clear_400(gw: Gateway) -> None:
    r = httpx.post(gw.url + "/v1/responses/compact", json={"model": "m-openai", "input": []})
    assert r.status_code == 400
    assert "api: responses" in r.json()["error"]["message"]


def test_errors_in_openai_shape(sdk: openai.OpenAI, gw: Gateway) -> None:
    with pytest.raises(openai.NotFoundError) as nf:
        sdk.responses.create(model="no-such-model", input="hi")
    assert nf.value.code == "model_not_found"
    r = httpx.post(gw.url + "/v1/responses", json={"model": "m-mock", "input": [{"type": "bogus"}]})
    assert r.status_code == 400 and r.json()["error"]["param"] == "input[0].type"
    r = httpx.post(gw.url + "/v1/responses", content=b"{not json", headers={"Content-Type": "application/json"})
    assert r.status_code == 400 and r.json()["error"]["type"] == "invalid_request_error"
    r = httpx.post(gw.url + "/v1/responses", json={"model": "m-mock", "input": "x", "background": True})
    assert r.status_code == 400 and r.json()["error"]["param"] == "background"


def test_upstream_failure_mid_stream_ends_with_response_failed(gw: Gateway, sdk: openai.OpenAI) -> None:
    with sdk.responses.stream(model="oai/error-chunk", input="hello") as s:
        events = list(s)
    assert events[0].type == "response.created"
    assert events[-1].type == "response.failed"
    assert events[-1].response.error is not None and events[-1].response.error.message
