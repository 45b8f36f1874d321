"""The Gemini API both ways, with the official google-genai SDK: the `/gemini` dialect (errors in Google's
shape, keys from x-goog-api-key or ?key=, countTokens, embeddings, listings, snake_case fields) and the
`gemini` provider (thought signatures across turns, safety settings, token counts, embeddings, upstream
errors) against the strict fake in tests/fakes/gemini_upstream.py. The client x provider cells are in
tests/test_matrix.py."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import anthropic
import httpx
import openai
import pytest
from google import genai
from google.genai import errors as genai_errors
from google.genai import types

from tests.fakes.anthropic_upstream import API_KEY as ANTHROPIC_KEY
from tests.fakes.anthropic_upstream import SIGNATURE as ANTHROPIC_SIGNATURE
from tests.fakes.anthropic_upstream import FakeAnthropic
from tests.fakes.gemini_upstream import API_KEY as GEMINI_KEY
from tests.fakes.gemini_upstream import SIGNATURE, SKIP_SIGNATURE, FakeGemini
from tests.fakes.openai_upstream import API_KEY as OPENAI_KEY
from tests.fakes.openai_upstream import FakeOpenAI
from tests.fakes.server import ThreadedServer
from tests.harness import Gateway

GATEWAY_KEY = "llm-link-gemini-test-key"
WEATHER = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}


@pytest.fixture(scope="module")
def fake_claude() -> Iterator[FakeAnthropic]:
    fake = FakeAnthropic()
    server = ThreadedServer(fake.app).start()
    fake.url = server.url  # type: ignore[attr-defined]
    yield fake
    server.stop()


@pytest.fixture(scope="module")
def gw(fake_gemini: FakeGemini, fake_openai: FakeOpenAI, fake_claude: FakeAnthropic) -> Iterator[Gateway]:
    config = {
        "providers": {
            "mock": {"type": "mock", "options": {"chunks": 3}},
            "gem": {"type": "gemini", "base_url": fake_gemini.url, "api_key": GEMINI_KEY},  # type: ignore[attr-defined]
            "oai": {"type": "openai", "base_url": fake_openai.url, "api_key": OPENAI_KEY},  # type: ignore[attr-defined]
            "claude": {"type": "anthropic", "base_url": fake_claude.url, "api_key": ANTHROPIC_KEY},  # type: ignore[attr-defined]
        },
        "models": {
            "demo": "mock/demo",
            "pro3": "gem/gemini-3-pro-test",
            "flash": "gem/gemini-test",
            "emb": "gem/embedding-test",
            "gpt": "oai/gpt-test",
            "thinker": "claude/thinking",
            "broken": "gem/fail-429",
            "flaky": "gem/error-event",
        },
        "auth": {"keys": [{"name": "dev", "key": GATEWAY_KEY}]},
    }
    with Gateway(config) as g:
        yield g


def client(gw: Gateway, key: str = GATEWAY_KEY, version: str = "v1beta") -> genai.Client:
    return genai.Client(api_key=key, http_options=types.HttpOptions(base_url=gw.url + "/gemini", api_version=version))


def weather_tools() -> types.GenerateContentConfig:
    return types.GenerateContentConfig(
        tools=[
            types.Tool(
                function_declarations=[
                    types.FunctionDeclaration(name="get_weather", description="Weather", parameters_json_schema=WEATHER)
                ]
            )
        ],
        automatic_function_calling=types.AutomaticFunctionCallingConfig(disable=True),
    )


# ---------------------------------------------------------------------------------------------- the dialect


@pytest.mark.parametrize("version", ["v1beta", "v1"])
def test_generate_and_stream_under_both_api_versions(gw: Gateway, version: str) -> None:
    c = client(gw, version=version)
    r = c.models.generate_content(model="demo", contents="hello gemini")
    assert r.text is not None and r.text.endswith("hello gemini")
    assert r.candidates and r.candidates[0].finish_reason == types.FinishReason.STOP
    assert r.usage_metadata is not None and r.usage_metadata.total_token_count
    chunks = list(c.models.generate_content_stream(model="demo", contents="hello stream"))
    assert "".join(ch.text or "" for ch in chunks).endswith("hello stream")
    assert len([ch for ch in chunks if ch.text]) >= 2
    assert chunks[-1].candidates and chunks[-1].candidates[0].finish_reason == types.FinishReason.STOP


def test_key_in_header_or_query_and_errors_in_googles_shape(gw: Gateway) -> None:
    url = gw.url + "/gemini/v1beta/models/demo:generateContent"
    body = {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}
    missing = httpx.post(url, json=body)
    assert missing.status_code == 401
    assert missing.json()["error"]["status"] == "UNAUTHENTICATED"
    assert "x-goog-api-key" in missing.json()["error"]["message"]
    assert httpx.post(url, json=body, headers={"x-goog-api-key": "wrong"}).status_code == 401
    assert httpx.post(url, json=body, params={"key": GATEWAY_KEY}).status_code == 200
    wrong = client(gw, key="wrong")  # kept in a name: the SDK closes its connection pool when collected
    with pytest.raises(genai_errors.ClientError) as err:
        wrong.models.generate_content(model="demo", contents="hi")
    assert err.value.code == 401 and err.value.status == "UNAUTHENTICATED"


@pytest.mark.parametrize(
    ("body", "status", "fragment"),
    [
        (b"{not json", 400, "Malformed JSON"),
        ({"contents": [{"role": "system", "parts": [{"text": "x"}]}]}, 400, "valid role"),
        ({"contents": []}, 400, "contents"),
        ({"contents": "hello"}, 400, "contents"),
        ({"contents": [{"parts": [{"inlineData": {"mimeType": "audio/wav", "data": "AAAA"}}]}]}, 400, "audio/wav"),
        ({"contents": [{"parts": [{"text": "x"}]}], "generationConfig": {"temperature": "hot"}}, 400, "temperature"),
    ],
)
def test_bad_requests_are_400_in_googles_shape(gw: Gateway, body: Any, status: int, fragment: str) -> None:
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    r = httpx.post(
        gw.url + "/gemini/v1beta/models/demo:generateContent",
        content=content,
        headers={"x-goog-api-key": GATEWAY_KEY, "content-type": "application/json"},
    )
    assert r.status_code == status
    error = r.json()["error"]
    assert error["code"] == status and error["status"] == "INVALID_ARGUMENT"
    assert fragment in error["message"]


def test_unknown_model_method_and_route(gw: Gateway) -> None:
    c = client(gw)
    with pytest.raises(genai_errors.ClientError) as err:
        c.models.generate_content(model="no-such-model", contents="hi")
    assert err.value.code == 404 and err.value.status == "NOT_FOUND"
    headers = {"x-goog-api-key": GATEWAY_KEY}
    r = httpx.post(gw.url + "/gemini/v1beta/models/demo:predict", json={}, headers=headers)
    assert r.status_code == 404 and r.json()["error"]["status"] == "NOT_FOUND"
    r = httpx.get(gw.url + "/gemini/v1beta/tunedModels", headers=headers)
    assert r.status_code == 404 and r.json()["error"]["status"] == "NOT_FOUND"


def test_snake_case_fields_and_unknown_fields_are_accepted(gw: Gateway, fake_gemini: FakeGemini) -> None:
    body = {
        "contents": [{"role": "user", "parts": [{"text": "snake"}]}],
        "system_instruction": {"parts": [{"text": "be brief"}]},
        "generation_config": {"max_output_tokens": 50, "stop_sequences": ["END"], "a_future_field": 1},
        "safety_settings": [{"category": "HARM_CATEGORY_HARASSMENT", "threshold": "BLOCK_NONE"}],
        "labels": {"team": "x"},
    }
    r = httpx.post(gw.url + "/gemini/v1beta/models/flash:generateContent", json=body, params={"key": GATEWAY_KEY})
    assert r.status_code == 200, r.text
    assert r.json()["candidates"][0]["content"]["parts"] == [{"text": "echo: snake"}]
    sent = fake_gemini.last
    assert sent["systemInstruction"] == {"parts": [{"text": "be brief"}]}
    assert sent["generationConfig"] == {"maxOutputTokens": 50, "stopSequences": ["END"]}
    # Safety settings reach a Gemini upstream unchanged.
    assert sent["safetySettings"] == [{"category": "HARM_CATEGORY_HARASSMENT", "threshold": "BLOCK_NONE"}]


def test_gemini_schema_types_reach_an_openai_upstream_as_json_schema(gw: Gateway, fake_openai: FakeOpenAI) -> None:
    """gemini-cli writes OpenAPI-style schemas (`"type": "OBJECT"`); OpenAI wants JSON schema."""
    config = types.GenerateContentConfig(
        tools=[
            types.Tool(
                function_declarations=[
                    types.FunctionDeclaration(
                        name="get_weather",
                        parameters=types.Schema(
                            type=types.Type.OBJECT,
                            properties={"city": types.Schema(type=types.Type.STRING, nullable=True)},
                        ),
                    )
                ]
            )
        ],
        automatic_function_calling=types.AutomaticFunctionCallingConfig(disable=True),
    )
    c = client(gw)
    r = c.models.generate_content(model="gpt", contents="weather in Paris?", config=config)
    assert r.function_calls and r.function_calls[0].name == "get_weather"
    params = fake_openai.last["tools"][0]["function"]["parameters"]
    assert params == {"type": "object", "properties": {"city": {"type": ["string", "null"]}}}


def test_count_tokens_exact_from_gemini_and_estimated_elsewhere(gw: Gateway, fake_gemini: FakeGemini) -> None:
    c = client(gw)
    exact = c.models.count_tokens(model="flash", contents="count these tokens please")
    inner = fake_gemini.count_requests[-1]["generateContentRequest"]
    assert inner["model"] == "models/gemini-test"
    assert exact.total_tokens == 3 + len(json.dumps(inner, sort_keys=True)) // 7
    short = c.models.count_tokens(model="demo", contents="four")
    long = c.models.count_tokens(model="demo", contents="four " * 100)
    assert short.total_tokens is not None and long.total_tokens is not None
    assert 0 < short.total_tokens < long.total_tokens


def test_embeddings_single_and_batch(gw: Gateway, fake_gemini: FakeGemini) -> None:
    c = client(gw)
    result = c.models.embed_content(
        model="emb", contents=["alpha", "beta gamma"], config=types.EmbedContentConfig(output_dimensionality=3)
    )
    assert result.embeddings is not None and [len(e.values or []) for e in result.embeddings] == [3, 3]
    sent = fake_gemini.embed_requests[-1]["requests"]
    assert [r["content"]["parts"][0]["text"] for r in sent] == ["alpha", "beta gamma"]
    assert {r["model"] for r in sent} == {"models/embedding-test"}
    one = httpx.post(
        gw.url + "/gemini/v1beta/models/emb:embedContent",
        json={"content": {"parts": [{"text": "solo"}]}},
        headers={"x-goog-api-key": GATEWAY_KEY},
    )
    assert one.status_code == 200 and len(one.json()["embedding"]["values"]) == 4
    mock = httpx.post(
        gw.url + "/gemini/v1beta/models/demo:embedContent",
        json={"content": {"parts": [{"text": "solo"}]}},
        headers={"x-goog-api-key": GATEWAY_KEY},
    )
    assert mock.status_code == 200 and mock.json()["embedding"]["values"]


def test_model_listing_and_lookup(gw: Gateway) -> None:
    c = client(gw)
    names = [m.name for m in c.models.list()]
    assert "models/demo" in names and "models/pro3" in names
    assert c.models.get(model="flash").name == "models/flash"
    page = httpx.get(gw.url + "/gemini/v1beta/models", params={"pageSize": 2}, headers={"x-goog-api-key": GATEWAY_KEY})
    assert len(page.json()["models"]) == 2 and page.json()["nextPageToken"]


# ---------------------------------------------------------------------------------------------- the provider


def test_thought_signature_round_trip_gemini_client(gw: Gateway, fake_gemini: FakeGemini) -> None:
    """Gemini 3 refuses a call sent back without its signature: the client returns the call as it got it,
    and the upstream sees the original signature again."""
    c = client(gw)
    first = c.models.generate_content(model="pro3", contents="weather in Paris?", config=weather_tools())
    assert first.candidates and first.candidates[0].content
    call_part = first.candidates[0].content.parts[0]  # type: ignore[index]
    assert call_part.function_call is not None and call_part.function_call.name == "get_weather"
    contents = [
        types.Content(role="user", parts=[types.Part(text="weather in Paris?")]),
        first.candidates[0].content,
        types.Content(
            role="user",
            parts=[
                types.Part(
                    function_response=types.FunctionResponse(
                        id=call_part.function_call.id, name="get_weather", response={"output": "18C"}
                    )
                )
            ],
        ),
    ]
    second = c.models.generate_content(model="pro3", contents=contents, config=weather_tools())
    assert second.text == "got: 18C"
    model_turn = fake_gemini.last["contents"][1]["parts"][0]
    assert model_turn["thoughtSignature"] == SIGNATURE
    assert model_turn["functionCall"]["id"] == "fc_w1"


@pytest.mark.parametrize("stream", [False, True])
def test_thought_signature_round_trip_openai_client(gw: Gateway, fake_gemini: FakeGemini, stream: bool) -> None:
    oai = openai.OpenAI(base_url=gw.url + "/v1", api_key=GATEWAY_KEY, max_retries=0)
    tools = [{"type": "function", "function": {"name": "get_weather", "parameters": WEATHER}}]
    messages: list[dict[str, Any]] = [{"role": "user", "content": "weather in Paris?"}]
    if stream:
        call_id = name = args = ""
        for chunk in oai.chat.completions.create(model="pro3", messages=messages, tools=tools, stream=True):  # type: ignore[call-overload]
            for tc in chunk.choices[0].delta.tool_calls or [] if chunk.choices else []:
                call_id = tc.id or call_id
                name = (tc.function and tc.function.name) or name
                args += (tc.function and tc.function.arguments) or ""
    else:
        r = oai.chat.completions.create(model="pro3", messages=messages, tools=tools)  # type: ignore[arg-type]
        tc = r.choices[0].message.tool_calls[0]  # type: ignore[index]
        call_id, name, args = tc.id, tc.function.name, tc.function.arguments  # type: ignore[union-attr]
    assert name == "get_weather" and json.loads(args) == {"city": "Paris"}
    messages += [
        {
            "role": "assistant",
            "tool_calls": [{"id": call_id, "type": "function", "function": {"name": name, "arguments": args}}],
        },
        {"role": "tool", "tool_call_id": call_id, "content": "18C"},
    ]
    r2 = oai.chat.completions.create(model="pro3", messages=messages, tools=tools)  # type: ignore[arg-type]
    assert r2.choices[0].message.content == "got: 18C"
    sent = fake_gemini.last["contents"]
    assert sent[1]["parts"][0]["thoughtSignature"] == SIGNATURE
    assert sent[2]["parts"][0]["functionResponse"] == {
        "id": "fc_w1",
        "name": "get_weather",
        "response": {"output": "18C"},
    }


def test_foreign_history_gets_the_skip_sentinel(gw: Gateway, fake_gemini: FakeGemini) -> None:
    """A call Gemini never signed (history from another model) is marked with Google's sentinel."""
    sdk = anthropic.Anthropic(base_url=gw.url + "/anthropic", api_key=GATEWAY_KEY, max_retries=0)
    r = sdk.messages.create(
        model="pro3",
        max_tokens=100,
        tools=[{"name": "get_weather", "input_schema": WEATHER}],
        messages=[
            {"role": "user", "content": "weather?"},
            {
                "role": "assistant",
                "content": [{"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Oslo"}}],
            },
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "3C"}]},
        ],
    )
    assert r.content[0].type == "text" and r.content[0].text == "got: 3C"
    assert fake_gemini.last["contents"][1]["parts"][0]["thoughtSignature"] == SKIP_SIGNATURE


