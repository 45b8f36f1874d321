"""Reasoning crossing APIs, over HTTP with the official SDKs against strict fakes: OpenAI-compatible
`reasoning_content` echoed back (or dropped) on tool turns per `options.reasoning_content`, whichever client
API (OpenAI chat, Responses, Anthropic, Ollama) kept the thinking, and Anthropic
thinking blocks with their signatures (and redacted_thinking) reaching an Anthropic upstream unchanged on
the translated lane."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import anthropic
import ollama
import openai
import pytest
import yaml

from tests.fakes.anthropic_upstream import API_KEY as ANTHROPIC_KEY
from tests.fakes.anthropic_upstream import SIGNATURE, THINKING, FakeAnthropic
from tests.fakes.openai_upstream import API_KEY as OPENAI_KEY
from tests.fakes.openai_upstream import FakeOpenAI
from tests.fakes.server import ThreadedServer
from tests.harness import ROOT, Gateway

WEATHER_SCHEMA = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
OAI_WEATHER = {"type": "function", "function": {"name": "get_weather", "parameters": WEATHER_SCHEMA}}
WEATHER = {"name": "get_weather", "description": "Weather for a city", "input_schema": WEATHER_SCHEMA}
ASK = {"role": "user", "content": "weather in Paris?"}


@pytest.fixture(scope="module")
def fake_oai() -> Iterator[FakeOpenAI]:
    fake = FakeOpenAI()
    server = ThreadedServer(fake.app).start()
    fake.url = server.url + "/v1"  # type: ignore[attr-defined]
    yield fake
    server.stop()


@pytest.fixture(scope="module")
def gw(fake_oai: FakeOpenAI, fake_anthropic: FakeAnthropic, fake_aliyun: Any) -> Iterator[Gateway]:
    def compat(options: dict[str, Any] | None = None) -> dict[str, Any]:
        spec: dict[str, Any] = {
            "type": "openai",
            "base_url": fake_oai.url,  # type: ignore[attr-defined]
            "api_key": OPENAI_KEY,
            "passthrough": False,  # an OpenAI client's body is rebuilt, as for every other client
        }
        if options:
            spec["options"] = options
        return spec

    config = {
        "providers": {
            "echo": compat({"reasoning_content": "echo"}),
            "drop": compat({"reasoning_content": "drop"}),
            "legacy": compat({"send_reasoning_content": True}),
            "generic": compat(),  # a 127.0.0.1 host: not one known to want reasoning back
            "qwen": {"type": "aliyun", "base_url": fake_aliyun.url, "api_key": OPENAI_KEY},
            "claude": {
                "type": "anthropic",
                "base_url": fake_anthropic.url,  # type: ignore[attr-defined]
                "api_key": ANTHROPIC_KEY,
                "passthrough": False,
            },
        },
        "models": {
            "ds-echo": "echo/reasoning-strict",
            "ds-drop": "drop/reasoning-strict",
            "ds-legacy": "legacy/reasoning-strict",
            "ds-generic": "generic/reasoning-strict",
            "lenient-drop": "drop/reasoning",
            "qwen": "qwen/qwen-plus",
            "claude": "claude/claude-test",
        },
    }
    with Gateway(config) as g:
        yield g


@pytest.fixture(scope="module")
def oai(gw: Gateway) -> openai.OpenAI:
    return openai.OpenAI(base_url=gw.url + "/v1", api_key="x", max_retries=0)


@pytest.fixture(scope="module")
def claude(gw: Gateway) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=gw.url + "/anthropic", api_key="x", max_retries=0)


def _assistant_turn(client: openai.OpenAI, model: str) -> dict[str, Any]:
    """The first step of a tool loop, as an agent (OpenCode, an OpenAI Agents app) keeps it in history."""
    msg = client.chat.completions.create(model=model, messages=[ASK], tools=[OAI_WEATHER]).choices[0].message
    assert msg.tool_calls and (msg.model_extra or {}).get("reasoning_content") == "thinking hard"
    call = msg.tool_calls[0]
    return {
        "role": "assistant",
        "content": None,
        "reasoning_content": (msg.model_extra or {})["reasoning_content"],
        "tool_calls": [{"id": call.id, "type": "function", "function": {"name": "get_weather", "arguments": "{}"}}],
    }


def _second_step(client: openai.OpenAI, model: str, stream: bool = False) -> str:
    turn = _assistant_turn(client, model)
    history: list[Any] = [ASK, turn, {"role": "tool", "tool_call_id": turn["tool_calls"][0]["id"], "content": "22C"}]
    if stream:
        chunks = client.chat.completions.create(model=model, messages=history, tools=[OAI_WEATHER], stream=True)
        return "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    return (
        client.chat.completions.create(model=model, messages=history, tools=[OAI_WEATHER]).choices[0].message.content
        or ""
    )


@pytest.mark.parametrize("model", ["ds-echo", "ds-legacy"])
def test_echo_sends_reasoning_content_back_on_the_tool_call_message(
    oai: openai.OpenAI, fake_oai: FakeOpenAI, model: str
) -> None:
    assert _second_step(oai, model) == "got: 22C"
    sent = fake_oai.last["messages"]
    assert [m["role"] for m in sent] == ["user", "assistant", "tool"]
    assert sent[1]["reasoning_content"] == "thinking hard" and sent[1]["tool_calls"]


def test_echo_on_a_streamed_step(oai: openai.OpenAI, fake_oai: FakeOpenAI) -> None:
    assert _second_step(oai, "ds-echo", stream=True) == "got: 22C"
    assert fake_oai.last["stream"] is True and fake_oai.last["messages"][1]["reasoning_content"] == "thinking hard"


@pytest.mark.parametrize("model", ["ds-drop", "ds-generic"])
def test_drop_never_sends_it_and_a_thinking_upstream_refuses_the_step(
    oai: openai.OpenAI, fake_oai: FakeOpenAI, model: str
) -> None:
    with pytest.raises(openai.BadRequestError) as err:
        _second_step(oai, model)
    assert "reasoning_content" in str(err.value.message)
    assert "reasoning_content" not in fake_oai.last["messages"][1]


def test_drop_to_a_server_that_does_not_need_it(oai: openai.OpenAI, fake_oai: FakeOpenAI) -> None:
    assert _second_step(oai, "lenient-drop") == "got: 22C"
    assert "reasoning_content" not in fake_oai.last["messages"][1]


def test_an_anthropic_client_thinking_reaches_a_deepseek_style_upstream(
    claude: anthropic.Anthropic, fake_oai: FakeOpenAI
) -> None:
    """Claude Code on a thinking model behind an OpenAI-compatible API: its thinking blocks (no signature:
    the upstream gave none) come back as reasoning_content, streamed as Claude Code streams."""
    first = claude.messages.create(model="ds-echo", max_tokens=500, messages=[ASK], tools=[WEATHER])
    assert [b.type for b in first.content] == ["thinking", "tool_use"]
    call = first.content[1]
    assert call.type == "tool_use"
    history: list[Any] = [
        ASK,
        {"role": "assistant", "content": first.content},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": call.id, "content": "22C"}]},
    ]
    with claude.messages.stream(model="ds-echo", max_tokens=500, messages=history, tools=[WEATHER]) as s:
        assert "".join(s.text_stream) == "got: 22C"
    assert fake_oai.last["messages"][1]["reasoning_content"] == "thinking hard"


def test_dashscope_echoes_by_default(oai: openai.OpenAI, fake_aliyun: Any) -> None:
    history: list[Any] = [
        ASK,
        {
            "role": "assistant",
            "content": None,
            "reasoning_content": "need the weather tool",
            "tool_calls": [
                {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": "{}"}}
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "22C"},
    ]
    r = oai.chat.completions.create(model="qwen", messages=history, tools=[OAI_WEATHER])
    assert r.choices[0].message.content == "got: 22C"
    assert fake_aliyun.last["messages"][1]["reasoning_content"] == "need the weather tool"


def test_anthropic_translated_lane_keeps_signed_and_redacted_thinking_byte_for_byte(
    claude: anthropic.Anthropic, fake_anthropic: FakeAnthropic
) -> None:
    """Anthropic client -> Anthropic upstream with passthrough off: the thinking the upstream signed, and a
    redacted block, go back unchanged and in place before tool_use; the fake refuses altered thinking and,
    with thinking on, an assistant turn before tool results that does not start with thinking."""
    thinking_on: Any = {"type": "enabled", "budget_tokens": 2048}
    first = claude.messages.create(
        model="claude", max_tokens=4000, thinking=thinking_on, messages=[ASK], tools=[WEATHER]
    )
    assert [b.type for b in first.content] == ["thinking", "tool_use"]
    assert first.content[0].type == "thinking" and first.content[0].signature == SIGNATURE
    call = first.content[1]
    assert call.type == "tool_use"
    assistant = [
        {"type": "thinking", "thinking": THINKING, "signature": SIGNATURE},
        {"type": "redacted_thinking", "data": "EmwKAhgBEgy3va3pzix/LafPsn4aDFIT2Xlxh0L5L8rLVyIwxtE3rAFBa8cr3qpP"},
        {"type": "tool_use", "id": call.id, "name": "get_weather", "input": {"city": "Paris"}},
    ]
    history: list[Any] = [
        {"role": "user", "content": [{"type": "text", "text": "weather in Paris?"}]},
        {"role": "assistant", "content": assistant},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": call.id, "content": "22C"}]},
    ]
    r = claude.messages.create(model="claude", max_tokens=4000, thinking=thinking_on, messages=history, tools=[WEATHER])
    assert r.content[-1].type == "text" and r.content[-1].text == "got: 22C"
    sent = fake_anthropic.last
    assert sent["messages"][1]["content"] == assistant
    assert sent["thinking"] == {"type": "enabled", "budget_tokens": 2048}


def test_altered_thinking_goes_as_sent_and_the_upstream_400_comes_back(
    claude: anthropic.Anthropic, fake_anthropic: FakeAnthropic
) -> None:
    """Altered thinking is the client's doing: the upstream's 400 reaches the client in Anthropic's shape."""
    history: list[Any] = [
        ASK,
        {
            "role": "assistant",
            "content": [
                {"type": "thinking", "thinking": "edited", "signature": SIGNATURE},
                {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {}},
            ],
        },
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "22C"}]},
    ]
    with pytest.raises(anthropic.BadRequestError) as err:
        claude.messages.create(
            model="claude",
            max_tokens=4000,
            thinking={"type": "enabled", "budget_tokens": 2048},
            messages=history,
            tools=[WEATHER],
        )
    assert "signature" in str(err.value.message)
    assert fake_anthropic.last["messages"][1]["content"][0]["thinking"] == "edited"


