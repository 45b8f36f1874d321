"""The Ollama dialect as Ollama clients see it: ollama-python and raw HTTP (streaming by default, bad input),
against the mock and fake OpenAI / Ollama upstreams."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import ollama
import pytest

from tests.fakes.ollama_upstream import FakeOllama
from tests.fakes.openai_upstream import API_KEY, FakeOpenAI
from tests.harness import Gateway

PIXEL = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather for a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}
TIME = {
    "type": "function",
    "function": {
        "name": "get_time",
        "description": "Time in a zone",
        "parameters": {"type": "object", "properties": {"tz": {"type": "string"}}},
    },
}


@pytest.fixture(scope="module")
def gw(fake_openai: FakeOpenAI, fake_ollama: FakeOllama) -> Iterator[Gateway]:
    config = {
        "providers": {
            "mock": {"type": "mock", "options": {"chunks": 3}},
            "oai": {"type": "openai", "base_url": fake_openai.url, "api_key": API_KEY},  # type: ignore[attr-defined]
            "oll": {"type": "ollama", "base_url": fake_ollama.url},  # type: ignore[attr-defined]
            # the translated lane to Ollama (the same API is otherwise forwarded as sent)
            "oll-t": {"type": "ollama", "base_url": fake_ollama.url, "passthrough": False},  # type: ignore[attr-defined]
            "dead": {"type": "ollama", "base_url": "http://127.0.0.1:9", "connect_timeout": 2},
        },
        "models": {
            "demo": "mock/demo",
            "coder": {
                "provider": "oai",
                "model": "gpt-test",
                "context_length": 65536,
                "family": "qwen2",
                "capabilities": ["completion", "tools", "vision", "thinking"],
            },
            "reasoner": "oai/reasoning",
            "local": "oll/llama3.2",
            "thinker": "oll/thinker",
            "tagged": "oll-t/think-tags",
            "local-t": "oll-t/llama3.2",
            "big": "oll/big",
            "errline": "oll/error-line",
            "dropper": "oll/drop",
            "lengthy": "oll/length",
            "ghost": "dead/llama3",
        },
    }
    with Gateway(config) as g:
        yield g


@pytest.fixture(scope="module")
def client(gw: Gateway) -> ollama.Client:
    return ollama.Client(host=gw.url + "/ollama")


def post(gw: Gateway, path: str, body: Any, **kw: Any) -> httpx.Response:
    data = body if isinstance(body, (bytes, str)) else json.dumps(body)
    return httpx.post(gw.url + "/ollama" + path, content=data, timeout=10, **kw)


def lines(r: httpx.Response) -> list[dict[str, Any]]:
    assert r.text.endswith("\n") and "\n\n" not in r.text
    return [json.loads(line) for line in r.text.splitlines()]


# ---------------------------------------------------------------------------------------------- raw HTTP


def test_chat_streams_ndjson_when_stream_is_absent(gw: Gateway) -> None:
    r = post(gw, "/api/chat", {"model": "demo", "messages": [{"role": "user", "content": "hi there"}]})
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/x-ndjson")
    out = lines(r)
    assert len(out) >= 3
    assert all(o["done"] is False for o in out[:-1]) and out[-1]["done"] is True
    assert "".join(o["message"]["content"] for o in out) == "You said: hi there"
    final = out[-1]
    assert final["done_reason"] == "stop" and final["model"] == "demo"
    for key in ("total_duration", "prompt_eval_duration", "eval_duration", "prompt_eval_count", "eval_count"):
        assert isinstance(final[key], int) and final[key] > 0, key
    assert final["created_at"].endswith("Z")


def test_chat_stream_false_is_one_json_object(gw: Gateway) -> None:
    r = post(
        gw, "/api/chat", {"model": "demo:latest", "stream": False, "messages": [{"role": "user", "content": "once"}]}
    )
    assert r.headers["content-type"].startswith("application/json")
    body = r.json()
    assert body["message"] == {"role": "assistant", "content": "You said: once"}
    assert body["done"] is True and body["model"] == "demo:latest"
    assert r.headers["X-Request-ID"]


def test_generate_streams_by_default_and_answers_whole(gw: Gateway) -> None:
    out = lines(post(gw, "/api/generate", {"model": "demo", "prompt": "gen me"}))
    assert "".join(o["response"] for o in out) == "You said: gen me"
    assert out[-1]["done"] is True and out[-1]["response"] == ""
    whole = post(
        gw, "/api/generate", {"model": "demo", "prompt": "gen me", "stream": False, "system": "be brief"}
    ).json()
    assert whole["response"] == "You said: gen me" and whole["done_reason"] == "stop"


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        (b"{not json", "Malformed JSON"),
        (b"", "empty"),
        ({"messages": [{"role": "user", "content": "x"}]}, "model is required"),
        ({"model": "demo", "messages": "hello"}, "messages"),
        ({"model": "demo", "messages": [{"role": "user", "content": 5}]}, "messages[0].content"),
        ({"model": "demo", "messages": [{"role": "robot", "content": "x"}]}, "messages[0].role"),
        (
            {"model": "demo", "messages": [{"role": "user", "content": "x"}], "options": {"temperature": "hot"}},
            "options.temperature",
        ),
        (
            {"model": "demo", "messages": [{"role": "user", "content": "x", "images": ["%%%not base64%%%"]}]},
            "messages[0].images[0]",
        ),
        ({"model": "demo", "messages": [{"role": "user", "content": "x"}], "think": "very"}, "think"),
        ({"model": "demo", "messages": [{"role": "user", "content": "x"}], "format": "yaml"}, "format"),
    ],
    ids=[
        "bad-json",
        "empty-body",
        "no-model",
        "messages-type",
        "content-type",
        "role",
        "option-type",
        "image",
        "think",
        "format",
    ],
)
def test_bad_input_is_400_in_ollama_shape(gw: Gateway, body: Any, fragment: str) -> None:
    r = post(gw, "/api/chat", body)
    assert r.status_code == 400
    assert r.headers["content-type"].startswith("application/json")
    err = r.json()
    assert list(err) == ["error"] and fragment in err["error"]


def test_unknown_model_route_and_method(gw: Gateway, client: ollama.Client) -> None:
    with pytest.raises(ollama.ResponseError) as exc:
        client.chat(model="no-such-model", messages=[{"role": "user", "content": "x"}])
    assert exc.value.status_code == 404 and exc.value.error == "model 'no-such-model' not found"
    r = httpx.get(gw.url + "/ollama/api/nothing")
    assert r.status_code == 404 and "error" in r.json()
    r = httpx.get(gw.url + "/ollama/api/chat")
    assert r.status_code == 405 and "error" in r.json()


def test_upstream_unreachable_and_upstream_4xx(gw: Gateway, client: ollama.Client) -> None:
    with pytest.raises(ollama.ResponseError) as exc:
        client.chat(model="ghost", messages=[{"role": "user", "content": "x"}])
    assert exc.value.status_code == 502
    r = post(gw, "/api/chat", {"model": "oll/fail-400", "messages": [{"role": "user", "content": "x"}]})
    assert r.status_code == 400 and r.json() == {"error": "fake ollama says 400"}


def test_root_says_ollama_is_running(gw: Gateway) -> None:
    r = httpx.get(gw.url + "/ollama/")
    assert r.status_code == 200 and r.text == "Ollama is running"


def test_generate_with_suffix_is_refused(gw: Gateway) -> None:
    r = post(gw, "/api/generate", {"model": "demo", "prompt": "def f(", "suffix": "return x", "stream": False})
    assert r.status_code == 400 and r.json() == {"error": '"demo" does not support insert'}


def test_load_and_unload_requests_do_not_generate(gw: Gateway) -> None:
    r = post(gw, "/api/chat", {"model": "demo", "messages": [], "stream": False})
    assert r.json()["done_reason"] == "load"
    r = post(gw, "/api/generate", {"model": "demo", "keep_alive": 0, "stream": False})
    assert r.json()["done_reason"] == "unload"
    assert post(gw, "/api/generate", {"model": "nope"}).status_code == 404


# ---------------------------------------------------------------------------------------------- models


def test_tags_entries_have_what_zed_reads(client: ollama.Client, gw: Gateway) -> None:
    raw = httpx.get(gw.url + "/ollama/api/tags").json()["models"]
    names = [m["name"] for m in raw]
    assert "demo:latest" in names and "coder:latest" in names
    assert "oll/llama3.2:latest" in names and "oll/qwen3:8b" in names  # what the Ollama upstream has
    for m in raw:
        assert m["name"] == m["model"]
        assert len(m["digest"]) == 64 and isinstance(m["size"], int) and m["modified_at"]
        assert {"format", "family", "families", "parameter_size", "quantization_level"} <= set(m["details"])
    coder = next(m for m in raw if m["name"] == "coder:latest")
    assert coder["capabilities"] == ["completion", "tools", "vision", "thinking"]
    assert coder["details"]["family"] == "qwen2" and coder["details"]["context_length"] == 65536
    local = next(m for m in raw if m["name"] == "local:latest")
    assert local["details"]["parameter_size"] == "3.2B"  # from the upstream's own listing
    listed = client.list()
    assert {m.model for m in listed.models} >= {"demo:latest", "coder:latest"}


def test_show_reports_context_length_and_capabilities(client: ollama.Client) -> None:
    s = client.show("coder")
    assert s.modelinfo is not None
    assert s.modelinfo["general.architecture"] == "qwen2"
    assert s.modelinfo["qwen2.context_length"] == 65536
    assert s.capabilities == ["completion", "tools", "vision", "thinking"]
    d = client.show("demo:latest")
    arch = d.modelinfo["general.architecture"]  # type: ignore[index]
    assert d.modelinfo[f"{arch}.context_length"] == 128000  # type: ignore[index]
    assert d.capabilities == ["completion", "tools"]
    q = client.show("oll/qwen3:8b")  # pass-through: what the upstream reports
    assert q.modelinfo["qwen3.context_length"] == 40960  # type: ignore[index]
    assert "thinking" in (q.capabilities or [])


def test_show_errors_and_get_variant(gw: Gateway) -> None:
    assert post(gw, "/api/show", {}).json() == {"error": "model is required"}
    r = post(gw, "/api/show", {"model": "nope"})
    assert r.status_code == 404 and r.json() == {"error": "model 'nope' not found"}
    assert post(gw, "/api/show", {"name": "coder"}).json()["model_info"]["qwen2.context_length"] == 65536
    r = httpx.get(gw.url + "/ollama/api/show/coder:latest")
    assert r.status_code == 200 and r.json()["capabilities"][0] == "completion"


def test_version_and_ps(gw: Gateway, client: ollama.Client) -> None:
    v = httpx.get(gw.url + "/ollama/api/version").json()["version"]
    assert [int(x) for x in v.split(".")] >= [0, 6, 0]
    assert list(client.ps().models) == []


# ---------------------------------------------------------------------------------------------- translation


def test_options_map_to_openai_upstream(client: ollama.Client, fake_openai: FakeOpenAI) -> None:
    client.chat(
        model="coder",
        messages=[{"role": "user", "content": "opts"}],
        keep_alive=-1,
        options={
            "temperature": 0.2,
            "top_p": 0.9,
            "top_k": 7,
            "num_predict": 50,
            "stop": ["END"],
            "seed": 3,
            "num_ctx": 8192,
            "repeat_penalty": 1.1,
        },
    )
    body = fake_openai.last
    assert body["temperature"] == 0.2 and body["top_p"] == 0.9 and body["max_tokens"] == 50
    assert body["stop"] == ["END"] and body["seed"] == 3
    assert "tools" not in body, "ollama-python's empty tools list must not reach an OpenAI upstream"
    assert not {
        "num_ctx",
        "options",
        "ollama:options",
        "repeat_penalty",
        "top_k",
        "keep_alive",
        "ollama:keep_alive",
    } & set(body)


def test_options_map_to_ollama_upstream(client: ollama.Client, fake_ollama: FakeOllama) -> None:
    client.chat(
        model="local",
        messages=[{"role": "user", "content": "opts"}],
        keep_alive="1h",
        options={"temperature": 0.2, "top_k": 7, "num_predict": 50, "stop": ["END"], "num_ctx": 8192},
    )
    body = fake_ollama.last
    assert body["stream"] is False and body["keep_alive"] == "1h"
    assert body["options"] == {"temperature": 0.2, "top_k": 7, "num_predict": 50, "stop": ["END"], "num_ctx": 8192}


def test_format_json_and_schema(client: ollama.Client, fake_openai: FakeOpenAI, fake_ollama: FakeOllama) -> None:
    client.chat(model="coder", messages=[{"role": "user", "content": "json please"}], format="json")
    assert fake_openai.last["response_format"] == {"type": "json_object"}
    schema = {"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"]}
    client.chat(model="coder", messages=[{"role": "user", "content": "json please"}], format=schema)
    rf = fake_openai.last["response_format"]
    assert rf["type"] == "json_schema" and rf["json_schema"]["schema"] == schema
    client.chat(model="local", messages=[{"role": "user", "content": "json please"}], format=schema)
    assert fake_ollama.last["format"] == schema


def test_length_done_reason(client: ollama.Client) -> None:
    r = client.chat(
        model="coder", messages=[{"role": "user", "content": "one two three four"}], options={"num_predict": 2}
    )
    assert r.done_reason == "length"
    assert client.chat(model="lengthy", messages=[{"role": "user", "content": "x"}]).done_reason == "length"


def test_think_maps_to_thinking(client: ollama.Client, fake_openai: FakeOpenAI, fake_ollama: FakeOllama) -> None:
    r = client.chat(model="thinker", messages=[{"role": "user", "content": "hmm"}], think=True)
    assert r.message.thinking == "thinking hard" and r.message.content == "echo: hmm"
    assert fake_ollama.last["think"] is True
    streamed = list(
        client.chat(model="reasoner", messages=[{"role": "user", "content": "hmm"}], think="high", stream=True)
    )
    assert "".join(c.message.thinking or "" for c in streamed) == "thinking hard"
    assert fake_openai.last["reasoning_effort"] == "high"
    off = client.chat(model="thinker", messages=[{"role": "user", "content": "hmm"}], think=False)
    assert not off.message.thinking and fake_ollama.last["think"] is False


def test_inline_think_tags_become_thinking_without_eating_whitespace(client: ollama.Client) -> None:
    chunks = list(client.chat(model="tagged", messages=[{"role": "user", "content": "x"}], stream=True))
    assert "".join(c.message.thinking or "" for c in chunks) == "inner"
    assert "".join(c.message.content or "" for c in chunks) == "\n\nAnswer"
    whole = client.chat(model="tagged", messages=[{"role": "user", "content": "x"}])
    assert whole.message.thinking == "inner" and whole.message.content == "\n\nAnswer"


def test_images_reach_openai_upstream_as_data_uri(client: ollama.Client, fake_openai: FakeOpenAI) -> None:
    client.chat(model="coder", messages=[{"role": "user", "content": "look", "images": [PIXEL]}])
    parts = fake_openai.last["messages"][-1]["content"]
    assert {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PIXEL}"}} in parts


def test_tool_calls_carry_id_type_and_object_arguments(gw: Gateway) -> None:
    r = post(
        gw,
        "/api/chat",
        {"model": "coder", "stream": False, "tools": [WEATHER], "messages": [{"role": "user", "content": "weather?"}]},
    )
    call = r.json()["message"]["tool_calls"][0]
    assert call["id"] == "call_w1" and call["type"] == "function"
    assert call["function"] == {"index": 0, "name": "get_weather", "arguments": {"city": "Paris"}}
    streamed = lines(
        post(
            gw,
            "/api/chat",
            {"model": "coder", "tools": [WEATHER], "messages": [{"role": "user", "content": "weather?"}]},
        )
    )
    calls = [c for o in streamed for c in o["message"].get("tool_calls", [])]
    assert calls == [call]
    assert streamed[-1]["done_reason"] == "stop"


def test_parallel_tool_results_pair_by_name(client: ollama.Client, fake_openai: FakeOpenAI) -> None:
    first = client.chat(model="coder", tools=[WEATHER, TIME], messages=[{"role": "user", "content": "parallel please"}])
    calls = first.message.tool_calls or []
    assert [c.function.name for c in calls] == ["get_weather", "get_time"]
    history = [
        {"role": "user", "content": "parallel please"},
        {
            "role": "assistant",
            "content": "",
            "tool_calls": [{"function": {"name": c.function.name, "arguments": c.function.arguments}} for c in calls],
        },
        # results in the other order: pairing by tool_name, not position
        {"role": "tool", "content": "9pm", "tool_name": "get_time"},
        {"role": "tool", "content": "18C", "tool_name": "get_weather"},
    ]
    second = client.chat(model="coder", tools=[WEATHER, TIME], messages=history)
    assert second.message.content == "got: 9pm | 18C"
    sent = fake_openai.last["messages"]
    ids = [tc["id"] for tc in sent[1]["tool_calls"]]
    assert json.loads(sent[1]["tool_calls"][0]["function"]["arguments"]) == {"city": "Paris"}
    assert [m["tool_call_id"] for m in sent[2:4]] == [ids[1], ids[0]]


def test_tool_results_reach_ollama_upstream_with_tool_name(client: ollama.Client, fake_ollama: FakeOllama) -> None:
    history = [
        {"role": "system", "content": "one"},
        {"role": "user", "content": "weather?"},
        {"role": "system", "content": "two"},
        {
            "role": "assistant",
            "content": "",
            "tool_calls": [{"function": {"name": "get_weather", "arguments": {"city": "Paris"}}}],
        },
        {"role": "tool", "content": "18C", "tool_name": "get_weather"},
    ]
    r = client.chat(model="local-t", tools=[WEATHER], messages=history)
    assert r.message.content == "got: get_weather=18C"
    sent = fake_ollama.last["messages"]
    assert sent[0] == {"role": "system", "content": "one\n\ntwo"}  # merged into one leading message
    assert sent[2]["tool_calls"][0]["function"]["arguments"] == {"city": "Paris"}


# ---------------------------------------------------------------------------------------------- streams


def test_lines_longer_than_64kb_pass_through(client: ollama.Client) -> None:
    chunks = list(client.chat(model="big", messages=[{"role": "user", "content": "x"}], stream=True))
    assert sum(len(c.message.content or "") for c in chunks) == 200_000


def test_mid_stream_upstream_error_ends_with_error_line(gw: Gateway, client: ollama.Client) -> None:
    out = lines(post(gw, "/api/chat", {"model": "errline", "messages": [{"role": "user", "content": "hello"}]}))
    assert out[0]["message"]["content"] == "echo"
    assert out[-1] == {"error": "an error was encountered while running the model"}
    with pytest.raises(ollama.ResponseError):
        list(client.chat(model="dropper", messages=[{"role": "user", "content": "hello"}], stream=True))


def test_streams_with_an_openai_upstream_error_end_cleanly(gw: Gateway) -> None:
    r = post(gw, "/api/chat", {"model": "oai/error-chunk", "messages": [{"role": "user", "content": "x"}]})
    out = lines(r)
    assert out[0]["message"]["content"] == "partial"
    assert out[-1] == {"error": "model crashed"}


# ---------------------------------------------------------------------------------------------- root prefix


def test_root_prefix_is_a_drop_in_ollama() -> None:
    config = {
        "dialects": {"ollama": {"prefix": ""}},
        "providers": {"mock": {"type": "mock"}},
        "models": {"demo": "mock/demo"},
    }
    with Gateway(config) as g:
        c = ollama.Client(host=g.url)
        assert c.chat(model="demo", messages=[{"role": "user", "content": "root"}]).message.content == "You said: root"
        assert any(m.model == "demo:latest" for m in c.list().models)
        assert httpx.get(g.url + "/").text == "Ollama is running"
        assert httpx.get(g.url + "/v1/models").status_code == 200  # the OpenAI dialect still has /v1