def test_reasoning_effort_becomes_thinking_config(gw: Gateway, fake_gemini: FakeGemini) -> None:
    oai = openai.OpenAI(base_url=gw.url + "/v1", api_key=GATEWAY_KEY, max_retries=0)
    r = oai.chat.completions.create(
        model="pro3", messages=[{"role": "user", "content": "think"}], reasoning_effort="low"
    )
    assert r.choices[0].message.content == "echo: think"
    assert fake_gemini.last["generationConfig"]["thinkingConfig"] == {"includeThoughts": True, "thinkingLevel": "low"}
    assert r.usage is not None and r.usage.completion_tokens == 7
    r = oai.chat.completions.create(
        model="flash", messages=[{"role": "user", "content": "think"}], reasoning_effort="medium"
    )
    assert fake_gemini.last["generationConfig"]["thinkingConfig"] == {"includeThoughts": True, "thinkingBudget": 8192}


def test_upstream_errors_keep_status_and_message(gw: Gateway) -> None:
    oai = openai.OpenAI(base_url=gw.url + "/v1", api_key=GATEWAY_KEY, max_retries=0)
    with pytest.raises(openai.RateLimitError) as err:
        oai.chat.completions.create(model="broken", messages=[{"role": "user", "content": "hi"}])
    assert "upstream says 429" in str(err.value)
    c = client(gw)
    with pytest.raises(genai_errors.ClientError) as gerr:
        c.models.generate_content(model="broken", contents="hi")
    assert gerr.value.code == 429 and gerr.value.status == "RESOURCE_EXHAUSTED"


