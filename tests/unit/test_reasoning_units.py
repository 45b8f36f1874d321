"""`options.reasoning_content` in-process: the default by provider, what `echo` sends across a conversation,
and the Anthropic encoder's tool-loop thinking rule."""

from __future__ import annotations

from typing import Any

import pytest

from gateway.config import parse
from providers.anthropic.request import encode_request as anthropic_encode
from providers.openai.reasoning import default_mode
from providers.openai.request import OpenAIOptions, encode_messages
from providers.registry import adapter_class
from unified.types import Message, Reasoning, Request, TextPart, ThinkingPart, ToolCallPart, ToolResultPart


@pytest.mark.parametrize(
    ("base_url", "mode"),
    [
        ("https://api.deepseek.com", "echo"),
        ("https://api.deepseek.com/v1", "echo"),
        ("https://api.moonshot.ai/v1", "echo"),
        ("https://api.moonshot.cn/v1", "echo"),
        ("https://api.kimi.com/coding/v1", "echo"),
        ("https://open.bigmodel.cn/api/paas/v4", "echo"),
        ("https://api.z.ai/api/paas/v4", "echo"),
        ("https://dashscope.aliyuncs.com/compatible-mode/v1", "echo"),
        ("https://dashscope-intl.aliyuncs.com/compatible-mode/v1", "echo"),
        ("https://API.DeepSeek.com/v1", "echo"),
        ("https://api.openai.com/v1", "drop"),
        ("https://openrouter.ai/api/v1", "drop"),
        ("http://localhost:8000/v1", "drop"),
        ("http://127.0.0.1:11434/v1", "drop"),
        ("https://api.deepseek.com.example.net/v1", "drop"),
        ("https://notapi.deepseek.community/v1", "drop"),
        ("https://oss.aliyuncs.com/v1", "drop"),
    ],
)
def test_default_mode_by_host(base_url: str, mode: str) -> None:
    assert default_mode(base_url) == mode


def _provider(spec: dict[str, Any]) -> Any:
    cfg = parse({"providers": {"p": spec}}, "t")
    conf = cfg.providers["p"]
    return adapter_class(conf)("p", conf, cfg.provider_options("p"), None)


@pytest.mark.parametrize(
    ("spec", "mode"),
    [
        ({"type": "openai", "base_url": "https://api.deepseek.com/v1"}, "echo"),
        ({"type": "openai", "base_url": "https://api.moonshot.ai/v1"}, "echo"),
        ({"type": "openai", "base_url": "http://127.0.0.1:8000/v1"}, "drop"),
        ({"type": "openai"}, "drop"),  # api.openai.com
        ({"type": "openai", "base_url": "https://api.deepseek.com", "options": {"reasoning_content": "drop"}}, "drop"),
        ({"type": "openai", "base_url": "http://vllm:8000/v1", "options": {"reasoning_content": "echo"}}, "echo"),
        ({"type": "openai", "base_url": "http://vllm:8000/v1", "options": {"send_reasoning_content": True}}, "echo"),
        (
            {"type": "openai", "base_url": "https://api.deepseek.com", "options": {"send_reasoning_content": False}},
            "drop",
        ),
        ({"type": "aliyun"}, "echo"),
        ({"type": "aliyun", "base_url": "http://127.0.0.1:9/compatible-mode/v1"}, "echo"),  # by type, not host
        ({"type": "aliyun", "options": {"reasoning_content": "drop"}}, "drop"),
    ],
)
def test_effective_mode_by_provider(spec: dict[str, Any], mode: str) -> None:
    assert _provider(spec).options.reasoning_content == mode


def test_options_reject_a_bad_value_and_a_contradicting_alias() -> None:
    import msgspec

    with pytest.raises(msgspec.ValidationError, match="reasoning_content must be one of echo, drop, not 'eco'"):
        msgspec.convert({"reasoning_content": "eco"}, OpenAIOptions)
    with pytest.raises(msgspec.ValidationError, match="contradicts reasoning_content: drop"):
        msgspec.convert({"reasoning_content": "drop", "send_reasoning_content": True}, OpenAIOptions)
    assert msgspec.convert({"reasoning_content": "echo", "send_reasoning_content": True}, OpenAIOptions)


