"""The forwarding lane's byte-level pieces (gateway.native and the dialects' native APIs), in process: what
is patched into a client's body, and what a relayed stream reads and changes on the side."""

from __future__ import annotations

import json

from dialects.anthropic import native as anthropic_native
from dialects.ollama import native as ollama_native
from dialects.openai import native as openai_native
from gateway.config import ModelConfig
from gateway.native import EventScan, RawBody, prefix_system_message, rename_model


def _body(obj: dict) -> RawBody:
    return RawBody(json.dumps(obj, separators=(",", ":")).encode())


def test_unchanged_body_is_the_clients_bytes() -> None:
    raw = b'{"model": "m",  "messages": [], "weird": {"x": 1}}'
    assert RawBody(raw).encode() is raw


def test_only_changed_keys_are_reencoded_and_nested_model_keys_stay() -> None:
    body = _body({"model": "alias", "tools": [{"input_schema": {"properties": {"model": {"type": "string"}}}}]})
    body.set("model", "upstream-1")
    out = json.loads(body.encode())
    assert out["model"] == "upstream-1"
    assert out["tools"][0]["input_schema"]["properties"]["model"] == {"type": "string"}


def test_defaults_fill_overrides_cap_on_openai_fields() -> None:
    config = ModelConfig(defaults={"temperature": 0.2}, overrides={"max_tokens": 100}, system_prefix="P.")
    body = _body({"model": "m", "max_completion_tokens": 500, "temperature": 0.9, "messages": [{"role": "user"}]})
    openai_native.CHAT.apply(body, config, {})
    out = json.loads(body.encode())
    assert out["temperature"] == 0.9  # the client's value wins over a default
    assert out["max_completion_tokens"] == 100 and "max_tokens" not in out  # the field the client used, capped
    assert out["messages"][0] == {"role": "system", "content": "P."}


def test_ollama_transforms_go_into_options() -> None:
    config = ModelConfig(defaults={"temperature": 0.2, "max_tokens": 64}, overrides={"top_p": 0.5})
    body = _body({"model": "m", "messages": [], "options": {"num_ctx": 8192}})
    ollama_native.CHAT.apply(body, config, {})
    assert json.loads(body.encode())["options"] == {
        "num_ctx": 8192,
        "temperature": 0.2,
        "num_predict": 64,
        "top_p": 0.5,
    }


def test_system_prefix_merges_with_a_leading_system_message() -> None:
    merged = prefix_system_message(b'[{"role":"system","content":"Be brief."},{"role":"user","content":"x"}]', "P.")
    assert json.loads(merged) == [{"role": "system", "content": "P.\n\nBe brief."}, {"role": "user", "content": "x"}]
    parts = prefix_system_message(b'[{"role":"system","content":[{"type":"text","text":"A"}]}]', "P.")
    assert json.loads(parts)[0]["content"] == [{"type": "text", "text": "P."}, {"type": "text", "text": "A"}]
    assert json.loads(prefix_system_message(b"[]", "P.")) == [{"role": "system", "content": "P."}]


def test_anthropic_system_prefix_keeps_the_clients_form() -> None:
    for system, expected in (
        (None, "P."),
        ("S", "P.\n\nS"),
        ([{"type": "text", "text": "S", "cache_control": {"type": "ephemeral"}}], None),
    ):
        body = _body({"model": "m", "max_tokens": 1, "messages": [], **({"system": system} if system else {})})
        anthropic_native.apply_system_prefix(body, "P.")
        out = json.loads(body.encode())["system"]
        if expected is not None:
            assert out == expected
        else:
            assert out == [{"type": "text", "text": "P."}, *system]  # type: ignore[misc]


def test_scan_holds_a_partial_event_and_renames_the_model() -> None:
    scan = EventScan("alias")
    first = scan.feed(b'data: {"model":"up-1","x":1}\n\ndata: {"mo')
    assert first == b'data: {"model":"alias","x":1}\n\n'  # the partial event waits for its end
    assert scan.feed(b'del":"up-1"}\n\n') == b'data: {"model":"alias"}\n\n'
    assert scan.upstream_model == "up-1"


def test_crlf_streams_are_cut_at_their_own_separator() -> None:
    scan = EventScan("m")
    assert scan.feed(b"data: {}\r\n\r\ndata: {") == b"data: {}\r\n\r\n"


def test_openai_scan_reads_usage_and_hides_the_unasked_usage_chunk() -> None:
    scan = openai_native.Scan("m", hide_usage=True)
    chunk = b'data: {"model":"m","choices":[{"delta":{"content":"hi"},"finish_reason":"stop"}]}\n\n'
    usage = b'data: {"model":"m","choices":[],"usage":{"prompt_tokens":5,"completion_tokens":2}}\n\n'
    out = scan.feed(chunk + usage + b"data: [DONE]\n\n")
    assert out == chunk + b"data: [DONE]\n\n"
    assert scan.usage is not None and (scan.usage.input_tokens, scan.usage.output_tokens) == (5, 2)
    assert scan.ended


def test_relayed_bytes_that_may_hold_an_error_event_are_flagged_for_masking() -> None:
    scan = openai_native.Scan("m", hide_usage=False)
    content = b'data: {"model":"m","choices":[{"delta":{"content":"hi"}}]}\n\n'
    assert not scan.may_hold_error(scan.feed(content))  # the marker search already said no
    odd = b'data: {"error": not json at all, "key": "sk-1"}\n\n'  # not readable as an error event
    assert scan.feed(content + odd) and scan.error is None
    assert scan.may_hold_error(content + odd)
    assert not scan.may_hold_error(scan.feed(content + b'data: {"error": "cut off'))
    rest = scan.tail()  # what was held back is not marker-searched: the relay searches it itself
    assert rest == b'data: {"error": "cut off' and scan.may_hold_error(rest)


def test_anthropic_scan_counts_cache_tokens_in_the_prompt() -> None:
    scan = anthropic_native.Scan("m")
    start = {
        "type": "message_start",
        "message": {"model": "m", "usage": {"input_tokens": 20, "cache_read_input_tokens": 10, "output_tokens": 1}},
    }
    delta = {"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 9}}
    events = b"".join(
        f"event: {e['type']}\ndata: {json.dumps(e)}\n\n".encode() for e in (start, delta, {"type": "message_stop"})
    )
    scan.feed(events)
    assert scan.usage is not None and (scan.usage.input_tokens, scan.usage.output_tokens) == (30, 9)
    assert scan.usage.cache_read_tokens == 10 and scan.ended and scan.error is None


def test_whole_answer_model_is_renamed_at_the_top_level_only() -> None:
    body = b'{"id":"x","content":[{"type":"tool_use","input":{"model":"up"}}],"model":"up"}'
    out, upstream = rename_model(body, "alias")
    data = json.loads(out)
    assert upstream == "up" and data["model"] == "alias" and data["content"][0]["input"]["model"] == "up"