def test_error_mid_stream_ends_the_stream_with_googles_error(gw: Gateway) -> None:
    r = httpx.post(
        gw.url + "/gemini/v1beta/models/flaky:streamGenerateContent",
        params={"alt": "sse"},
        json={"contents": [{"parts": [{"text": "hello there"}]}]},
        headers={"x-goog-api-key": GATEWAY_KEY},
    )
    events = [json.loads(line[6:]) for line in r.text.split("\r\n") if line.startswith("data: ")]
    assert events[0]["candidates"][0]["content"]["parts"] == [{"text": "echo"}]
    assert events[-1]["error"]["code"] == 503 and "overloaded" in events[-1]["error"]["message"]


def test_hosted_tools_reach_gemini_and_are_counted_as_dropped_elsewhere(
    gw: Gateway, fake_gemini: FakeGemini, fake_openai: FakeOpenAI
) -> None:
    body = {
        "contents": [{"role": "user", "parts": [{"text": "search the web"}]}],
        "tools": [{"google_search": {}}, {"functionDeclarations": [{"name": "get_weather", "parameters": WEATHER}]}],
        "safetySettings": [{"category": "HARM_CATEGORY_HARASSMENT", "threshold": "BLOCK_NONE"}],
        "toolConfig": {"functionCallingConfig": {"mode": "NONE"}},
    }
    headers = {"x-goog-api-key": GATEWAY_KEY}
    r = httpx.post(gw.url + "/gemini/v1beta/models/flash:generateContent", json=body, headers=headers)
    assert r.status_code == 200, r.text
    assert {"googleSearch": {}} in fake_gemini.last["tools"]
    assert fake_gemini.last["tools"][0]["functionDeclarations"][0]["name"] == "get_weather"
    r = httpx.post(gw.url + "/gemini/v1beta/models/gpt:generateContent", json=body, headers=headers)
    assert r.status_code == 200, r.text
    assert [t["function"]["name"] for t in fake_openai.last["tools"]] == ["get_weather"]
    assert "safetySettings" not in fake_openai.last
    dropped = [line for line in httpx.get(gw.url + "/metrics").text.splitlines() if line.startswith("llm_link_dropped")]
    for field in ("tools.googleSearch", "safetySettings"):
        assert any(
            f'field="{field}"' in line and 'provider="oai"' in line and line.endswith(" 1.0") for line in dropped
        )
    assert not any('provider="gem"' in line for line in dropped)


