"""The `ollama` provider against a strict fake Ollama, seen through the OpenAI SDK: explicit `stream`, NDJSON
read incrementally, tool-call ids made up where Ollama gives none, done_reason and counts mapped, images
(inline and by URL), listings."""

from __future__ import annotations

import json
from collections.abc import Iterator

import openai
import pytest

from tests.fakes.ollama_upstream import EVAL_TOKENS, PIXEL, PROMPT_TOKENS, FakeOllama
from tests.harness import Gateway

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}


@pytest.fixture(scope="module")
def gw(fake_ollama: FakeOllama) -> Iterator[Gateway]:
    config = {
        "providers": {
            "oll": {
                "type": "ollama",
                "base_url": fake_ollama.url + "/v1",  # type: ignore[attr-defined]
                "options": {"keep_alive": "10m", "num_ctx": 4096},
            },
            # Image URLs are fetched only when asked for, and from loopback only when allowed.
            "ollimg": {
                "type": "ollama",
                "base_url": fake_ollama.url,  # type: ignore[attr-defined]
                "fetch_images": True,
                "fetch_images_allow": ["127.0.0.1/32"],
            },
        },
        "models": {
            "llama": "oll/llama3.2",
            "llama-img": "ollimg/llama3.2",
            "old": "oll/old-llama",
            "thinker": "oll/thinker",
            "big": "oll/big",
            "errline": "oll/error-line",
        },
    }
    with Gateway(config) as g:
        yield g


@pytest.fixture(scope="module")
def client(gw: Gateway) -> openai.OpenAI:
    return openai.OpenAI(base_url=gw.url + "/v1", api_key="unused", max_retries=0)


def test_chat_sends_stream_false_and_maps_counts(client: openai.OpenAI, fake_ollama: FakeOllama) -> None:
    r = client.chat.completions.create(
        model="llama", max_tokens=64, temperature=0.5, messages=[{"role": "user", "content": "hello"}]
    )
    assert r.choices[0].message.content == "echo: hello"
    assert r.usage is not None and (r.usage.prompt_tokens, r.usage.completion_tokens) == (PROMPT_TOKENS, EVAL_TOKENS)
    body = fake_ollama.last
    assert body["stream"] is False and fake_ollama.paths[-1] == "/api/chat"  # a /v1 base_url is corrected
    assert body["options"] == {"num_ctx": 4096, "num_predict": 64, "temperature": 0.5}
    assert body["keep_alive"] == "10m"


def test_stream_sends_stream_true(client: openai.OpenAI, fake_ollama: FakeOllama) -> None:
    chunks = list(
        client.chat.completions.create(
            model="llama",
            stream=True,
            stream_options={"include_usage": True},
            messages=[{"role": "user", "content": "streaming here"}],
        )
    )
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "echo: streaming here"
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == EVAL_TOKENS
    assert fake_ollama.last["stream"] is True


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
def test_tool_calls_without_ids_get_ids_that_pair_with_results(
    client: openai.OpenAI, fake_ollama: FakeOllama, stream: bool
) -> None:
    messages: list[dict] = [{"role": "user", "content": "weather?"}]
    if stream:
        calls: dict[int, dict] = {}
        finish = None
        for c in client.chat.completions.create(model="old", tools=[WEATHER], messages=messages, stream=True):  # type: ignore[arg-type]
            for tc in c.choices[0].delta.tool_calls or []:
                slot = calls.setdefault(tc.index, {"id": tc.id, "name": tc.function.name, "args": ""})
                slot["args"] += tc.function.arguments or ""
            finish = c.choices[0].finish_reason or finish
        call = calls[0]
    else:
        r = client.chat.completions.create(model="old", tools=[WEATHER], messages=messages)  # type: ignore[arg-type]
        tc = r.choices[0].message.tool_calls[0]
        finish = r.choices[0].finish_reason
        call = {"id": tc.id, "name": tc.function.name, "args": tc.function.arguments}
    assert finish == "tool_calls"  # Ollama said "stop"
    assert call["id"] and call["id"].startswith("call_")
    assert call["name"] == "get_weather" and json.loads(call["args"]) == {"city": "Paris"}
    messages += [
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {"id": call["id"], "type": "function", "function": {"name": "get_weather", "arguments": call["args"]}}
            ],
        },
        {"role": "tool", "tool_call_id": call["id"], "content": "18C"},
    ]
    r2 = client.chat.completions.create(model="old", tools=[WEATHER], messages=messages)  # type: ignore[arg-type]
    assert r2.choices[0].message.content == "got: get_weather=18C"
    sent = fake_ollama.last["messages"]
    assert sent[1]["tool_calls"][0]["function"]["arguments"] == {"city": "Paris"}
    assert sent[2] == {"role": "tool", "content": "18C", "tool_call_id": call["id"], "tool_name": "get_weather"}


