"""Fields the translated lane maps or drops, in-process: what the Anthropic and OpenAI decoders map onto the
unified request and list as droppable, and the core's count of what the answering provider does not carry."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import msgspec
import pytest

from dialects.anthropic import codec as anthropic
from dialects.anthropic import schema as anthropic_wire
from dialects.ollama import codec as ollama
from dialects.ollama import schema as ollama_wire
from dialects.openai import codec as openai
from dialects.openai import schema as openai_wire
from gateway import dropped
from providers.anthropic.provider import AnthropicProvider
from providers.gemini.provider import GeminiProvider
from providers.ollama import OllamaProvider
from providers.openai.provider import OpenAIProvider
from providers.openai.request import OpenAIOptions, encode_request
from providers.openai_responses.provider import OpenAIResponsesProvider
from unified.types import Reasoning, Request, TextPart, ToolResultPart

SCHEMA = {"type": "object", "properties": {}}


def claude(**body: Any) -> Request:
    body = {"model": "m", "max_tokens": 100, "messages": [{"role": "user", "content": "hi"}], **body}
    return anthropic.to_unified(msgspec.json.decode(msgspec.json.encode(body), type=anthropic_wire.MessagesRequest))


def chat(**body: Any) -> Request:
    body = {"model": "m", "messages": [{"role": "user", "content": "hi"}], **body}
    return openai.to_unified(msgspec.json.decode(msgspec.json.encode(body), type=openai_wire.ChatRequest))


def test_a_plain_request_has_nothing_droppable() -> None:
    assert claude().droppable == () and chat().droppable == ()
    assert claude(tools=[{"name": "t", "input_schema": SCHEMA, "strict": False}]).droppable == ()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"context_management": {"edits": []}}, "context_management"),
        ({"thinking": {"type": "adaptive", "display": "omitted"}}, "thinking.display"),
        ({"output_config": {"task_budget": {"type": "tokens", "total": 9}}}, "output_config.task_budget"),
        ({"container": "c_1"}, "container"),
        ({"mcp_servers": [{"type": "url", "url": "https://x", "name": "x"}]}, "mcp_servers"),
        ({"service_tier": "auto"}, "service_tier"),
        ({"tools": [{"name": "t", "input_schema": SCHEMA, "defer_loading": True}]}, "tools.defer_loading"),
        ({"tools": [{"name": "t", "input_schema": SCHEMA, "input_examples": [{}]}]}, "tools.input_examples"),
        (
            {"tools": [{"name": "t", "input_schema": SCHEMA, "eager_input_streaming": True}]},
            "tools.eager_input_streaming",
        ),
        ({"tools": [{"name": "t", "input_schema": SCHEMA, "allowed_callers": ["direct"]}]}, "tools.allowed_callers"),
        ({"tools": [{"name": "t", "input_schema": SCHEMA, "strict": True}]}, "tools.strict"),
        ({"tools": [{"type": "web_fetch_20260318", "name": "web_fetch"}]}, "tools.web_fetch"),
        ({"tools": [{"type": "tool_search_tool_bm25_20251119", "name": "s"}]}, "tools.tool_search"),
        ({"tools": [{"type": "brand_new_20270101", "name": "s"}]}, "tools.server"),
    ],
)
def test_anthropic_only_fields_are_named(body: dict[str, Any], field: str) -> None:
    assert claude(**body).droppable == (field,)


def test_cache_scope_is_taken_out_and_ttl_kept() -> None:
    req = claude(system=[{"type": "text", "text": "s", "cache_control": {"type": "ephemeral", "scope": "global"}}])
    assert req.droppable == ("cache_control.scope",)
    assert req.messages[0].content[0] == TextPart(text="s", cache_control={"type": "ephemeral"})
    req = claude(system=[{"type": "text", "text": "s", "cache_control": {"type": "ephemeral", "ttl": "1h"}}])
    assert req.droppable == () and req.messages[0].content[0].cache_control == {"type": "ephemeral", "ttl": "1h"}  # type: ignore[union-attr]


def test_top_level_cache_control_is_a_breakpoint_on_the_last_block() -> None:
    req = claude(
        messages=[
            {"role": "user", "content": "a"},
            {"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "x", "input": {}}]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": "r"}]},
        ],
        cache_control={"type": "ephemeral", "ttl": "1h"},
    )
    last = req.messages[-1].content[-1]
    assert isinstance(last, ToolResultPart) and last.cache_control == {"type": "ephemeral", "ttl": "1h"}
    assert req.droppable == ()


def test_thinking_and_effort_map_to_unified_reasoning() -> None:
    assert claude(thinking={"type": "adaptive"}).reasoning == Reasoning(enabled=True)
    adaptive = claude(thinking={"type": "adaptive"}, output_config={"effort": "high"})
    assert adaptive.reasoning == Reasoning(enabled=True, effort="high")
    assert claude(output_config={"effort": "low"}).reasoning == Reasoning(enabled=True, effort="low")
    assert claude(thinking={"type": "disabled"}, output_config={"effort": "low"}).reasoning == Reasoning(enabled=False)


def test_mid_conversation_system_messages() -> None:
    req = claude(
        messages=[
            {"role": "user", "content": "a"},
            {"role": "system", "content": "gone", "clear_at": "next_user_message"},
            {"role": "system", "content": "kept", "clear_at": "never"},
            {"role": "assistant", "content": "b"},
            {"role": "user", "content": "c"},
            {"role": "system", "content": "still shown", "clear_at": "next_user_message"},
            {"role": "system", "output_config": {"effort": "low"}},
            {"role": "system", "content": [{"type": "tool_removal", "tool": {"type": "tool_reference", "name": "x"}}]},
            {"role": "system", "output_config": {"effort": "high", "something": "new"}},
        ],
        thinking={"type": "adaptive"},
        output_config={"effort": "medium"},
    )
    texts = [(m.role, m.content[0].text) for m in req.messages]  # type: ignore[union-attr]
    assert texts == [("user", "a"), ("system", "kept"), ("assistant", "b"), ("user", "c"), ("system", "still shown")]
    assert sorted(req.droppable) == ["messages.output_config", "messages.tool_removal"]
    assert req.reasoning == Reasoning(enabled=True, effort="high")  # the latest per-turn effort wins
    with pytest.raises(Exception, match="content"):
        claude(messages=[{"role": "user"}])


def test_per_turn_effort_applies_to_the_answer_it_precedes() -> None:
    earlier = [{"role": "user", "content": "a"}, {"role": "system", "output_config": {"effort": "low"}}]
    req = claude(messages=[*earlier, {"role": "assistant", "content": "b"}, {"role": "user", "content": "c"}])
    assert req.reasoning is None and req.droppable == ()  # an earlier turn's effort: nothing is lost
    assert claude(messages=earlier).reasoning == Reasoning(enabled=True, effort="low")
    off = claude(messages=earlier, thinking={"type": "disabled"})
    assert off.reasoning == Reasoning(enabled=False)


def test_openai_only_fields_travel_as_extras_and_are_named() -> None:
    req = chat(logit_bias={"1": 5}, store=True, modalities=["text", "audio"], audio={"voice": "alloy"}, n=3)
    assert req.extra == {
        "logit_bias": {"1": 5},
        "store": True,
        "modalities": ["text", "audio"],
        "audio": {"voice": "alloy"},
    }
    assert req.droppable == ("logit_bias", "modalities", "audio", "store", "n") and req.n is None
    # Values that ask for nothing lose nothing.
    assert chat(store=False, logprobs=False, modalities=["text"], metadata={}, n=1).droppable == ()
    assert chat(safety_identifier="u1").user == "u1" and chat(safety_identifier="u1", user="u0").user == "u0"


def test_openai_body_takes_the_extras_and_the_top_effort() -> None:
    req = chat(logit_bias={"1": 5}, verbosity="low", reasoning_effort="high")
    req = msgspec.structs.replace(req, reasoning=Reasoning(effort="max"))
    body = encode_request(req, "gpt", False, OpenAIOptions(), "max_tokens")
    assert body["logit_bias"] == {"1": 5} and body["verbosity"] == "low" and body["reasoning_effort"] == "xhigh"


def test_which_provider_types_carry_what() -> None:
    assert {"tools.strict", "logit_bias", "store"} <= OpenAIProvider.carries
    assert "logit_bias" not in OpenAIResponsesProvider.carries and "tools.web_search" in OpenAIResponsesProvider.carries
    assert AnthropicProvider.carries == {"tools.strict"}
    assert "safetySettings" in GeminiProvider.carries and "tools.strict" not in GeminiProvider.carries
    assert {"keep_alive", "options.num_ctx"} <= OllamaProvider.carries and "tools.strict" not in OllamaProvider.carries


class _Child:
    def __init__(self, seen: list[tuple[str, ...]], labels: tuple[str, ...]) -> None:
        self.seen, self.labels = seen, labels

    def inc(self) -> None:
        self.seen.append(self.labels)


def test_count_names_what_the_provider_does_not_carry() -> None:
    seen: list[tuple[str, ...]] = []
    metrics = SimpleNamespace(dropped_fields=object(), child=lambda _family, *labels: _Child(seen, labels))
    call: Any = SimpleNamespace(metrics=metrics, dialect="anthropic")
    target: Any = SimpleNamespace(carries=frozenset({"tools.strict"}), provider_name="up")
    dropped.count(call, target, ("tools.strict", "context_management"))
    assert seen == [("anthropic", "up", "context_management")]
    dropped.count(call, target, ())
    assert len(seen) == 1


def test_a_field_named_twice_counts_once_per_request() -> None:
    # Two hosted MCP servers on a Responses request (the Agents SDK sends one tool per server) are one
    # dropped field for that request, as /metrics documents it.
    seen: list[tuple[str, ...]] = []
    metrics = SimpleNamespace(dropped_fields=object(), child=lambda _family, *labels: _Child(seen, labels))
    call: Any = SimpleNamespace(metrics=metrics, dialect="responses")
    target: Any = SimpleNamespace(carries=frozenset(), provider_name="up")
    dropped.count(call, target, ("tools.mcp", "tools.web_search", "tools.mcp"))
    assert seen == [("responses", "up", "tools.mcp"), ("responses", "up", "tools.web_search")]


def test_server_tool_history_search_results_and_compaction() -> None:
    """Blocks the real API takes in history: a server tool's run is left out, a search result and a
    compaction summary become text, a tool search's tool_reference is counted."""
    req = claude(
        messages=[
            {"role": "user", "content": [{"type": "search_result", "source": "s", "title": "T", "content": []}]},
            {
                "role": "assistant",
                "content": [
                    {"type": "compaction", "content": "Summary so far."},
                    {"type": "server_tool_use", "id": "srv_1", "name": "web_fetch", "input": {"url": "https://x"}},
                    {"type": "web_fetch_tool_result", "tool_use_id": "srv_1", "content": {"type": "web_fetch_result"}},
                    {"type": "code_execution_tool_result", "tool_use_id": "srv_2", "content": {}},
                    {"type": "tool_use", "id": "t1", "name": "ToolSearch", "input": {}},
                ],
            },
            {
                "role": "user",
                "content": [
                    {
                        "type": "tool_result",
                        "tool_use_id": "t1",
                        "content": [
                            {"type": "tool_reference", "tool_name": "Read"},
                            {
                                "type": "search_result",
                                "source": "u",
                                "title": "R",
                                "content": [{"type": "text", "text": "x"}],
                            },
                        ],
                    }
                ],
            },
        ]
    )
    first, second, third = req.messages
    assert first.content == [TextPart(text="T\ns")]
    assert [type(p).__name__ for p in second.content] == ["TextPart", "ToolCallPart"]
    assert second.content[0] == TextPart(text="Summary so far.")
    result = third.content[0]
    assert isinstance(result, ToolResultPart) and result.content == [TextPart(text="R\nu\nx")]
    assert req.droppable == ("tool_result.tool_reference",)


def test_ollama_only_options_are_named() -> None:
    body = {"model": "m", "messages": [{"role": "user", "content": "hi"}], "keep_alive": "5m"}
    body["options"] = {"num_ctx": 8192, "min_p": 0.1, "temperature": 0.2}
    req = ollama.chat_to_unified(msgspec.json.decode(msgspec.json.encode(body), type=ollama_wire.ChatRequest), False)
    assert req.droppable == ("keep_alive", "options.num_ctx", "options.min_p") and req.temperature == 0.2
    del body["keep_alive"], body["options"]
    assert (
        ollama.chat_to_unified(
            msgspec.json.decode(msgspec.json.encode(body), type=ollama_wire.ChatRequest), False
        ).droppable
        == ()
    )
