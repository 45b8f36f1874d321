"""A strict reader of Responses API event streams, for tests: parses the SSE bytes, checks every event
against the rules the real API keeps and its clients rely on (the openai SDK's stream state machine,
Codex's parser), and returns the events as dicts."""

from __future__ import annotations

import json
from typing import Any

from openai._models import construct_type
from openai._types import omit
from openai.lib.streaming.responses._responses import ResponseStreamState
from openai.types.responses import ResponseStreamEvent

# Fields each event type must carry besides `type` and `sequence_number`.
REQUIRED: dict[str, tuple[str, ...]] = {
    "response.created": ("response",),
    "response.in_progress": ("response",),
    "response.completed": ("response",),
    "response.incomplete": ("response",),
    "response.failed": ("response",),
    "response.output_item.added": ("output_index", "item"),
    "response.output_item.done": ("output_index", "item"),
    "response.content_part.added": ("item_id", "output_index", "content_index", "part"),
    "response.content_part.done": ("item_id", "output_index", "content_index", "part"),
    "response.output_text.delta": ("item_id", "output_index", "content_index", "delta", "logprobs"),
    "response.output_text.done": ("item_id", "output_index", "content_index", "text", "logprobs"),
    "response.function_call_arguments.delta": ("item_id", "output_index", "delta"),
    "response.function_call_arguments.done": ("item_id", "output_index", "arguments"),
    "response.custom_tool_call_input.delta": ("item_id", "output_index", "delta"),
    "response.custom_tool_call_input.done": ("item_id", "output_index", "input"),
    "response.reasoning_summary_part.added": ("item_id", "output_index", "summary_index", "part"),
    "response.reasoning_summary_part.done": ("item_id", "output_index", "summary_index", "part"),
    "response.reasoning_summary_text.delta": ("item_id", "output_index", "summary_index", "delta"),
    "response.reasoning_summary_text.done": ("item_id", "output_index", "summary_index", "text"),
}
TERMINAL = ("response.completed", "response.incomplete", "response.failed")


def parse(body: str) -> list[dict[str, Any]]:
    """SSE text -> event dicts; each block must be `event: <type>` + `data: {...}` with matching types."""
    events = []
    for block in body.split("\n\n"):
        if not block.strip() or block.startswith(":"):
            continue
        lines = block.split("\n")
        assert len(lines) == 2 and lines[0].startswith("event: ") and lines[1].startswith("data: "), block
        data = json.loads(lines[1][6:])
        assert data["type"] == lines[0][7:], "the event line and the data's type differ"
        events.append(data)
    assert "[DONE]" not in body
    return events


def check(events: list[dict[str, Any]]) -> dict[str, Any]:
    """Validate a whole stream; returns the terminal event's response."""
    assert [e["type"] for e in events[:2]] == ["response.created", "response.in_progress"]
    assert events[-1]["type"] in TERMINAL, "a stream ends with completed / incomplete / failed"
    assert sum(e["type"] in TERMINAL for e in events) == 1
    assert [e["sequence_number"] for e in events] == list(range(len(events)))
    rid = events[0]["response"]["id"]
    open_items: dict[int, dict[str, Any]] = {}
    done: dict[int, dict[str, Any]] = {}
    for e in events:
        kind = e["type"]
        for field in REQUIRED.get(kind, ()):
            assert field in e, f"{kind} lacks {field}"
        if "response" in e:
            assert e["response"]["id"] == rid and e["response"]["object"] == "response"
        if kind == "response.output_item.added":
            index = e["output_index"]
            assert index == len(open_items), "output_index counts items in order"
            open_items[index] = e["item"]
        elif kind == "response.output_item.done":
            index = e["output_index"]
            assert index in open_items and index not in done
            assert e["item"]["id"] == open_items[index]["id"] and e["item"]["type"] == open_items[index]["type"]
            done[index] = e["item"]
        elif "item_id" in e:
            index = e["output_index"]
            assert index in open_items and index not in done, f"{kind} outside its open item"
            assert e["item_id"] == open_items[index]["id"]
    final = events[-1]["response"]
    if events[-1]["type"] != "response.failed":
        assert set(open_items) == set(done), "every added item is done before the end"
        assert final["output"] == [done[i] for i in sorted(done)], "the final output is the done items"
        assert final["usage"] is not None
    # the official SDK's own stream state machine accepts the sequence
    state: ResponseStreamState[Any] = ResponseStreamState(input_tools=omit, text_format=omit)
    for e in events:
        state.handle_event(construct_type(type_=ResponseStreamEvent, value=e))  # type: ignore[arg-type]
    return final
