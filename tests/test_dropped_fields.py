"""The translated lane takes every field the client's real API takes (SPEC §7): a field the target has an
equivalent for is mapped, the rest is dropped — never a 400 — and counted in
`llm_link_dropped_fields_total{dialect,provider,field}`. Claude Code's 2026 request shape (adaptive thinking,
effort, context management, cache scope, tool search, mid-conversation system messages) against OpenAI,
Ollama and Anthropic upstreams; OpenAI-only chat fields against Anthropic and OpenAI upstreams. The fakes
reject fields and messages the real APIs reject."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import anthropic
import httpx
import ollama
import openai
import pytest

from tests.fakes.anthropic_upstream import API_KEY as ANTHROPIC_KEY
from tests.fakes.anthropic_upstream import TOOL_CHANGES_BETA, FakeAnthropic
from tests.fakes.ollama_upstream import FakeOllama
from tests.fakes.openai_upstream import API_KEY as OPENAI_KEY
from tests.fakes.openai_upstream import FakeOpenAI
from tests.harness import Gateway

CLAUDE_CODE_BETAS = (
    "claude-code-20250219,adaptive-thinking-2026-01-28,context-management-2025-06-27,"
    "prompt-caching-scope-2026-01-05,advanced-tool-use-2025-11-20,effort-2025-11-24"
)
SCHEMA = {"type": "object", "properties": {"path": {"type": "string"}}, "required": ["path"]}
# What Claude Code 2.x puts in a first request beyond model, max_tokens and messages.
CLAUDE_CODE_EXTRAS: dict[str, Any] = {
    "system": [
        {"type": "text", "text": "You are Claude Code."},
        {"type": "text", "text": "Project rules.", "cache_control": {"type": "ephemeral", "scope": "global"}},
    ],
    "thinking": {"type": "adaptive", "display": "summarized"},
    "output_config": {"effort": "max"},
    "context_management": {"edits": [{"type": "clear_thinking_20251015", "keep": "all"}]},
    "cache_control": {"type": "ephemeral"},
    "tools": [
        {
            "name": "Read",
            "description": "Read a file",
            "input_schema": SCHEMA,
            "strict": True,
            "eager_input_streaming": True,
            "input_examples": [{"path": "README.md"}],
        },
        {"name": "NotebookEdit", "input_schema": SCHEMA, "defer_loading": True},
        {"type": "tool_search_tool_regex_20251119", "name": "tool_search_tool_regex"},
        {"type": "web_search_20260209", "name": "web_search", "max_uses": 3},
    ],
}
CLAUDE_CODE_DROPS = {
    "cache_control.scope",
    "thinking.display",
    "context_management",
    "tools.eager_input_streaming",
    "tools.input_examples",
    "tools.defer_loading",
    "tools.tool_search",
    "tools.web_search",
}
# Claude Code's mid-conversation system message, right after the user turn (GA in the real API).
MESSAGES = [
    {"role": "user", "content": "read README.md"},
    {"role": "system", "content": "The user switched to plan mode."},
]
# OpenAI-only chat fields, as an OpenAI SDK client sends them.
OPENAI_EXTRAS: dict[str, Any] = {
    "logit_bias": {"50256": -100},
    "logprobs": True,
    "top_logprobs": 2,
    "prediction": {"type": "content", "content": "echo"},
    "web_search_options": {"search_context_size": "low"},
    "service_tier": "flex",
    "store": True,
    "metadata": {"team": "blue"},
    "prompt_cache_key": "session-7",
    "prompt_cache_retention": "24h",
    "verbosity": "low",
}
OPENAI_DROPS = set(OPENAI_EXTRAS) | {"n"}


@pytest.fixture(scope="module")
def gw(fake_openai: FakeOpenAI, fake_anthropic: FakeAnthropic, fake_ollama: FakeOllama) -> Iterator[Gateway]:
    claude = {"type": "anthropic", "base_url": fake_anthropic.url, "api_key": ANTHROPIC_KEY}  # type: ignore[attr-defined]
    oai = {"type": "openai", "base_url": fake_openai.url, "api_key": OPENAI_KEY}  # type: ignore[attr-defined]
    config = {
        "providers": {
            "oai": oai,
            "oai-t": {**oai, "passthrough": False},
            "olla": {"type": "ollama", "base_url": fake_ollama.url},  # type: ignore[attr-defined]
            "claude": claude,
            "claude-t": {**claude, "passthrough": False},
        },
        "models": {
            "to-openai": "oai/gpt-test",
            "to-openai-translated": "oai-t/gpt-test",
            "to-ollama": "olla/qwen3",
            "to-claude": "claude/claude-test",
            "to-claude-translated": "claude-t/claude-test",
        },
    }
    with Gateway(config) as g:
        yield g


def dropped(gw: Gateway, dialect: str, provider: str) -> dict[str, float]:
    """field -> llm_link_dropped_fields_total for one dialect and provider."""
    out: dict[str, float] = {}
    for line in httpx.get(gw.url + "/metrics").text.splitlines():
        if line.startswith("llm_link_dropped_fields_total{"):
            labels, value = line.rsplit(" ", 1)
            if f'dialect="{dialect}"' in labels and f'provider="{provider}"' in labels:
                out[labels.split('field="', 1)[1].split('"', 1)[0]] = float(value)
    return out


def increments(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    return {k: v - before.get(k, 0.0) for k, v in after.items() if v != before.get(k, 0.0)}


def claude_client(gw: Gateway) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=gw.url + "/anthropic", api_key="sk-client", max_retries=0)


def claude_code_request(client: anthropic.Anthropic, model: str, **kwargs: Any) -> Any:
    return client.messages.create(
        model=model,
        max_tokens=4000,
        messages=MESSAGES,  # type: ignore[arg-type]
        extra_body=CLAUDE_CODE_EXTRAS,
        extra_headers={"anthropic-beta": CLAUDE_CODE_BETAS},
        **kwargs,
    )


def test_claude_code_request_to_openai_upstream(gw: Gateway, fake_openai: FakeOpenAI) -> None:
    before = dropped(gw, "anthropic", "oai")
    message = claude_code_request(claude_client(gw), "to-openai")
    assert message.content and message.stop_reason == "tool_use"  # the fake calls the first tool
    body = fake_openai.last
    text = json.dumps(body)
    for gone in ("context_management", "scope", "defer_loading", "input_examples", "eager_input_streaming"):
        assert gone not in text, gone
    assert "cache_control" not in text and "web_search" not in text and "tool_search" not in text
    # Mapped: adaptive thinking at effort max is OpenAI's highest effort; strict tools stay strict; the
    # mid-conversation system message stays in place.
    assert body["reasoning_effort"] == "xhigh"
    assert [t["function"]["name"] for t in body["tools"]] == ["Read", "NotebookEdit"]
    assert body["tools"][0]["function"]["strict"] is True and "strict" not in body["tools"][1]["function"]
    assert [m["role"] for m in body["messages"]] == ["system", "user", "system"]
    assert body["messages"][0]["content"] == "You are Claude Code.\n\nProject rules."
    assert body["messages"][2]["content"] == "The user switched to plan mode."
    assert increments(before, dropped(gw, "anthropic", "oai")) == dict.fromkeys(CLAUDE_CODE_DROPS, 1.0)


def test_claude_code_stream_to_ollama_upstream(gw: Gateway, fake_ollama: FakeOllama) -> None:
    before = dropped(gw, "anthropic", "olla")
    with (
        claude_client(gw).messages.stream(
            model="to-ollama",
            max_tokens=4000,
            messages=MESSAGES,  # type: ignore[arg-type]
            extra_body={**CLAUDE_CODE_EXTRAS, "tools": CLAUDE_CODE_EXTRAS["tools"][2:]},  # no function tools
            extra_headers={"anthropic-beta": CLAUDE_CODE_BETAS},
        ) as stream
    ):
        final = stream.get_final_message()
    assert final.content[-1].type == "text"
    body = fake_ollama.last  # type: ignore[attr-defined]
    assert "context_management" not in json.dumps(body) and "tools" not in body
    assert body["think"] == "high"  # effort max: Ollama's highest level
    # Ollama takes one leading system message: the mid-conversation one is folded into it.
    assert body["messages"][0]["role"] == "system" and "plan mode" in body["messages"][0]["content"]
    assert [m["role"] for m in body["messages"]] == ["system", "user"]
    expected = CLAUDE_CODE_DROPS - {"tools.eager_input_streaming", "tools.input_examples", "tools.defer_loading"}
    assert increments(before, dropped(gw, "anthropic", "olla")) == dict.fromkeys(expected, 1.0)


def test_strict_tools_are_counted_where_the_target_has_no_strict(gw: Gateway, fake_ollama: FakeOllama) -> None:
    before = dropped(gw, "anthropic", "olla")
    claude_client(gw).messages.create(
        model="to-ollama",
        max_tokens=100,
        messages=[{"role": "user", "content": "hi"}],
        tools=[{"name": "Read", "input_schema": SCHEMA, "strict": True}],  # type: ignore[list-item]
    )
    assert "strict" not in json.dumps(fake_ollama.last["tools"])  # type: ignore[attr-defined]
    assert increments(before, dropped(gw, "anthropic", "olla")) == {"tools.strict": 1.0}


def test_claude_code_request_to_translated_anthropic_upstream(gw: Gateway, fake_anthropic: FakeAnthropic) -> None:
    """passthrough: false — the body is rebuilt, and the client's betas are not sent: what needs one
    (context management, cache scope) is dropped, the rest (strict, ttl-free cache breakpoints) carried."""
    before = dropped(gw, "anthropic", "claude-t")
    message = claude_code_request(claude_client(gw), "to-claude-translated")
    assert message.content
    body = fake_anthropic.last
    assert "context_management" not in body and "scope" not in json.dumps(body)
    assert body["tools"][0]["strict"] is True and body["thinking"]["type"] == "enabled"
    assert {"type": "ephemeral"} in [b.get("cache_control") for b in body["system"]]
    assert "plan mode" in json.dumps(body["system"])  # hoisted: translation sends no system messages
    counted = increments(before, dropped(gw, "anthropic", "claude-t"))
    assert counted == dict.fromkeys(CLAUDE_CODE_DROPS, 1.0)


def test_mid_conversation_system_messages_forwarded_to_anthropic(gw: Gateway, fake_anthropic: FakeAnthropic) -> None:
    """Same API on both sides: the body goes as sent, and the real API's rules apply (the fake's)."""
    client = claude_client(gw)
    before = dropped(gw, "anthropic", "claude")
    claude_code_request(client, "to-claude")
    assert fake_anthropic.last["messages"] == MESSAGES
    assert fake_anthropic.last["context_management"] == CLAUDE_CODE_EXTRAS["context_management"]
    assert dropped(gw, "anthropic", "claude") == before  # forwarded: nothing dropped
    tool_change = [
        {"role": "user", "content": "hi"},
        {"role": "system", "content": [{"type": "tool_addition", "tool": {"type": "tool_reference", "name": "Read"}}]},
    ]
    tools = [{"name": "Read", "input_schema": SCHEMA}]
    with pytest.raises(anthropic.BadRequestError, match="tool_addition"):  # a beta block without its beta
        client.messages.create(model="to-claude", max_tokens=100, messages=tool_change, tools=tools)  # type: ignore[arg-type]
    client.messages.create(
        model="to-claude",
        max_tokens=100,
        messages=tool_change,  # type: ignore[arg-type]
        tools=tools,  # type: ignore[list-item]
        extra_headers={"anthropic-beta": TOOL_CHANGES_BETA},
    )
    with pytest.raises(anthropic.BadRequestError, match="immediately follow a user message"):
        client.messages.create(model="to-claude", max_tokens=100, messages=[MESSAGES[1], MESSAGES[0]])  # type: ignore[list-item]


def test_beta_system_blocks_are_dropped_on_the_translated_lane(gw: Gateway, fake_openai: FakeOpenAI) -> None:
    before = dropped(gw, "anthropic", "oai")
    claude_client(gw).messages.create(
        model="to-openai",
        max_tokens=100,
        messages=[
            {"role": "user", "content": "first"},
            {"role": "system", "content": "only for the first turn", "clear_at": "next_user_message"},  # type: ignore[typeddict-unknown-key]
            {"role": "assistant", "content": "ok"},
            {"role": "user", "content": "second"},
            {
                "role": "system",
                "content": [{"type": "tool_addition", "tool": {"type": "tool_reference", "name": "Read"}}],
                "output_config": {"effort": "low"},
            },  # type: ignore[list-item]
        ],
        tools=[{"name": "Read", "input_schema": SCHEMA}],
        extra_headers={"anthropic-beta": TOOL_CHANGES_BETA},
    )
    # clear_at has an equivalent: the cleared message is not shown to the model, so it is not sent; the
    # per-turn effort is the effort of this answer.
    assert [m["role"] for m in fake_openai.last["messages"]] == ["user", "assistant", "user"]
    assert fake_openai.last["reasoning_effort"] == "low"
    assert increments(before, dropped(gw, "anthropic", "oai")) == {"messages.tool_addition": 1.0}


def openai_client(gw: Gateway) -> openai.OpenAI:
    return openai.OpenAI(base_url=gw.url + "/v1", api_key="sk-client", max_retries=0)


def test_openai_only_fields_to_anthropic_upstream(gw: Gateway, fake_anthropic: FakeAnthropic) -> None:
    before = dropped(gw, "openai", "claude")
    r = openai_client(gw).chat.completions.create(
        model="to-claude",
        messages=[{"role": "user", "content": "hi"}],
        n=2,
        safety_identifier="user-42",
        **OPENAI_EXTRAS,
    )
    assert len(r.choices) == 1 and r.choices[0].message.content
    body = fake_anthropic.last  # the fake refuses unknown top-level fields, as the real API does
    assert set(body) <= {"model", "messages", "max_tokens", "metadata"}
    assert body["metadata"] == {"user_id": "user-42"}  # safety_identifier maps to Anthropic's user id
    assert increments(before, dropped(gw, "openai", "claude")) == dict.fromkeys(OPENAI_DROPS, 1.0)


def test_openai_only_fields_streamed_to_ollama(gw: Gateway, fake_ollama: FakeOllama) -> None:
    before = dropped(gw, "openai", "olla")
    stream = openai_client(gw).chat.completions.create(
        model="to-ollama", messages=[{"role": "user", "content": "hi"}], stream=True, logprobs=True, store=False
    )
    assert "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    assert "logprobs" not in fake_ollama.last  # type: ignore[attr-defined]
    # store: false asks for nothing, so nothing of it is lost.
    assert increments(before, dropped(gw, "openai", "olla")) == {"logprobs": 1.0}


def test_openai_only_fields_reach_a_translated_openai_upstream(gw: Gateway, fake_openai: FakeOpenAI) -> None:
    before = dropped(gw, "openai", "oai-t")
    openai_client(gw).chat.completions.create(
        model="to-openai-translated", messages=[{"role": "user", "content": "hi"}], n=2, **OPENAI_EXTRAS
    )
    body = fake_openai.last
    assert {k: body[k] for k in OPENAI_EXTRAS} == OPENAI_EXTRAS
    assert "n" not in body  # the translated lane answers with one choice: the upstream is not asked for two
    assert increments(before, dropped(gw, "openai", "oai-t")) == {"n": 1.0}


def test_ollama_options_to_openai_upstream(gw: Gateway, fake_openai: FakeOpenAI) -> None:
    before = dropped(gw, "ollama", "oai")
    r = ollama.Client(host=gw.url + "/ollama").chat(
        model="to-openai",
        messages=[{"role": "user", "content": "hi"}],
        options={"num_ctx": 8192, "temperature": 0.5},
        keep_alive="10m",
    )
    assert r.message.content
    body = fake_openai.last
    assert body["temperature"] == 0.5 and "num_ctx" not in json.dumps(body) and "keep_alive" not in body
    assert increments(before, dropped(gw, "ollama", "oai")) == {"options.num_ctx": 1.0, "keep_alive": 1.0}