def test_thinking_levels_reach_openai_as_reasoning_effort(gw: Gateway, fake_openai: FakeOpenAI) -> None:
    """gemini-cli sends `thinkingLevel: HIGH` (Gemini 3's default) on every call: that must not force a
    reasoning effort on an upstream model that may not take one; a lower level is a real request."""
    c = client(gw)
    for level, effort in (("HIGH", None), ("LOW", "low")):
        config = types.GenerateContentConfig(
            thinking_config=types.ThinkingConfig(include_thoughts=True, thinking_level=level)  # type: ignore[arg-type]
        )
        r = c.models.generate_content(model="gpt", contents="think", config=config)
        assert r.text == "echo: think"
        assert fake_openai.last.get("reasoning_effort") == effort


def test_large_embedding_inputs_go_in_batches_of_100(gw: Gateway, fake_gemini: FakeGemini) -> None:
    oai = openai.OpenAI(base_url=gw.url + "/v1", api_key=GATEWAY_KEY, max_retries=0)
    before = len(fake_gemini.embed_requests)
    r = oai.embeddings.create(model="emb", input=[f"text {i}" for i in range(250)])
    assert len(r.data) == 250 and [d.index for d in r.data] == list(range(250))
    assert [len(b["requests"]) for b in fake_gemini.embed_requests[before:]] == [100, 100, 50]


