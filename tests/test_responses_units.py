"""In-process checks of the Responses dialect's pure parts: the stream encoder's event sequence (also run
through the official SDK's stream state machine), freeform tool input unwrapping, tool mapping, the
reasoning envelope and request decoding."""

from __future__ import annotations

import json
from typing import Any

import msgspec
import pytest

from dialects.responses import codec_in, codec_out
from dialects.responses import schema as wire
from dialects.responses.stream import ResponsesEncoder
from dialects.responses.tools import InputStream, ToolMap, custom_input, tools_in
from tests.responses_sse import check, parse
from unified.errors import GatewayError, invalid
from unified.types import (
    Event,
    Finish,
    Start,
    TextDelta,
    ThinkingDelta,
    ThinkingPart,
    ToolCallDelta,
    ToolCallPart,
    ToolCallStart,
    ToolResultPart,
    Usage,
)

_decode = msgspec.json.Decoder(wire.ResponsesRequest)


def _body(**fields: Any) -> wire.ResponsesRequest:
    return _decode.decode(json.dumps({"model": "m", "input": "hi", **fields}))


def _run(events: list[Event], **fields: Any) -> list[dict[str, Any]]:
    body = _body(**fields)
    req, tmap, _ = codec_in.to_unified(body)
    encoder = ResponsesEncoder(codec_out.Envelope(body, False), tmap)
    return parse(b"".join(encoder.feed(e) for e in events).decode())


TOOLS = [
    {"type": "function", "name": "shell", "parameters": {"type": "object", "properties": {}}},
    {"type": "custom", "name": "apply_patch", "format": {"type": "text"}},
    {"type": "namespace", "name": "mcp", "tools": [{"type": "function", "name": "search"}]},
]


def test_full_sequence_passes_the_sdk_state_machine() -> None:
    patch = json.dumps({"input": '*** Begin Patch\n"x" \\ 😀\n*** End Patch'})
    events: list[Event] = [
        Start(id="u", model="m"),
        ThinkingDelta(text="let me "),
        ThinkingDelta(text="think"),
        ThinkingDelta(signature="sig"),
        TextDelta(text="Hello "),
        TextDelta(text="there"),
        ToolCallStart(index=0, id="call_1", name="shell"),
        ToolCallDelta(index=0, arguments='{"cmd":'),
        ToolCallDelta(index=0, arguments='"ls"}'),
        ToolCallStart(index=1, id="call_2", name="apply_patch"),
        *[ToolCallDelta(index=1, arguments=patch[i : i + 3]) for i in range(0, len(patch), 3)],
        ToolCallStart(index=2, id="call_3", name="mcp__search"),
        ToolCallDelta(index=2, arguments="{}"),
        Finish(stop_reason="tool_calls", usage=Usage(input_tokens=10, output_tokens=5, cache_read_tokens=4)),
    ]
    out = _run(events, tools=TOOLS, include=["reasoning.encrypted_content"])
    final = check(out)
    assert [o["type"] for o in final["output"]] == [
        "reasoning",
        "message",
        "function_call",
        "custom_tool_call",
        "function_call",
    ]
    reasoning, message, shell, custom, search = final["output"]
    assert reasoning["summary"] == [{"type": "summary_text", "text": "let me think"}]
    assert reasoning["encrypted_content"].startswith(codec_in.ENVELOPE)
    assert message["content"][0]["text"] == "Hello there"
    assert shell["arguments"] == '{"cmd":"ls"}' and shell["call_id"] == "call_1"
    assert custom["input"] == '*** Begin Patch\n"x" \\ 😀\n*** End Patch'
    deltas = "".join(e["delta"] for e in out if e["type"] == "response.custom_tool_call_input.delta")
    assert deltas == custom["input"] and sum(e["type"].endswith("input.delta") for e in out) > 3
    assert search["name"] == "search" and search["namespace"] == "mcp"
    assert final["usage"]["input_tokens_details"]["cached_tokens"] == 4
    assert final["usage"]["total_tokens"] == 15


def test_empty_answer_is_one_empty_message() -> None:
    final = check(_run([Start(id="u", model="m"), Finish()]))
    assert [o["type"] for o in final["output"]] == ["message"]
    assert final["output"][0]["content"][0]["text"] == ""


def test_length_stop_ends_with_incomplete() -> None:
    out = _run([Start(id="u", model="m"), TextDelta(text="cut"), Finish(stop_reason="length")])
    final = check(out)
    assert out[-1]["type"] == "response.incomplete"
    assert final["status"] == "incomplete" and final["incomplete_details"] == {"reason": "max_output_tokens"}
    assert final["output"][0]["status"] == "incomplete"


def test_error_mid_stream_ends_with_failed() -> None:
    body = _body()
    encoder = ResponsesEncoder(codec_out.Envelope(body, False), ToolMap())
    data = encoder.feed(Start(id="u", model="m")) + encoder.feed(TextDelta(text="par"))
    data += encoder.error(GatewayError("rate_limit", "slow down", status=429))
    out = parse(data.decode())
    check(out)
    assert out[-1]["response"]["status"] == "failed"
    assert out[-1]["response"]["error"] == {"code": "rate_limit_exceeded", "message": "slow down"}


@pytest.mark.parametrize("step", [1, 2, 3, 7, 1000])
def test_input_stream_unwraps_any_chunking(step: int) -> None:
    text = 'line "one"\n\ttab \\ back é 😀 \u2028 end'
    for args in (json.dumps({"input": text}), json.dumps({"input": text}, ensure_ascii=False)):
        s = InputStream()
        assert "".join(s.feed(args[i : i + step]) for i in range(0, len(args), step)) == text
        assert s.rest(text) == ""


