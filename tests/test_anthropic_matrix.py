"""{OpenAI, Anthropic} client x {openai, anthropic, mock} provider x {text, stream, tools, streamed tools,
system prompt, images, usage}, end to end through HTTP with the official SDKs against strict fake upstreams.

Test ids read `<client>-<provider>-<feature>`, e.g. `anthropic-openai-streamed_tools`: an Anthropic SDK
client whose model is served by an OpenAI-type upstream."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import anthropic
import openai
import pytest

from tests.fakes.anthropic_upstream import API_KEY as ANTHROPIC_KEY
from tests.fakes.anthropic_upstream import FakeAnthropic
from tests.fakes.openai_upstream import API_KEY as OPENAI_KEY
from tests.fakes.openai_upstream import FakeOpenAI
from tests.fakes.server import ThreadedServer
from tests.harness import Gateway

PIXEL = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
WEATHER_SCHEMA = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
TIME_SCHEMA = {"type": "object", "properties": {"tz": {"type": "string"}}}
SYSTEM = "You are a terse assistant."
MODELS = {"openai": "m-openai", "anthropic": "m-anthropic", "mock": "m-mock"}
ECHO = {"openai": "echo: ", "anthropic": "echo: ", "mock": "You said: "}
RESULTS = {"openai": "got: ", "anthropic": "got: ", "mock": "Tool results: "}
# (whole prompt incl. cache, cache read, cache creation, output) each fake reports
USAGE = {"openai": (12, 3, 0, 7), "anthropic": (35, 10, 5, 9)}


@pytest.fixture(scope="module")
def fake_anthropic() -> Iterator[FakeAnthropic]:
    fake = FakeAnthropic()
    server = ThreadedServer(fake.app).start()
    fake.url = server.url  # type: ignore[attr-defined]
    yield fake
    server.stop()


@pytest.fixture(scope="module")
def gateway(fake_openai: FakeOpenAI, fake_anthropic: FakeAnthropic) -> Iterator[Gateway]:
    config = {
        "providers": {
            "oai": {"type": "openai", "base_url": fake_openai.url, "api_key": OPENAI_KEY},  # type: ignore[attr-defined]
            "claude": {"type": "anthropic", "base_url": fake_anthropic.url, "api_key": ANTHROPIC_KEY},  # type: ignore[attr-defined]
            "mock": {"type": "mock", "options": {"chunks": 3}},
        },
        "models": {"m-openai": "oai/gpt-test", "m-anthropic": "claude/claude-test", "m-mock": "mock/demo"},
    }
    with Gateway(config) as gw:
        yield gw


@dataclass
class Call:
    id: str
    name: str
    args: dict[str, Any]


@dataclass
class Result:
    text: str = ""
    calls: list[Call] = field(default_factory=list)
    finish: str = ""  # normalised: "stop" | "tool_calls" | "length"
    usage: tuple[int, int, int, int] | None = None  # (whole prompt, cache read, cache creation, output)
    pieces: int = 0  # text fragments received (streams)


# ---------------------------------------------------------------------------------------------- clients


class AnthropicClient:
    FINISH = {"end_turn": "stop", "tool_use": "tool_calls", "max_tokens": "length"}

    def __init__(self, gw: Gateway) -> None:
        self.sdk = anthropic.Anthropic(base_url=gw.url + "/anthropic", api_key="client-key", max_retries=0)

    def ask(
        self,
        model: str,
        text: str,
        *,
        system: str | None = None,
        image: bool = False,
        tools: list[str] | None = None,
        history: list[dict[str, Any]] | None = None,
        stream: bool = False,
    ) -> tuple[Result, list[dict[str, Any]]]:
        content: Any = text
        if image:
            content = [
                {"type": "text", "text": text},
                {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PIXEL}},
            ]
        messages = history or [{"role": "user", "content": content}]
        kwargs: dict[str, Any] = {"model": model, "max_tokens": 200, "messages": messages}
        if system:
            kwargs["system"] = system
        if tools:
            kwargs["tools"] = [
                {"name": "get_weather", "description": "Weather", "input_schema": WEATHER_SCHEMA},
                {"name": "get_time", "input_schema": TIME_SCHEMA},
            ][: len(tools)]
        r = Result()
        if stream:
            with self.sdk.messages.stream(**kwargs) as s:
                for event in s:
                    if event.type == "text":
                        r.pieces += 1
                msg = s.get_final_message()
        else:
            msg = self.sdk.messages.create(**kwargs)
        r.text = "".join(b.text for b in msg.content if b.type == "text")
        r.calls = [Call(b.id, b.name, b.input) for b in msg.content if b.type == "tool_use"]
        r.finish = self.FINISH.get(msg.stop_reason or "", msg.stop_reason or "")
        u = msg.usage
        cr, cc = u.cache_read_input_tokens or 0, u.cache_creation_input_tokens or 0
        r.usage = (u.input_tokens + cr + cc, cr, cc, u.output_tokens)
        return r, messages + [{"role": "assistant", "content": [b.model_dump(exclude_none=True) for b in msg.content]}]

    def results(self, calls: list[Call], values: list[str]) -> dict[str, Any]:
        return {
            "role": "user",
            "content": [{"type": "tool_result", "tool_use_id": c.id, "content": v} for c, v in zip(calls, values)],
        }


class OpenAIClient:
    def __init__(self, gw: Gateway) -> None:
        self.sdk = openai.OpenAI(base_url=gw.url + "/v1", api_key="client-key", max_retries=0)

    def ask(
        self,
        model: str,
        text: str,
        *,
        system: str | None = None,
        image: bool = False,
        tools: list[str] | None = None,
        history: list[dict[str, Any]] | None = None,
        stream: bool = False,
    ) -> tuple[Result, list[dict[str, Any]]]:
        content: Any = text
        if image:
            content = [
                {"type": "text", "text": text},
                {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PIXEL}"}},
            ]
        messages = history or ([{"role": "system", "content": system}] if system else []) + [
            {"role": "user", "content": content}
        ]
        kwargs: dict[str, Any] = {"model": model, "messages": messages}
        if tools:
            kwargs["tools"] = [
                {
                    "type": "function",
                    "function": {"name": "get_weather", "description": "Weather", "parameters": WEATHER_SCHEMA},
                },
                {"type": "function", "function": {"name": "get_time", "parameters": TIME_SCHEMA}},
            ][: len(tools)]
        r = Result()
        if stream:
            calls: dict[int, dict[str, str]] = {}
            for chunk in self.sdk.chat.completions.create(
                stream=True, stream_options={"include_usage": True}, **kwargs
            ):
                if chunk.usage is not None:
                    u = chunk.usage
                    cached = u.prompt_tokens_details.cached_tokens if u.prompt_tokens_details else 0
                    r.usage = (u.prompt_tokens, cached or 0, 0, u.completion_tokens)
                if not chunk.choices:
                    continue
                choice = chunk.choices[0]
                if choice.delta.content:
                    r.text += choice.delta.content
                    r.pieces += 1
                for tc in choice.delta.tool_calls or []:
                    entry = calls.setdefault(tc.index, {"id": "", "name": "", "args": ""})
                    entry["id"] += tc.id or ""
                    if tc.function:
                        entry["name"] += tc.function.name or ""
                        entry["args"] += tc.function.arguments or ""
                r.finish = choice.finish_reason or r.finish
            r.calls = [Call(c["id"], c["name"], json.loads(c["args"])) for _, c in sorted(calls.items())]
        else:
            resp = self.sdk.chat.completions.create(**kwargs)
            msg = resp.choices[0].message
            r.text = msg.content or ""
            r.calls = [Call(c.id, c.function.name, json.loads(c.function.arguments)) for c in msg.tool_calls or []]
            r.finish = resp.choices[0].finish_reason
            u = resp.usage
            cached = u.prompt_tokens_details.cached_tokens if u.prompt_tokens_details else 0
            r.usage = (u.prompt_tokens, cached or 0, 0, u.completion_tokens)
        assistant = {
            "role": "assistant",
            "content": r.text or None,
            "tool_calls": [
                {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": json.dumps(c.args)}}
                for c in r.calls
            ],
        }
        return r, messages + [assistant]

    def results(self, calls: list[Call], values: list[str]) -> list[dict[str, Any]]:
        return [{"role": "tool", "tool_call_id": c.id, "content": v} for c, v in zip(calls, values)]


def _client(kind: str, gw: Gateway) -> AnthropicClient | OpenAIClient:
    return AnthropicClient(gw) if kind == "anthropic" else OpenAIClient(gw)


def _with_results(
    client: Any, history: list[dict[str, Any]], calls: list[Call], values: list[str]
) -> list[dict[str, Any]]:
    extra = client.results(calls, values)
    return history + (extra if isinstance(extra, list) else [extra])


CLIENTS = ["openai", "anthropic"]
PROVIDERS = ["openai", "anthropic", "mock"]
FEATURES = ["text", "stream", "tools", "streamed_tools", "system", "images", "usage"]


@pytest.mark.parametrize("feature", FEATURES)
@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize("client_kind", CLIENTS)
def test_matrix(
    client_kind: str,
    provider: str,
    feature: str,
    gateway: Gateway,
    fake_openai: FakeOpenAI,
    fake_anthropic: FakeAnthropic,
) -> None:
    client = _client(client_kind, gateway)
    model = MODELS[provider]
    fake: Any = {"openai": fake_openai, "anthropic": fake_anthropic}.get(provider)

    if feature in ("text", "stream"):
        r, _ = client.ask(model, "hello there", stream=feature == "stream")
        assert r.text == ECHO[provider] + "hello there"
        assert r.finish == "stop" and not r.calls
        if feature == "stream":
            assert r.pieces >= 2  # really streamed, not one blob

    elif feature in ("tools", "streamed_tools"):
        stream = feature == "streamed_tools"
        r, history = client.ask(model, "weather in Paris and the time? parallel", tools=["w", "t"], stream=stream)
        assert r.finish == "tool_calls"
        if provider == "mock":  # the mock calls the first tool, arguments made from its schema
            assert [(c.name, c.args) for c in r.calls] == [
                ("get_weather", {"city": "weather in Paris and the time? parallel"})
            ]
        else:
            assert [(c.name, c.args) for c in r.calls] == [
                ("get_weather", {"city": "Paris"}),
                ("get_time", {"tz": "Europe/Paris"}),
            ]
            expected_ids = ["toolu_w1", "toolu_t2"] if provider == "anthropic" else ["call_w1", "call_t2"]
            assert [c.id for c in r.calls] == expected_ids  # ids survive the translation unchanged
        assert len({c.id for c in r.calls}) == len(r.calls)
        values = ["18C", "noon"][: len(r.calls)]
        r2, _ = client.ask(model, "", history=_with_results(client, history, r.calls, values), stream=stream)
        assert r2.finish == "stop"
        assert r2.text == RESULTS[provider] + ("; " if provider == "mock" else " | ").join(values)
        if provider == "anthropic":  # every call's result came back in one user turn, paired by id
            sent = fake.last["messages"]
            assert [m["role"] for m in sent] == ["user", "assistant", "user"]
            assert [b["tool_use_id"] for b in sent[2]["content"]] == ["toolu_w1", "toolu_t2"]
        elif provider == "openai":
            sent = fake.last["messages"]
            assert [m["role"] for m in sent] == ["user", "assistant", "tool", "tool"]
            assert [m["tool_call_id"] for m in sent[2:]] == ["call_w1", "call_t2"]

    elif feature == "system":
        r, _ = client.ask(model, "hi", system=SYSTEM)
        assert r.text == ECHO[provider] + "hi"
        if provider == "anthropic":
            assert fake.last["system"] == SYSTEM
            assert [m["role"] for m in fake.last["messages"]] == ["user"]
        elif provider == "openai":
            assert fake.last["messages"][0] == {"role": "system", "content": SYSTEM}
        else:  # the mock counts every prompt text: the system prompt must have reached it
            bare, _ = client.ask(model, "hi")
            assert r.usage is not None and bare.usage is not None and r.usage[0] > bare.usage[0]

    elif feature == "images":
        r, _ = client.ask(model, "what is this", image=True)
        if provider == "mock":
            assert r.text == "You said: what is this (1 image received)"
        elif provider == "anthropic":
            assert r.text == "echo: what is this +1 image(s)"
            assert fake.last["messages"][0]["content"][1] == {
                "type": "image",
                "source": {"type": "base64", "media_type": "image/png", "data": PIXEL},
            }
        else:
            assert r.text == "echo: what is this"
            assert fake.last["messages"][0]["content"][1] == {
                "type": "image_url",
                "image_url": {"url": f"data:image/png;base64,{PIXEL}"},
            }

    elif feature == "usage":
        whole, _ = client.ask(model, "count my tokens")
        streamed, _ = client.ask(model, "count my tokens", stream=True)
        assert whole.usage == streamed.usage  # the same figures either way
        if provider == "mock":
            assert whole.usage is not None and whole.usage[0] > 0 and whole.usage[3] > 0
        else:
            prompt, cache_read, cache_write, output = USAGE[provider]
            if client_kind == "openai":  # OpenAI has no cache-creation figure: it is inside prompt_tokens
                assert whole.usage == (prompt, cache_read, 0, output)
            else:
                assert whole.usage == (prompt, cache_read, cache_write, output)