def test_claude_thinking_streams_to_a_gemini_client_and_goes_back_signed(
    gw: Gateway, fake_claude: FakeAnthropic
) -> None:
    """Thoughts arrive as `thought` parts (the signature on the last one); sent back in the history, they
    reach Anthropic as one signed thinking block, which it checks."""
    c = client(gw)
    config = types.GenerateContentConfig(thinking_config=types.ThinkingConfig(include_thoughts=True))
    chunks = list(c.models.generate_content_stream(model="thinker", contents="ponder", config=config))
    parts = [
        p for ch in chunks for cand in ch.candidates or [] for p in (cand.content.parts if cand.content else None) or []
    ]
    thoughts = [p for p in parts if p.thought]
    assert "".join(p.text or "" for p in thoughts) == "thinking hard"
    assert any(p.thought_signature for p in thoughts)
    answer = [p for p in parts if not p.thought]
    assert "".join(p.text or "" for p in answer) == "echo: ponder"
    history = [
        types.Content(role="user", parts=[types.Part(text="ponder")]),
        types.Content(role="model", parts=parts),
        types.Content(role="user", parts=[types.Part(text="and now?")]),
    ]
    r = c.models.generate_content(model="thinker", contents=history)
    assert r.text == "echo: and now?"
    replayed = fake_claude.last["messages"][1]["content"]
    assert replayed[0] == {"type": "thinking", "thinking": "thinking hard", "signature": ANTHROPIC_SIGNATURE}