def test_input_stream_other_shapes_wait_for_the_whole_call() -> None:
    s = InputStream()
    assert s.feed('{"city": "Paris"}') == ""
    assert s.rest(custom_input('{"city": "Paris"}')) == "Paris"
    assert custom_input("not json") == "not json"
    assert custom_input('{"input": "x"}') == "x"


def test_tools_and_calls_map_back() -> None:
    tmap = ToolMap()
    raws = [msgspec.Raw(json.dumps(t).encode()) for t in [*TOOLS, {"type": "web_search", "user_location": {}}]]
    tools = tools_in(raws, tmap)
    assert tools is not None
    assert [t.name for t in tools] == ["shell", "apply_patch", "mcp__search"]
    assert tools[1].custom == {"type": "text"} and tools[1].parameters["required"] == ["input"]  # type: ignore[index]
    assert tools[2].namespace == "mcp" and tools[2].parameters == {"type": "object", "properties": {}}
    assert tmap.hosted == [{"type": "web_search", "user_location": {}}]
    assert tmap.split("mcp__search") == ("mcp", "search") and tmap.split("shell") == (None, "shell")


def test_reasoning_envelope_round_trip() -> None:
    part = ThinkingPart(text="hmm", signature="sig")
    sealed = codec_in.seal(part)
    assert sealed is not None
    item = wire.InputItem(type="reasoning", summary=[wire.ContentPart(type="summary_text", text="hmm")])
    item.encrypted_content = sealed
    messages: list[Any] = []
    codec_in.items_in([item], messages)
    assert messages[0].content == [ThinkingPart(text="hmm", signature="sig")]
    # a blob that is not ours is passed on whole, for an upstream that made it
    messages = []
    codec_in.items_in([wire.InputItem(type="reasoning", summary=[], encrypted_content="gAAAA")], messages)
    assert messages[0].content == [ThinkingPart(text="", encrypted="gAAAA")]


def test_history_items_group_into_turns() -> None:
    body = _body(
        instructions="sys",
        input=[
            {"role": "developer", "content": "dev"},
            {"role": "user", "content": [{"type": "input_text", "text": "q"}]},
            {"type": "reasoning", "id": "rs_1", "summary": [{"type": "summary_text", "text": "t"}]},
            {"type": "function_call", "call_id": "c1", "name": "shell", "arguments": "{}"},
            {"type": "custom_tool_call", "call_id": "c2", "name": "apply_patch", "input": "P"},
            {"type": "function_call_output", "call_id": "c1", "output": "ok"},
            {"type": "custom_tool_call_output", "call_id": "c2", "output": [{"type": "input_text", "text": "done"}]},
            {"type": "web_search_call", "id": "ws_1", "status": "completed"},
            {"role": "assistant", "content": [{"type": "output_text", "text": "fine"}]},
        ],
    )
    req, _, _ = codec_in.to_unified(body)
    assert [m.role for m in req.messages] == ["system", "system", "user", "assistant", "user", "assistant"]
    calls = req.messages[3].content
    assert isinstance(calls[1], ToolCallPart) and isinstance(calls[2], ToolCallPart)
    assert calls[2].arguments == '{"input":"P"}'
    results = req.messages[4].content
    assert [r.tool_call_id for r in results if isinstance(r, ToolResultPart)] == ["c1", "c2"]


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ({"input": [{"type": "item_reference", "id": "x"}]}, "input[0]"),
        ({"input": [{"role": "user", "content": [{"type": "input_image", "file_id": "f"}]}]}, "input[0].content[0]"),
        ({"conversation": "conv_1"}, "conversation"),
        ({"tool_choice": "sometimes"}, "tool_choice"),
        ({"text": {"format": {"type": "json_schema", "name": "x"}}}, "text.format.schema"),
        ({"input": []}, "input"),
    ],
)
def test_bad_requests_name_the_field(fields: dict[str, Any], param: str) -> None:
    with pytest.raises(GatewayError) as err:
        codec_in.to_unified(_body(**fields))
    assert err.value.status == 400 and err.value.param == param, err.value.message
    assert invalid("x").status == 400


def test_memory_store_bounds() -> None:
    import asyncio

    from dialects.responses.store import MemoryStore

    body = b'{"id":"r","output":[{"id":"msg_1","type":"message"}]}'

    async def scenario() -> None:
        store = MemoryStore(ttl=60, limit=3, max_bytes=10_000)
        for i in range(5):
            await store.put(f"r{i}", body, [])
        assert [k for k in store.records] == ["r2", "r3", "r4"]  # the oldest went first
        assert (await store.get_items(["msg_1"])) == {"msg_1": b'{"id":"msg_1","type":"message"}'}
        assert await store.delete("r3") and not await store.delete("r3")
        small = MemoryStore(ttl=60, limit=100, max_bytes=3 * len(body) + 100)
        for i in range(10):
            await small.put(f"r{i}", body, [])
        assert 0 < len(small.records) <= 3 and small.bytes <= small.max_bytes
        short = MemoryStore(ttl=0.05, limit=100)
        await short.put("old", body, [])
        await asyncio.sleep(0.06)
        assert await short.get("old") is None
        await short.put("new", body, [])
        assert list(short.records) == ["new"] and short.bytes == len(short.records["new"][1])

    asyncio.run(scenario())
