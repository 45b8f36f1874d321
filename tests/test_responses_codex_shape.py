"""What Codex CLI sends, over raw HTTP (its headers and body keys: developer and user items, seven function
tools, a namespace group, a hosted web_search, store: false, include encrypted reasoning), against every
provider type; each stream is checked event by event (tests/responses_sse.py) and the tool turn is played
back as Codex does: the whole history again, with the call, its output and the reasoning item."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.fakes.anthropic_upstream import API_KEY as ANTHROPIC_KEY
from tests.fakes.anthropic_upstream import FakeAnthropic
from tests.fakes.server import ThreadedServer
from tests.harness import Gateway
from tests.responses_sse import check, parse

PROVIDERS = ["openai", "anthropic", "ollama", "aliyun", "mock"]


def _function(name: str, props: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "function",
        "name": name,
        "description": f"The {name} tool.",
        "strict": False,
        "parameters": {"type": "object", "properties": props, "required": list(props), "additionalProperties": False},
    }


STR = {"type": "string"}
TOOLS: list[dict[str, Any]] = [
    _function("shell_command", {"command": STR, "workdir": STR}),
    _function("update_plan", {"plan": {"type": "array", "items": {"type": "object"}}}),
    _function("apply_patch", {"input": STR}),
    _function("view_image", {"path": STR}),
    _function("list_mcp_resources", {"server": STR}),
    _function("read_mcp_resource", {"server": STR, "uri": STR}),
    _function("request_user_input", {"question": STR}),
    {
        "type": "namespace",
        "name": "mcp__docs",
        "description": "Tools of the docs MCP server.",
        "tools": [_function("search", {"query": STR})],
    },
    {"type": "web_search", "external_web_access": False},
]


def codex_body(model: str, extra_input: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {
        "model": model,
        "instructions": "You are a coding agent running in a terminal.",
        "input": [
            {
                "type": "message",
                "role": "developer",
                "content": [{"type": "input_text", "text": "<permissions>sandbox: workspace-write</permissions>"}],
            },
            {
                "type": "message",
                "role": "user",
                "content": [{"type": "input_text", "text": "<environment_context>cwd: /tmp</environment_context>"}],
            },
            {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "list the files"}]},
            *(extra_input or []),
        ],
        "tools": TOOLS,
        "tool_choice": "auto",
        "parallel_tool_calls": False,
        "reasoning": {"effort": "medium", "summary": "auto"},
        "store": False,
        "stream": True,
        "include": ["reasoning.encrypted_content"],
        "prompt_cache_key": "019ac3f2-6f4e-7a51-9d2c-3c5f0e8b1a77",
        "client_metadata": {"x-codex-installation-id": "test"},
    }


HEADERS = {
    "Authorization": "Bearer sk-codex-client",
    "Accept": "text/event-stream",
    "session-id": "019ac3f2-6f4e-7a51-9d2c-3c5f0e8b1a77",
    "originator": "codex_cli_rs",
    "User-Agent": "codex_cli_rs/0.120.0",
}


@pytest.fixture(scope="module")
def fake_anthropic() -> Iterator[FakeAnthropic]:
    fake = FakeAnthropic()
    server = ThreadedServer(fake.app).start()
    fake.url = server.url  # type: ignore[attr-defined]
    yield fake
    server.stop()


@pytest.fixture(scope="module")
def gw(fake_openai: Any, fake_anthropic: FakeAnthropic, fake_ollama: Any, fake_aliyun: Any) -> Iterator[Gateway]:
    from tests.fakes.openai_upstream import API_KEY

    config = {
        "providers": {
            "mock": {"type": "mock", "options": {"chunks": 3}},
            "openai": {"type": "openai", "base_url": fake_openai.url, "api_key": API_KEY},
            "anthropic": {"type": "anthropic", "base_url": fake_anthropic.url, "api_key": ANTHROPIC_KEY},
            "ollama": {"type": "ollama", "base_url": fake_ollama.url},
            "aliyun": {"type": "aliyun", "base_url": fake_aliyun.url, "api_key": API_KEY},
        },
        "models": {
            "m-openai": "openai/gpt-test",
            "m-anthropic": "anthropic/thinking",
            "m-ollama": "ollama/llama3.2",
            "m-aliyun": "aliyun/qwen-plus",
            "m-mock": "mock/demo",
        },
    }
    with Gateway(config) as g:
        yield g


def _turn(gw: Gateway, body: dict[str, Any]) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    r = httpx.post(gw.url + "/v1/responses", json=body, headers=HEADERS, timeout=20)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/event-stream")
    events = parse(r.text)
    return events, check(events)


@pytest.mark.parametrize("provider", PROVIDERS)
def test_codex_turns(gw: Gateway, provider: str) -> None:
    events, final = _turn(gw, codex_body(f"m-{provider}"))
    assert final["status"] == "completed"
    calls = [o for o in final["output"] if o["type"] == "function_call"]
    assert [c["name"] for c in calls] == ["shell_command"]
    # Codex keeps the done items and sends them back with the tool output, the whole history each turn
    history = [o for o in final["output"] if o["type"] in ("reasoning", "function_call", "message")]
    output = {"type": "function_call_output", "call_id": calls[0]["call_id"], "output": "a.txt\nb.txt"}
    _, second = _turn(gw, codex_body(f"m-{provider}", [*history, output]))
    texts = [p["text"] for o in second["output"] if o["type"] == "message" for p in o["content"]]
    assert any("a.txt" in t for t in texts)


def test_codex_turn_on_anthropic_replays_signed_thinking(gw: Gateway, fake_anthropic: FakeAnthropic) -> None:
    _, final = _turn(gw, codex_body("m-anthropic"))
    reasoning = [o for o in final["output"] if o["type"] == "reasoning"]
    assert reasoning and reasoning[0]["encrypted_content"]
    sent = fake_anthropic.last
    assert [t["name"] for t in sent["tools"]][:7] == [t["name"] for t in TOOLS[:7]]
    assert "mcp__docs__search" in [t["name"] for t in sent["tools"]]
    assert all(t.get("type") != "web_search" for t in sent["tools"])
    call = next(o for o in final["output"] if o["type"] == "function_call")
    output = {"type": "function_call_output", "call_id": call["call_id"], "output": "ok"}
    _turn(gw, codex_body("m-anthropic", [*reasoning, call, output]))
    assistant = fake_anthropic.last["messages"][-2]["content"]
    assert assistant[0]["type"] == "thinking" and assistant[0]["signature"]


def test_hosted_tool_drop_is_counted_per_provider(gw: Gateway) -> None:
    _turn(gw, codex_body("m-ollama"))
    text = httpx.get(gw.url + "/metrics").text
    line = 'llm_link_dropped_fields_total{dialect="responses",field="tools.web_search",provider="ollama"}'
    assert any(row.startswith(line) and float(row.rsplit(" ", 1)[1]) >= 1 for row in text.splitlines())