def test_openai_client_tool_loop_on_claude_with_reasoning(oai: openai.OpenAI, fake_anthropic: FakeAnthropic) -> None:
    """An OpenAI chat client cannot carry Anthropic's signature, so its tool loop's thinking cannot be
    replayed; the step after the tool result is sent without thinking instead of being refused."""
    first = oai.chat.completions.create(model="claude", messages=[ASK], tools=[OAI_WEATHER], reasoning_effort="high")
    msg = first.choices[0].message
    assert fake_anthropic.last["thinking"]["type"] == "enabled"
    assert msg.tool_calls and (msg.model_extra or {}).get("reasoning_content") == THINKING
    call = msg.tool_calls[0]
    history: list[Any] = [
        ASK,
        {
            "role": "assistant",
            "content": None,
            "reasoning_content": THINKING,
            "tool_calls": [{"id": call.id, "type": "function", "function": {"name": "get_weather", "arguments": "{}"}}],
        },
        {"role": "tool", "tool_call_id": call.id, "content": "22C"},
    ]
    r = oai.chat.completions.create(model="claude", messages=history, tools=[OAI_WEATHER], reasoning_effort="high")
    assert r.choices[0].message.content == "got: 22C"
    sent = fake_anthropic.last
    assert "thinking" not in sent and sent["messages"][1]["content"][0]["type"] == "tool_use"