def _asst(thinking: str, text: str = "", call: str | None = None) -> Message:
    parts: list[Any] = [ThinkingPart(text=thinking)]
    if text:
        parts.append(TextPart(text=text))
    if call:
        parts.append(ToolCallPart(id=call, name="get_weather", arguments="{}"))
    return Message(role="assistant", content=parts)


def _result(call: str, extra: str = "") -> Message:
    parts: list[Any] = [ToolResultPart(tool_call_id=call, content=[TextPart(text="sunny")])]
    if extra:
        parts.append(TextPart(text=extra))
    return Message(role="user", content=parts)


def _user(text: str) -> Message:
    return Message(role="user", content=[TextPart(text=text)])


CONVERSATION = [
    _user("hi"),
    _asst("r1", "hello"),  # a turn without tools: its reasoning is not needed again
    _user("weather?"),
    _asst("r2", call="c1"),
    _result("c1"),
    _asst("r3", "It is sunny."),  # same user turn as a tool call: goes back too
    _user("and tomorrow?"),
    _asst("r4", call="c2"),
    _result("c2"),
    _asst("r5", call="c3"),  # the loop in progress
    _result("c3"),
]


def _sent(messages: list[Message], mode: str) -> list[str | None]:
    out = encode_messages(messages, OpenAIOptions(reasoning_content=mode))
    return [m.get("reasoning_content") for m in out if m["role"] == "assistant"]


def test_echo_sends_reasoning_of_tool_turns_and_the_turn_in_progress() -> None:
    assert _sent(CONVERSATION, "echo") == [None, "r2", "r3", "r4", "r5"]


def test_drop_sends_none() -> None:
    assert _sent(CONVERSATION, "drop") == [None] * 5


def test_a_user_message_beside_tool_results_starts_a_new_turn() -> None:
    """Claude Code appends text to tool results: the upstream sees a user message there, so the turn ends."""
    messages = [_user("go"), _asst("r1", call="c1"), _result("c1", "reminder"), _asst("r2", "done"), _user("next")]
    assert _sent(messages, "echo") == ["r1", None]


def test_echo_without_thinking_sends_no_field() -> None:
    messages = [_user("go"), Message(role="assistant", content=[ToolCallPart(id="c1", name="f")]), _result("c1")]
    assert _sent(messages, "echo") == [None]


def _loop(first: list[Any]) -> Request:
    return Request(
        model="m",
        max_tokens=4000,
        reasoning=Reasoning(enabled=True, budget_tokens=2048),
        messages=[
            _user("go"),
            Message(role="assistant", content=[*first, ToolCallPart(id="toolu_1", name="f")]),
            _result("toolu_1"),
        ],
    )


def test_anthropic_keeps_thinking_when_the_loop_turn_starts_with_signed_thinking() -> None:
    body = anthropic_encode(_loop([ThinkingPart(text="hm", signature="sig")]), "m", False, 4096)
    assert body["thinking"] == {"type": "enabled", "budget_tokens": 2048}
    assert body["messages"][1]["content"][0] == {"type": "thinking", "thinking": "hm", "signature": "sig"}
    body = anthropic_encode(_loop([ThinkingPart(text="", redacted="opaque")]), "m", False, 4096)
    assert body["thinking"]["type"] == "enabled"


def test_anthropic_leaves_thinking_off_when_the_loop_turn_has_no_signed_thinking() -> None:
    body = anthropic_encode(_loop([ThinkingPart(text="from another model")]), "m", False, 4096)
    assert "thinking" not in body
    assert body["messages"][1]["content"][0]["type"] == "tool_use"
    body = anthropic_encode(_loop([]), "m", False, 4096)
    assert "thinking" not in body