def test_tool_choice_none_drops_tools(client: openai.OpenAI, fake_ollama: FakeOllama) -> None:
    r = client.chat.completions.create(
        model="llama",
        tools=[WEATHER],
        tool_choice="none",  # type: ignore[list-item]
        messages=[{"role": "user", "content": "no tools"}],
    )
    assert r.choices[0].message.content == "echo: no tools" and "tools" not in fake_ollama.last


def test_thinking_streams_as_reasoning(client: openai.OpenAI, fake_ollama: FakeOllama) -> None:
    chunks = list(
        client.chat.completions.create(
            model="thinker", stream=True, reasoning_effort="low", messages=[{"role": "user", "content": "think"}]
        )
    )
    reasoning = "".join(getattr(c.choices[0].delta, "reasoning_content", None) or "" for c in chunks if c.choices)
    assert reasoning == "thinking hard" and fake_ollama.last["think"] == "low"


def test_images_inline_and_by_url_arrive_as_raw_base64(client: openai.OpenAI, fake_ollama: FakeOllama) -> None:
    url = fake_ollama.url + "/pixel.png"  # type: ignore[attr-defined]
    r = client.chat.completions.create(
        model="llama-img",
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "two pictures"},
                    {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PIXEL}"}},
                    {"type": "image_url", "image_url": {"url": url}},
                ],
            }
        ],
    )
    assert r.choices[0].message.content == "echo: two pictures + 2 images"
    assert fake_ollama.last["messages"][-1]["images"] == [PIXEL, PIXEL]


def test_unfetchable_image_url_is_400(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError):
        client.chat.completions.create(
            model="llama",
            messages=[
                {
                    "role": "user",
                    "content": [{"type": "image_url", "image_url": {"url": "http://127.0.0.1:9/missing.png"}}],
                }
            ],
        )


def test_long_ndjson_lines(client: openai.OpenAI) -> None:
    chunks = list(client.chat.completions.create(model="big", stream=True, messages=[{"role": "user", "content": "x"}]))
    assert sum(len(c.choices[0].delta.content or "") for c in chunks if c.choices) == 200_000


def test_error_line_mid_stream_becomes_openai_error(client: openai.OpenAI) -> None:
    with pytest.raises(openai.APIError, match="error was encountered"):
        list(client.chat.completions.create(model="errline", stream=True, messages=[{"role": "user", "content": "x"}]))


def test_upstream_errors_keep_status_and_message(client: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError, match="not found"):
        client.chat.completions.create(model="oll/fail-404", messages=[{"role": "user", "content": "x"}])
    with pytest.raises(openai.BadRequestError, match="fake ollama says 400"):
        client.chat.completions.create(model="oll/fail-400", messages=[{"role": "user", "content": "x"}])


def test_listing_includes_upstream_models(client: openai.OpenAI) -> None:
    ids = {m.id for m in client.models.list()}
    assert {"llama", "oll/llama3.2:latest", "oll/qwen3:8b"} <= ids
