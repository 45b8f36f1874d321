"""Pure logic of the Gemini dialect and provider, in process: schema conversion, tool-call pairing, the
ids that carry thought signatures, the stream encoder's whole function calls, and the request body."""

from __future__ import annotations

import json

import msgspec

from dialects.gemini import codec
from dialects.gemini import schema as wire
from dialects.gemini.stream import ChunkEncoder
from providers.gemini.request import SKIP_SIGNATURE, call_id, encode_request, split_id
from unified.types import (
    Finish,
    Message,
    Request,
    Start,
    TextDelta,
    TextPart,
    ThinkingPart,
    ToolCallDelta,
    ToolCallPart,
    ToolCallStart,
    ToolResultPart,
    Usage,
)


def _decode(body: dict) -> wire.GenerateContentRequest:
    return msgspec.json.decode(json.dumps(body), type=wire.GenerateContentRequest)


def test_openapi_schema_becomes_json_schema_without_touching_property_names() -> None:
    schema = {
        "type": "OBJECT",
        "properties": {
            "type": {"type": "STRING", "nullable": True},
            "items": {"type": "ARRAY", "items": {"type": "INTEGER"}},
        },
        "required": ["type"],
        "any_of": [{"type": "NUMBER"}],
    }
    assert codec.json_schema(schema) == {
        "type": "object",
        "properties": {"type": {"type": ["string", "null"]}, "items": {"type": "array", "items": {"type": "integer"}}},
        "required": ["type"],
        "anyOf": [{"type": "number"}],
    }


def test_calls_without_ids_pair_with_responses_by_name_in_order() -> None:
    body = _decode(
        {
            "contents": [
                {"role": "user", "parts": [{"text": "two cities"}]},
                {
                    "role": "model",
                    "parts": [
                        {"functionCall": {"name": "weather", "args": {"city": "Oslo"}}},
                        {"function_call": {"name": "weather", "args": {"city": "Rome"}}},
                    ],
                },
                {
                    "role": "user",
                    "parts": [
                        {"functionResponse": {"name": "weather", "response": {"output": "3C"}}},
                        {"functionResponse": {"name": "weather", "response": {"error": "down"}}},
                    ],
                },
            ]
        }
    )
    req = codec.to_unified(body, "m", False)
    calls = [p for p in req.messages[1].content if isinstance(p, ToolCallPart)]
    results = [p for p in req.messages[2].content if isinstance(p, ToolResultPart)]
    assert [c.id for c in calls] == [r.tool_call_id for r in results]
    assert len({c.id for c in calls}) == 2
    assert results[0].content == [TextPart(text="3C")] and not results[0].is_error
    assert results[1].content == [TextPart(text="down")] and results[1].is_error


def test_signature_survives_the_round_trip_through_an_id() -> None:
    sig = "+/+/IGZha2Utc2lnIQ=="
    cid = call_id("fc_1", sig)
    assert all(c.isalnum() or c in "_-" for c in cid)  # legal for Anthropic's and OpenAI's ids
    assert split_id(cid) == ("fc_1", sig)
    assert split_id("toolu_abc") == ("toolu_abc", None)
    assert call_id("fc_2", None) == "fc_2"


def test_provider_body_pairs_results_with_call_names_and_marks_unsigned_calls() -> None:
    req = Request(
        model="m",
        messages=[
            Message(role="system", content=[TextPart(text="sys")]),
            Message(role="user", content=[TextPart(text="hi")]),
            Message(role="assistant", content=[ToolCallPart(id="call_9", name="lookup", arguments='{"q": 1}')]),
            Message(role="user", content=[ToolResultPart(tool_call_id="call_9", content=[TextPart(text="found")])]),
        ],
    )
    body = encode_request(req, "gemini-3-pro")
    assert body["systemInstruction"] == {"parts": [{"text": "sys"}]}
    model_turn = body["contents"][1]
    assert model_turn["role"] == "model"
    assert model_turn["parts"][0]["functionCall"] == {"id": "call_9", "name": "lookup", "args": {"q": 1}}
    assert model_turn["parts"][0]["thoughtSignature"] == SKIP_SIGNATURE
    assert body["contents"][2]["parts"][0]["functionResponse"] == {
        "id": "call_9",
        "name": "lookup",
        "response": {"output": "found"},
    }
    # Gemini 2.x does not validate signatures: none is invented for it.
    assert "thoughtSignature" not in encode_request(req, "gemini-2.5-flash")["contents"][1]["parts"][0]


def test_stream_encoder_sends_each_function_call_whole_and_usage_last() -> None:
    enc = ChunkEncoder("client-model")
    out = b"".join(
        enc.feed(e)
        for e in (
            Start(id="r1", model="up"),
            TextDelta(text="Let me look."),
            ToolCallStart(index=0, id="c1", name="lookup"),
            ToolCallDelta(index=0, arguments='{"q":'),
            ToolCallDelta(index=0, arguments=" 1}"),
            Finish(stop_reason="tool_calls", usage=Usage(input_tokens=10, output_tokens=6, reasoning_tokens=2)),
        )
    )
    chunks = [json.loads(x[6:]) for x in out.split(b"\r\n\r\n") if x]
    assert [c["candidates"][0].get("content", {}).get("parts") for c in chunks] == [
        [{"text": "Let me look."}],
        [{"functionCall": {"id": "c1", "name": "lookup", "args": {"q": 1}}}],
        None,
    ]
    assert chunks[-1]["candidates"][0]["finishReason"] == "STOP"
    assert chunks[-1]["usageMetadata"] == {
        "promptTokenCount": 10,
        "candidatesTokenCount": 4,
        "totalTokenCount": 16,
        "thoughtsTokenCount": 2,
    }
    assert {c["responseId"] for c in chunks} == {"r1"} and {c["modelVersion"] for c in chunks} == {"client-model"}


def test_streamed_thought_parts_come_back_as_one_signed_block() -> None:
    body = _decode(
        {
            "contents": [
                {"role": "user", "parts": [{"text": "hi"}]},
                {
                    "role": "model",
                    "parts": [
                        {"text": "thinking ", "thought": True},
                        {"text": "hard", "thought": True},
                        {"text": "", "thought": True, "thoughtSignature": "EqQBsig"},
                        {"text": "Hello"},
                    ],
                },
                {"role": "user", "parts": [{"text": "again"}]},
            ]
        }
    )
    content = codec.to_unified(body, "m", False).messages[1].content
    assert content == [ThinkingPart(text="thinking hard", signature="EqQBsig"), TextPart(text="Hello")]
