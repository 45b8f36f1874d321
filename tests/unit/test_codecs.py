"""The dialect codecs both ways, in-process: a client request decoded from bytes into the unified request,
and unified answers (whole and streamed) encoded into what each SDK parses."""

from __future__ import annotations

import json

import msgspec
import pytest

from dialects.anthropic import codec as anthropic
from dialects.anthropic import schema as anthropic_wire
from dialects.anthropic.stream import EventEncoder
from dialects.ollama import codec as ollama
from dialects.ollama import schema as ollama_wire
from dialects.ollama.stream import NDJSONEncoder
from dialects.openai import codec as openai
from dialects.openai import schema as openai_wire
from dialects.openai.stream import ChunkEncoder
from unified.errors import GatewayError
from unified.types import (
    Finish,
    ImagePart,
    Response,
    Start,
    TextDelta,
    TextPart,
    ToolCallDelta,
    ToolCallPart,
    ToolCallStart,
    ToolResultPart,
    Usage,
)

PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="

ANSWER = Response(
    id="up-1",
    model="upstream-model",
    content=[TextPart(text="It is sunny."), ToolCallPart(id="call_9", name="weather", arguments='{"city":"Oslo"}')],
    stop_reason="tool_calls",
    usage=Usage(input_tokens=11, output_tokens=7),
)
STREAM = [
    Start(id="up-1", model="upstream-model"),
    TextDelta(text="It is "),
    TextDelta(text="sunny."),
    ToolCallStart(index=0, id="call_9", name="weather"),
    ToolCallDelta(index=0, arguments='{"city":'),
    ToolCallDelta(index=0, arguments='"Oslo"}'),
    Finish(stop_reason="tool_calls", usage=Usage(input_tokens=11, output_tokens=7)),
]


def _decode(type_: type, body: dict) -> object:
    return msgspec.json.decode(json.dumps(body).encode(), type=type_)


# ---------------------------------------------------------------------------------------------- OpenAI


def test_openai_request_to_unified() -> None:
    body = _decode(
        openai_wire.ChatRequest,
        {
            "model": "m",
            "stream": True,
            "max_tokens": 50,
            "messages": [
                {"role": "system", "content": "Be brief."},
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "What is here?"},
                        {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}},
                    ],
                },
                {
                    "role": "assistant",
                    "tool_calls": [
                        {"id": "c1", "type": "function", "function": {"name": "look", "arguments": '{"x":1}'}}
                    ],
                },
                {"role": "tool", "tool_call_id": "c1", "content": "a cat"},
            ],
            "tools": [{"type": "function", "function": {"name": "look", "parameters": {"type": "object"}}}],
        },
    )
    req = openai.to_unified(body)  # type: ignore[arg-type]
    assert req.stream and req.max_tokens == 50
    assert [m.role for m in req.messages] == ["system", "user", "assistant", "user"]
    image = req.messages[1].content[1]
    assert isinstance(image, ImagePart) and image.media_type == "image/png" and image.data == PNG
    call = req.messages[2].content[0]
    assert isinstance(call, ToolCallPart) and (call.id, call.name, call.arguments) == ("c1", "look", '{"x":1}')
    result = req.messages[3].content[0]
    assert isinstance(result, ToolResultPart) and result.tool_call_id == "c1"
    assert req.tools is not None and req.tools[0].name == "look"


def test_openai_request_errors_name_the_field() -> None:
    body = _decode(openai_wire.ChatRequest, {"model": "m", "messages": [{"role": "tool", "content": "x"}]})
    with pytest.raises(GatewayError) as err:
        openai.to_unified(body)  # type: ignore[arg-type]
    assert err.value.status == 400 and "messages" in (err.value.param or err.value.message)


def test_openai_answer_and_stream() -> None:
    data = json.loads(openai.from_unified(ANSWER, "client-model"))
    assert data["object"] == "chat.completion" and data["model"] == "client-model"
    choice = data["choices"][0]
    assert choice["finish_reason"] == "tool_calls" and choice["message"]["content"] == "It is sunny."
    assert choice["message"]["tool_calls"][0]["function"] == {"name": "weather", "arguments": '{"city":"Oslo"}'}
    assert data["usage"]["total_tokens"] == 18

    encoder = ChunkEncoder("client-model", include_usage=True)
    text = b"".join(encoder.feed(e) for e in STREAM).decode()
    chunks = [json.loads(line[6:]) for line in text.split("\n\n") if line.startswith("data: {")]
    assert text.rstrip().endswith("data: [DONE]")
    content = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
    assert content == "It is sunny."
    args = "".join(
        tc["function"].get("arguments", "")
        for c in chunks
        if c["choices"]
        for tc in c["choices"][0]["delta"].get("tool_calls") or []
    )
    assert args == '{"city":"Oslo"}'
    assert chunks[-1]["usage"]["completion_tokens"] == 7