def _check(tmp_path: Any, options: dict[str, Any]) -> subprocess.CompletedProcess[str]:
    path = tmp_path / "llm-link.yaml"
    spec = {"type": "openai", "base_url": "https://api.deepseek.com", "api_key": "k", "options": options}
    path.write_text(yaml.safe_dump({"providers": {"ds": spec}, "models": {"m": "ds/deepseek-flash"}}))
    return subprocess.run(
        [sys.executable, "-m", "gateway.cli", "check", "-c", str(path)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )


def test_check_rejects_a_bad_reasoning_content_value(tmp_path: Any) -> None:
    r = _check(tmp_path, {"reasoning_content": "always"})
    assert r.returncode == 1
    assert (
        "providers.ds.options" in r.stderr and "reasoning_content must be one of echo, drop, not 'always'" in r.stderr
    )
    r = _check(tmp_path, {"reasoning_content": "drop", "send_reasoning_content": True})
    assert r.returncode == 1 and "contradicts reasoning_content: drop" in r.stderr
    assert _check(tmp_path, {"reasoning_content": "echo"}).returncode == 0


def test_a_responses_client_reasoning_reaches_a_deepseek_style_upstream(
    oai: openai.OpenAI, fake_oai: FakeOpenAI
) -> None:
    """Codex-style stateless loop: the reasoning item the gateway made from reasoning_content comes back
    in `input` and goes upstream as reasoning_content on the tool-call message."""
    tool: Any = {"type": "function", "name": "get_weather", "parameters": WEATHER_SCHEMA}
    ask: Any = {"role": "user", "content": "weather in Paris?"}
    first = oai.responses.create(model="ds-echo", input=[ask], tools=[tool], store=False)
    kinds = [item.type for item in first.output]
    assert kinds == ["reasoning", "function_call"]
    call = first.output[1]
    assert call.type == "function_call"
    items: Any = [ask, *[i.model_dump(exclude_none=True) for i in first.output]]
    items.append({"type": "function_call_output", "call_id": call.call_id, "output": "22C"})
    second = oai.responses.create(model="ds-echo", input=items, tools=[tool], store=False)
    assert second.output_text == "got: 22C"
    sent = fake_oai.last["messages"]
    assert sent[1]["tool_calls"] and sent[1]["reasoning_content"] == "thinking hard"


def test_an_ollama_client_thinking_reaches_a_deepseek_style_upstream(gw: Gateway, fake_oai: FakeOpenAI) -> None:
    """Zed on DeepSeek through the Ollama API: `message.thinking` kept in history goes back as reasoning_content."""
    client = ollama.Client(host=gw.url + "/ollama")
    first = client.chat(model="ds-echo", messages=[ASK], tools=[OAI_WEATHER], think=True)
    assert first.message.thinking == "thinking hard" and first.message.tool_calls
    history: list[Any] = [ASK, first.message, {"role": "tool", "content": "22C", "tool_name": "get_weather"}]
    second = client.chat(model="ds-echo", messages=history, tools=[OAI_WEATHER], think=True)
    assert second.message.content == "got: 22C"
    assert fake_oai.last["messages"][1]["reasoning_content"] == "thinking hard"
