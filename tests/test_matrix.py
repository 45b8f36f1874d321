"""The full client x provider x feature matrix: every client dialect, through its official SDK, against every
provider type (fake upstreams that speak each wire format strictly), for text, streaming, tools (with the
tool result sent back), streamed tools, system prompts, images and token usage; then the strict pairs (OpenAI
and Anthropic clients x OpenAI, Anthropic and mock providers, checked exactly).

Test ids read `<client>-client-<provider>-provider-<feature>`, e.g. `ollama-client-openai-provider-stream`."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import anthropic
import ollama
import openai
import pytest

from tests.fakes.aliyun_upstream import FakeAliyun
from tests.fakes.anthropic_upstream import API_KEY as ANTHROPIC_KEY
from tests.fakes.anthropic_upstream import FakeAnthropic
from tests.fakes.gemini_upstream import API_KEY as GEMINI_KEY
from tests.fakes.gemini_upstream import FakeGemini
from tests.fakes.ollama_upstream import EVAL_TOKENS, PROMPT_TOKENS, FakeOllama
from tests.fakes.openai_upstream import API_KEY, FakeOpenAI
from tests.gemini_client import GeminiClient
from tests.harness import Gateway
from tests.responses_client import ResponsesClient

PIXEL = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
WEATHER_SCHEMA = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
SYSTEM = "You are a terse assistant."

CLIENTS = ["openai", "responses", "anthropic", "ollama", "gemini"]
PROVIDERS = ["openai", "anthropic", "ollama", "aliyun", "gemini", "mock"]
FEATURES = ["text", "stream", "tools", "streamed_tools", "system", "images", "usage"]
MODELS = {
    "openai": "m-openai",
    "anthropic": "m-anthropic",
    "ollama": "m-ollama",
    "aliyun": "m-aliyun",
    "gemini": "m-gemini",
    "mock": "m-mock",
}
# (whole prompt, completion) tokens each fake reports (Anthropic: 20 input + 10 cache read + 5 cache
# creation); the mock estimates its own.
USAGE = {
    "openai": (12, 7),
    "anthropic": (35, 9),
    "aliyun": (12, 7),
    "gemini": (12, 7),  # 5 candidates + 2 thoughts
    "ollama": (PROMPT_TOKENS, EVAL_TOKENS),
    "mock": None,
}


@dataclass
class Call:
    id: str
    name: str
    args: dict[str, Any]


@dataclass
class Result:
    text: str = ""
    calls: list[Call] = field(default_factory=list)
    finish: str = ""  # "stop" | "length" | "tool_calls"
    usage: tuple[int, int] | None = None
    pieces: int = 0  # content fragments received (streams)
    durations_ok: bool = True


# ---------------------------------------------------------------------------------------------- clients


class OpenAIClient:
    def __init__(self, gw: Gateway) -> None:
        self.sdk = openai.OpenAI(base_url=gw.url + "/v1", api_key="unused", max_retries=0)

    def _messages(self, user: str, system: str | None, image: bool) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = [{"role": "system", "content": system}] if system else []
        if image:
            out.append(
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": user},
                        {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PIXEL}"}},
                    ],
                }
            )
        else:
            out.append({"role": "user", "content": user})
        return out

    def _run(self, model: str, messages: list[dict[str, Any]], tools: bool, stream: bool) -> Result:
        kw: dict[str, Any] = {}
        if tools:
            kw["tools"] = [
                {
                    "type": "function",
                    "function": {"name": "get_weather", "description": "Weather", "parameters": WEATHER_SCHEMA},
                }
            ]
        if not stream:
            r = self.sdk.chat.completions.create(model=model, messages=messages, **kw)  # type: ignore[arg-type]
            m = r.choices[0].message
            calls = [Call(c.id, c.function.name, json.loads(c.function.arguments)) for c in m.tool_calls or []]
            return Result(
                m.content or "",
                calls,
                r.choices[0].finish_reason,
                (r.usage.prompt_tokens, r.usage.completion_tokens) if r.usage else None,
            )
        res = Result()
        parts: dict[int, list[Any]] = {}
        for chunk in self.sdk.chat.completions.create(
            model=model,
            messages=messages,
            stream=True,  # type: ignore
            stream_options={"include_usage": True},
            **kw,
        ):
            if chunk.usage is not None:
                res.usage = (chunk.usage.prompt_tokens, chunk.usage.completion_tokens)
            for ch in chunk.choices:
                if ch.delta.content:
                    res.text += ch.delta.content
                    res.pieces += 1
                for tc in ch.delta.tool_calls or []:
                    slot = parts.setdefault(tc.index, ["", "", ""])
                    if tc.id:
                        slot[0] = tc.id
                    if tc.function and tc.function.name:
                        slot[1] = tc.function.name
                    if tc.function and tc.function.arguments:
                        slot[2] += tc.function.arguments
                if ch.finish_reason:
                    res.finish = ch.finish_reason
        res.calls = [Call(i, n, json.loads(a or "{}")) for i, n, a in (parts[k] for k in sorted(parts))]
        return res

    def ask(
        self,
        model: str,
        user: str,
        *,
        system: str | None = None,
        image: bool = False,
        tools: bool = False,
        stream: bool = False,
    ) -> Result:
        return self._run(model, self._messages(user, system, image), tools, stream)

    def answer_tool(self, model: str, user: str, first: Result, output: str, stream: bool) -> Result:
        messages = self._messages(user, None, False)
        messages.append(
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": json.dumps(c.args)}}
                    for c in first.calls
                ],
            }
        )
        messages += [{"role": "tool", "tool_call_id": c.id, "content": output} for c in first.calls]
        return self._run(model, messages, True, stream)


class AnthropicClient:
    FINISH = {"end_turn": "stop", "tool_use": "tool_calls", "max_tokens": "length"}

    def __init__(self, gw: Gateway) -> None:
        self.sdk = anthropic.Anthropic(base_url=gw.url + "/anthropic", api_key="unused", max_retries=0)

    def _messages(self, user: str, image: bool) -> list[dict[str, Any]]:
        if image:
            return [
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": user},
                        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PIXEL}},
                    ],
                }
            ]
        return [{"role": "user", "content": user}]

    def _run(self, model: str, messages: list[dict[str, Any]], system: str | None, tools: bool, stream: bool) -> Result:
        kw: dict[str, Any] = {"model": model, "max_tokens": 300, "messages": messages}
        if system:
            kw["system"] = system
        if tools:
            kw["tools"] = [{"name": "get_weather", "description": "Weather", "input_schema": WEATHER_SCHEMA}]
        res = Result()
        if stream:
            with self.sdk.messages.stream(**kw) as s:
                for event in s:
                    if event.type == "text":
                        res.pieces += 1
                msg = s.get_final_message()
        else:
            msg = self.sdk.messages.create(**kw)
        res.text = "".join(b.text for b in msg.content if b.type == "text")
        res.calls = [Call(b.id, b.name, dict(b.input)) for b in msg.content if b.type == "tool_use"]
        res.finish = self.FINISH.get(msg.stop_reason or "", msg.stop_reason or "")
        u = msg.usage
        res.usage = (
            u.input_tokens + (u.cache_read_input_tokens or 0) + (u.cache_creation_input_tokens or 0),
            u.output_tokens,
        )
        return res

    def ask(
        self,
        model: str,
        user: str,
        *,
        system: str | None = None,
        image: bool = False,
        tools: bool = False,
        stream: bool = False,
    ) -> Result:
        return self._run(model, self._messages(user, image), system, tools, stream)

    def answer_tool(self, model: str, user: str, first: Result, output: str, stream: bool) -> Result:
        messages = self._messages(user, False)
        messages.append(
            {
                "role": "assistant",
                "content": [{"type": "tool_use", "id": c.id, "name": c.name, "input": c.args} for c in first.calls],
            }
        )
        messages.append(
            {
                "role": "user",
                "content": [{"type": "tool_result", "tool_use_id": c.id, "content": output} for c in first.calls],
            }
        )
        return self._run(model, messages, None, True, stream)


class OllamaClient:
    def __init__(self, gw: Gateway) -> None:
        self.sdk = ollama.Client(host=gw.url + "/ollama")

    def _messages(self, user: str, system: str | None, image: bool) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = [{"role": "system", "content": system}] if system else []
        msg: dict[str, Any] = {"role": "user", "content": user}
        if image:
            msg["images"] = [PIXEL]
        out.append(msg)
        return out

    def _run(self, model: str, messages: list[dict[str, Any]], tools: bool, stream: bool) -> Result:
        tool_defs = (
            [
                {
                    "type": "function",
                    "function": {"name": "get_weather", "description": "Weather", "parameters": WEATHER_SCHEMA},
                }
            ]
            if tools
            else None
        )
        res = Result()
        chunks = (
            self.sdk.chat(model=model, messages=messages, tools=tool_defs, stream=True)
            if stream
            else [self.sdk.chat(model=model, messages=messages, tools=tool_defs)]
        )
        last = None
        for chunk in chunks:
            m = chunk.message
            if m.content:
                res.text += m.content
                res.pieces += 1
            for tc in m.tool_calls or []:
                res.calls.append(Call("", tc.function.name, dict(tc.function.arguments)))
            last = chunk
        assert last is not None and last.done is True
        res.finish = "tool_calls" if res.calls else str(last.done_reason)
        res.usage = (last.prompt_eval_count or 0, last.eval_count or 0)
        res.durations_ok = bool(
            last.total_duration and last.total_duration > 0 and (not last.eval_count or (last.eval_duration or 0) > 0)
        )
        return res

    def ask(
        self,
        model: str,
        user: str,
        *,
        system: str | None = None,
        image: bool = False,
        tools: bool = False,
        stream: bool = False,
    ) -> Result:
        return self._run(model, self._messages(user, system, image), tools, stream)

    def answer_tool(self, model: str, user: str, first: Result, output: str, stream: bool) -> Result:
        # ollama-python drops tool-call ids: results are matched by tool_name, as with a real Ollama.
        messages = self._messages(user, None, False)
        messages.append(
            {
                "role": "assistant",
                "content": "",
                "tool_calls": [{"function": {"name": c.name, "arguments": c.args}} for c in first.calls],
            }
        )
        messages += [{"role": "tool", "content": output, "tool_name": c.name} for c in first.calls]
        return self._run(model, messages, True, stream)


# ---------------------------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def gateway(
    fake_openai: FakeOpenAI,
    fake_anthropic: FakeAnthropic,
    fake_ollama: FakeOllama,
    fake_aliyun: FakeAliyun,
    fake_gemini: FakeGemini,
) -> Iterator[Gateway]:
    config = {
        "providers": {
            "mock": {"type": "mock", "options": {"chunks": 3}},
            "oai": {"type": "openai", "base_url": fake_openai.url, "api_key": API_KEY},  # type: ignore[attr-defined]
            "claude": {
                "type": "anthropic",
                "base_url": fake_anthropic.url,  # type: ignore[attr-defined]
                "api_key": ANTHROPIC_KEY,
            },
            "oll": {"type": "ollama", "base_url": fake_ollama.url},  # type: ignore[attr-defined]
            "ali": {"type": "aliyun", "base_url": fake_aliyun.url, "api_key": API_KEY},  # type: ignore[attr-defined]
            "gem": {"type": "gemini", "base_url": fake_gemini.url, "api_key": GEMINI_KEY},  # type: ignore[attr-defined]
        },
        "models": {
            "m-openai": "oai/gpt-test",
            "m-anthropic": "claude/claude-test",
            "m-ollama": "oll/llama3.2",
            "m-aliyun": "ali/qwen-plus",
            "m-gemini": "gem/gemini-test",
            "m-mock": "mock/demo",
        },
    }
    with Gateway(config) as gw:
        yield gw


@pytest.fixture(scope="module")
def clients(gateway: Gateway) -> dict[str, Any]:
    return {
        "openai": OpenAIClient(gateway),
        "responses": ResponsesClient(gateway.url, PIXEL, WEATHER_SCHEMA, Result, Call),
        "anthropic": AnthropicClient(gateway),
        "ollama": OllamaClient(gateway),
        "gemini": GeminiClient(gateway.url, PIXEL, WEATHER_SCHEMA, Result, Call),
    }


@pytest.fixture(scope="module")
def upstreams(
    fake_openai: FakeOpenAI,
    fake_anthropic: FakeAnthropic,
    fake_ollama: FakeOllama,
    fake_aliyun: FakeAliyun,
    fake_gemini: FakeGemini,
) -> dict[str, Any]:
    return {
        "openai": fake_openai,
        "anthropic": fake_anthropic,
        "ollama": fake_ollama,
        "aliyun": fake_aliyun,
        "gemini": fake_gemini,
        "mock": None,
    }


CELLS = [pytest.param(c, p, f, id=f"{c}-client-{p}-provider-{f}") for c in CLIENTS for p in PROVIDERS for f in FEATURES]


# ---------------------------------------------------------------------------------------------- the matrix


def _upstream_messages(fake: Any) -> list[dict[str, Any]]:
    return fake.last["messages"]


@pytest.mark.parametrize(("client_name", "provider", "feature"), CELLS)
def test_matrix(
    client_name: str, provider: str, feature: str, clients: dict[str, Any], upstreams: dict[str, Any]
) -> None:
    client = clients[client_name]
    model = MODELS[provider]
    fake = upstreams[provider]

    if feature in ("text", "stream"):
        r = client.ask(model, "hello matrix", stream=feature == "stream")
        assert r.text.endswith("hello matrix")
        assert r.finish == "stop" and not r.calls
        if feature == "stream":
            assert r.pieces >= 2, "a streamed answer must arrive in several fragments"
        if provider == "gemini":
            method = ":streamGenerateContent?alt=sse" if feature == "stream" else ":generateContent"
            assert fake.paths[-1].endswith(method)
        elif fake is not None:
            assert fake.last.get("stream", False) is (feature == "stream")

    elif feature in ("tools", "streamed_tools"):
        stream = feature == "streamed_tools"
        first = client.ask(model, "weather in Paris?", tools=True, stream=stream)
        assert [c.name for c in first.calls] == ["get_weather"]
        assert isinstance(first.calls[0].args.get("city"), str) and first.calls[0].args["city"]
        assert first.finish == "tool_calls"
        if client_name != "ollama":
            assert first.calls[0].id, "OpenAI and Anthropic clients need the tool-call id"
        second = client.answer_tool(model, "weather in Paris?", first, "18C and sunny", stream)
        assert "18C and sunny" in second.text
        assert not second.calls and second.finish == "stop"

    elif feature == "system":
        with_system = client.ask(model, "hello system", system=SYSTEM)
        assert with_system.text.endswith("hello system")
        if fake is None:  # the mock cannot show its prompt; the system text must still count as input
            plain = client.ask(model, "hello system")
            assert with_system.usage is not None and plain.usage is not None
            assert with_system.usage[0] > plain.usage[0]
        elif provider == "gemini":
            assert fake.last["systemInstruction"] == {"parts": [{"text": SYSTEM}]}
            assert [c["role"] for c in fake.last["contents"]] == ["user"]
        elif provider == "anthropic":
            assert SYSTEM in json.dumps(fake.last["system"])
            assert [m["role"] for m in fake.last["messages"]] == ["user"]
        else:
            first = _upstream_messages(fake)[0]
            assert first["role"] == "system" and SYSTEM in str(first["content"])

    elif feature == "images":
        r = client.ask(model, "describe", image=True)
        if provider == "mock":
            assert "1 image received" in r.text
        elif provider == "anthropic":
            assert r.text == "echo: describe +1 image(s)"
            assert {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PIXEL}} in (
                _upstream_messages(fake)[-1]["content"]
            )
        elif provider == "gemini":
            assert r.text == "echo: describe +1 image(s)"
            assert {"inlineData": {"mimeType": "image/png", "data": PIXEL}} in fake.last["contents"][-1]["parts"]
        elif provider == "ollama":
            assert r.text == "echo: describe + 1 image"
            assert _upstream_messages(fake)[-1]["images"] == [PIXEL]
        else:
            parts = _upstream_messages(fake)[-1]["content"]
            urls = [p["image_url"]["url"] for p in parts if p["type"] == "image_url"]
            assert urls == [f"data:image/png;base64,{PIXEL}"]
            assert r.text == "echo: describe"

    elif feature == "usage":
        for stream in (False, True):
            r = client.ask(model, "count my tokens", stream=stream)
            assert r.usage is not None
            expected = USAGE[provider]
            if expected is None:
                assert r.usage[0] > 0 and r.usage[1] > 0
            else:
                assert r.usage == expected
            assert r.durations_ok, "Ollama clients need non-zero durations with non-zero counts"


# ---------------------------------------------------------------------------------------------- strict pairs
# OpenAI and Anthropic clients against the OpenAI, Anthropic and mock providers, checked exactly (these
# were tests/test_anthropic_matrix.py, which ran its own gateway with the same three models).

TIME_SCHEMA = {"type": "object", "properties": {"tz": {"type": "string"}}}
ECHO = {"openai": "echo: ", "anthropic": "echo: ", "mock": "You said: "}
RESULTS = {"openai": "got: ", "anthropic": "got: ", "mock": "Tool results: "}
# (whole prompt incl. cache, cache read, cache creation, output) each fake reports
STRICT_USAGE = {"openai": (12, 3, 0, 7), "anthropic": (35, 10, 5, 9)}


@dataclass
class StrictResult:
    text: str = ""
    calls: list[Call] = field(default_factory=list)
    finish: str = ""  # normalised: "stop" | "tool_calls" | "length"
    usage: tuple[int, int, int, int] | None = None  # (whole prompt, cache read, cache creation, output)
    pieces: int = 0  # text fragments received (streams)


# ---------------------------------------------------------------------------------------------- clients


class StrictAnthropic:
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
    ) -> tuple[StrictResult, list[dict[str, Any]]]:
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
        r = StrictResult()
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


class StrictOpenAI:
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
    ) -> tuple[StrictResult, list[dict[str, Any]]]:
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
        r = StrictResult()
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


def _strict_client(kind: str, gw: Gateway) -> StrictAnthropic | StrictOpenAI:
    return StrictAnthropic(gw) if kind == "anthropic" else StrictOpenAI(gw)


def _with_results(
    client: Any, history: list[dict[str, Any]], calls: list[Call], values: list[str]
) -> list[dict[str, Any]]:
    extra = client.results(calls, values)
    return history + (extra if isinstance(extra, list) else [extra])


STRICT_CELLS = [
    pytest.param(c, p, f, id=f"{c}-client-{p}-provider-strict-{f}")
    for c in ("openai", "anthropic")
    for p in ("openai", "anthropic", "mock")
    for f in FEATURES
]


@pytest.mark.parametrize(("client_kind", "provider", "feature"), STRICT_CELLS)
def test_strict_pairs(
    client_kind: str,
    provider: str,
    feature: str,
    gateway: Gateway,
    fake_openai: FakeOpenAI,
    fake_anthropic: FakeAnthropic,
) -> None:
    """The stricter checks between the OpenAI and Anthropic wire formats (and the mock): exact texts, two
    parallel tool calls whose ids survive unchanged and whose results come back paired by id, the
    upstream's exact system and image shapes, and cache figures in usage."""
    client = _strict_client(client_kind, gateway)
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
            prompt, cache_read, cache_write, output = STRICT_USAGE[provider]
            if client_kind == "openai":  # OpenAI has no cache-creation figure: it is inside prompt_tokens
                assert whole.usage == (prompt, cache_read, 0, output)
            else:
                assert whole.usage == (prompt, cache_read, cache_write, output)