# ---------------------------------------------------------------------------------------------- Anthropic


def test_anthropic_request_to_unified() -> None:
    body = _decode(
        anthropic_wire.MessagesRequest,
        {
            "model": "m",
            "max_tokens": 100,
            "system": "Be brief.",
            "messages": [
                {"role": "user", "content": [{"type": "text", "text": "hi"}]},
                {"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "f", "input": {"a": 1}}]},
                {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": "ok"}]},
            ],
            "thinking": {"type": "enabled", "budget_tokens": 2048},
        },
    )
    req = anthropic.to_unified(body)  # type: ignore[arg-type]
    assert [m.role for m in req.messages] == ["system", "user", "assistant", "user"]
    call = req.messages[2].content[0]
    assert isinstance(call, ToolCallPart) and json.loads(call.arguments) == {"a": 1}
    assert req.reasoning is not None and req.reasoning.budget_tokens == 2048


def test_anthropic_bad_image_type_is_a_400() -> None:
    body = _decode(
        anthropic_wire.MessagesRequest,
        {
            "model": "m",
            "max_tokens": 1,
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {"type": "image", "source": {"type": "base64", "media_type": "image/bmp", "data": PNG}}
                    ],
                }
            ],
        },
    )
    with pytest.raises(GatewayError) as err:
        anthropic.to_unified(body)  # type: ignore[arg-type]
    assert err.value.status == 400 and "media_type" in err.value.message


def test_anthropic_answer_and_stream() -> None:
    data = json.loads(anthropic.from_unified(ANSWER, "client-model"))
    assert data["type"] == "message" and data["stop_reason"] == "tool_use"
    assert [b["type"] for b in data["content"]] == ["text", "tool_use"]
    assert data["content"][1]["input"] == {"city": "Oslo"}

    encoder = EventEncoder("client-model")
    text = b"".join(encoder.feed(e) for e in STREAM).decode()
    names = [line[7:] for line in text.split("\n") if line.startswith("event: ")]
    assert names[0] == "message_start" and names[-1] == "message_stop"
    assert names.count("content_block_start") == names.count("content_block_stop") == 2
    deltas = [json.loads(line[6:]) for line in text.split("\n") if line.startswith("data: ")]
    partial = "".join(d["delta"].get("partial_json", "") for d in deltas if d["type"] == "content_block_delta")
    assert json.loads(partial) == {"city": "Oslo"}


# ---------------------------------------------------------------------------------------------- Ollama


def test_ollama_request_to_unified() -> None:
    body = _decode(
        ollama_wire.ChatRequest,
        {
            "model": "m",
            "messages": [
                {"role": "user", "content": "look", "images": [PNG]},
                {
                    "role": "assistant",
                    "content": "",
                    "tool_calls": [{"function": {"name": "f", "arguments": {"a": 1}}}],
                },
                {"role": "tool", "content": "done", "tool_name": "f"},
            ],
            "options": {"temperature": 0.2, "num_predict": 30},
        },
    )
    req = ollama.chat_to_unified(body, stream=True)  # type: ignore[arg-type]
    assert req.temperature == 0.2 and req.max_tokens == 30
    assert any(isinstance(p, ImagePart) and p.media_type == "image/png" for p in req.messages[0].content)
    call = req.messages[1].content[0]
    result = req.messages[2].content[0]
    assert isinstance(call, ToolCallPart) and isinstance(result, ToolResultPart)
    assert result.tool_call_id == call.id  # a result pairs with its call by name when Ollama gives no id


def test_ollama_stream_lines() -> None:
    encoder = NDJSONEncoder("client-model", generate=False, show_thinking=True, started=0.0)
    lines = [json.loads(x) for x in b"".join(encoder.feed(e) for e in STREAM).splitlines()]
    assert all(line["model"] == "client-model" for line in lines)
    assert "".join(line["message"]["content"] for line in lines if not line["done"]) == "It is sunny."
    last = lines[-1]
    assert last["done"] and last["eval_count"] == 7 and last["prompt_eval_count"] == 11
    calls = [c for line in lines for c in line["message"].get("tool_calls") or []]
    assert (calls[0]["function"]["name"], calls[0]["function"]["arguments"]) == ("weather", {"city": "Oslo"})
