"""The deprecated OpenAI `functions` / `function_call` on the translated lane: the real API still takes them
and answers with `message.function_call` (finish_reason `function_call`), so the gateway maps them to tools
and a tool choice upstream and answers in the old shape; a history with `function_call` messages and
`role: function` results pairs up for upstreams that check pairing (the fakes do). The `openai` SDK talks to
the gateway."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest

from tests.fakes.anthropic_upstream import API_KEY as ANTHROPIC_KEY
from tests.fakes.anthropic_upstream import FakeAnthropic
from tests.fakes.openai_upstream import API_KEY as OPENAI_KEY
from tests.fakes.openai_upstream import FakeOpenAI
from tests.harness import Gateway

FUNCTIONS: list[Any] = [
    {
        "name": "get_weather",
        "description": "Weather in a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
    {"name": "get_time", "parameters": {"type": "object", "properties": {"tz": {"type": "string"}}}},
]


@pytest.fixture(scope="module")
def gw(fake_openai: FakeOpenAI, fake_anthropic: FakeAnthropic) -> Iterator[Gateway]:
    config = {
        "providers": {
            "oai-t": {
                "type": "openai",
                "base_url": fake_openai.url,  # type: ignore[attr-defined]
                "api_key": OPENAI_KEY,
                "passthrough": False,
            },
            "claude": {"type": "anthropic", "base_url": fake_anthropic.url, "api_key": ANTHROPIC_KEY},  # type: ignore[attr-defined]
        },
        "models": {"translated": "oai-t/gpt-test", "to-claude": "claude/claude-test"},
    }
    with Gateway(config) as g:
        yield g


def client(gw: Gateway) -> openai.OpenAI:
    return openai.OpenAI(base_url=gw.url + "/v1", api_key="sk-client", max_retries=0)


def ask(gw: Gateway, model: str, **kwargs: Any) -> Any:
    return client(gw).chat.completions.create(
        model=model, messages=[{"role": "user", "content": "weather in Paris?"}], functions=FUNCTIONS, **kwargs
    )


def test_functions_answered_with_function_call(gw: Gateway, fake_openai: FakeOpenAI) -> None:
    out = ask(gw, "translated")
    choice = out.choices[0]
    assert choice.finish_reason == "function_call" and choice.message.tool_calls is None
    assert choice.message.function_call is not None and choice.message.function_call.name == "get_weather"
    assert json.loads(choice.message.function_call.arguments) == {"city": "Paris"}
    sent = fake_openai.last
    assert [t["function"]["name"] for t in sent["tools"]] == ["get_weather", "get_time"]
    assert "functions" not in sent and sent["parallel_tool_calls"] is False  # the old API: one call


def test_function_call_forces_a_function(gw: Gateway, fake_openai: FakeOpenAI) -> None:
    ask(gw, "translated", function_call={"name": "get_time"})
    assert fake_openai.last["tool_choice"] == {"type": "function", "function": {"name": "get_time"}}
    ask(gw, "translated", function_call="none")
    assert fake_openai.last["tool_choice"] == "none"


def test_bad_function_call_is_a_400_in_openai_shape(gw: Gateway) -> None:
    with pytest.raises(openai.BadRequestError) as err:
        ask(gw, "translated", function_call="required")
    assert err.value.param == "function_call"


def test_function_call_streamed(gw: Gateway) -> None:
    name, arguments, finish = "", "", None
    for chunk in ask(gw, "to-claude", stream=True):
        for c in chunk.choices:
            assert c.delta.tool_calls is None
            if c.delta.function_call is not None:
                name += c.delta.function_call.name or ""
                arguments += c.delta.function_call.arguments or ""
            finish = c.finish_reason or finish
    assert name == "get_weather" and json.loads(arguments) and finish == "function_call"


@pytest.mark.parametrize("model", ["translated", "to-claude"])
def test_function_history_pairs_up(gw: Gateway, model: str) -> None:
    messages: list[Any] = [
        {"role": "user", "content": "weather in Paris?"},
        {
            "role": "assistant",
            "content": None,
            "function_call": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
        },
        {"role": "function", "name": "get_weather", "content": "sunny"},
    ]
    out = client(gw).chat.completions.create(model=model, messages=messages, functions=FUNCTIONS)
    assert out.choices[0].finish_reason == "stop"
    assert "sunny" in (out.choices[0].message.content or "")


# Custom (freeform) tools: the real API takes them; elsewhere they are functions of one string `input`, and
# the call comes back as a custom tool call with the raw input. A grammar the upstream cannot enforce is
# written into the description and counted as `tools.custom`.
PATCH_TOOL: dict[str, Any] = {
    "type": "custom",
    "custom": {
        "name": "apply_patch",
        "description": "Apply a patch",
        "format": {"type": "grammar", "grammar": {"definition": 'start: "*** Begin Patch" /.+/', "syntax": "lark"}},
    },
}


def custom_dropped(gw: Gateway, provider: str) -> float:
    for line in httpx.get(gw.url + "/metrics").text.splitlines():
        if line.startswith("llm_link_dropped_fields_total{") and 'field="tools.custom"' in line:
            if 'dialect="openai"' in line and f'provider="{provider}"' in line:
                return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_custom_tool_to_a_chat_upstream(gw: Gateway, fake_openai: FakeOpenAI) -> None:
    before = custom_dropped(gw, "oai-t")
    out = client(gw).chat.completions.create(
        model="translated",
        messages=[{"role": "user", "content": "patch it"}],
        tools=[PATCH_TOOL],
        tool_choice={"type": "custom", "custom": {"name": "apply_patch"}},
    )
    call = out.choices[0].message.tool_calls[0]  # type: ignore[index]
    assert call.type == "custom" and call.custom.name == "apply_patch"  # type: ignore[union-attr]
    assert call.custom.input == "Paris"  # type: ignore[union-attr]  # the fake's {"city": "Paris"}, unwrapped
    tool = fake_openai.last["tools"][0]
    assert tool["type"] == "function" and tool["function"]["parameters"]["required"] == ["input"]
    assert "Begin Patch" in tool["function"]["description"]
    assert fake_openai.last["tool_choice"] == {"type": "function", "function": {"name": "apply_patch"}}
    assert custom_dropped(gw, "oai-t") == before + 1


def test_custom_tool_streamed_from_anthropic_and_its_history(gw: Gateway) -> None:
    calls: list[Any] = []
    for chunk in client(gw).chat.completions.create(
        model="to-claude", messages=[{"role": "user", "content": "patch it"}], tools=[PATCH_TOOL], stream=True
    ):
        for c in chunk.choices:
            calls.extend(c.delta.tool_calls or [])
    assert len(calls) == 1
    raw = calls[0].model_dump()
    assert raw["type"] == "custom" and raw["custom"]["name"] == "apply_patch" and raw["custom"]["input"]
    messages: list[Any] = [
        {"role": "user", "content": "patch it"},
        {"role": "assistant", "tool_calls": [{"id": "call_1", "type": "custom", "custom": raw["custom"]}]},
        {"role": "tool", "tool_call_id": "call_1", "content": "done"},
    ]
    out = client(gw).chat.completions.create(model="to-claude", messages=messages, tools=[PATCH_TOOL])
    assert "done" in (out.choices[0].message.content or "")
