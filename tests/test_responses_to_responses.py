"""A Responses client to an `api: responses` upstream (the strict fake Responses API): what other upstreams
lose goes through here — hosted tools (not counted as dropped; a forced one is no 400), custom tools as
`custom` tools, the upstream's own encrypted reasoning back and forth unchanged, and /v1/responses/compact
forwarded."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest

from tests.fakes.responses_rules import ENCRYPTED_PREFIX
from tests.fakes.responses_upstream import API_KEY, FakeResponses
from tests.harness import Gateway


@pytest.fixture(scope="module")
def gw(fake_responses: FakeResponses) -> Iterator[Gateway]:
    config = {
        "providers": {
            "resp": {"type": "openai", "api": "responses", "base_url": fake_responses.url, "api_key": API_KEY}  # type: ignore[attr-defined]
        },
        "models": {"gpt-resp": "resp/gpt-resp", "thinker": "resp/reasoning"},
    }
    with Gateway(config) as g:
        yield g


@pytest.fixture(scope="module")
def sdk(gw: Gateway) -> openai.OpenAI:
    return openai.OpenAI(base_url=gw.url + "/v1", api_key="unused", max_retries=0)


def _dropped(gw: Gateway) -> float:
    rows = httpx.get(gw.url + "/metrics").text.splitlines()
    return sum(float(r.rsplit(" ", 1)[1]) for r in rows if r.startswith("llm_link_dropped_fields_total{"))


def test_hosted_tools_reach_a_responses_upstream(
    gw: Gateway, sdk: openai.OpenAI, fake_responses: FakeResponses
) -> None:
    before = _dropped(gw)
    r = sdk.responses.create(
        model="gpt-resp", input="search it", tools=[{"type": "web_search"}], tool_choice={"type": "web_search"}
    )
    assert r.status == "completed"
    assert {"type": "web_search"} in fake_responses.last["tools"]
    assert fake_responses.last["tool_choice"] == {"type": "web_search"}
    assert _dropped(gw) == before


@pytest.mark.parametrize("stream", [False, True], ids=["json", "sse"])
def test_custom_tool_round_trip(sdk: openai.OpenAI, fake_responses: FakeResponses, stream: bool) -> None:
    tools: list[Any] = [{"type": "custom", "name": "apply_patch", "format": {"type": "text"}}]
    if stream:
        with sdk.responses.stream(model="gpt-resp", input="patch it", tools=tools) as s:
            kinds = [e.type for e in s]
            first = s.get_final_response()
        assert "response.custom_tool_call_input.delta" in kinds
    else:
        first = sdk.responses.create(model="gpt-resp", input="patch it", tools=tools)
    assert fake_responses.last["tools"][0]["type"] == "custom"
    [call] = [o for o in first.output if o.type == "custom_tool_call"]
    assert call.input == "Paris"
    follow: list[Any] = [
        {"role": "user", "content": "patch it"},
        call.model_dump(exclude_none=True),
        {"type": "custom_tool_call_output", "call_id": call.call_id, "output": "patched"},
    ]
    second = sdk.responses.create(model="gpt-resp", input=follow, tools=tools)
    assert "patched" in second.output_text
    sent = {i.get("type"): i for i in fake_responses.last["input"]}
    assert sent["custom_tool_call"]["input"] == "Paris"


def test_upstream_encrypted_reasoning_round_trips_unchanged(sdk: openai.OpenAI, fake_responses: FakeResponses) -> None:
    r = sdk.responses.create(model="thinker", input="hi", include=["reasoning.encrypted_content"], store=False)
    [reasoning] = [o for o in r.output if o.type == "reasoning"]
    assert reasoning.encrypted_content and reasoning.encrypted_content.startswith(ENCRYPTED_PREFIX)
    follow: list[Any] = [
        {"role": "user", "content": "hi"},
        reasoning.model_dump(exclude_none=True),
        {"role": "assistant", "content": r.output_text},
        {"role": "user", "content": "more"},
    ]
    sdk.responses.create(model="thinker", input=follow, include=["reasoning.encrypted_content"], store=False)
    replayed = [i for i in fake_responses.last["input"] if i.get("type") == "reasoning"]
    assert replayed and replayed[0]["encrypted_content"] == reasoning.encrypted_content


def test_compact_is_forwarded(gw: Gateway, fake_responses: FakeResponses) -> None:
    body = {"model": "gpt-resp", "input": [{"role": "user", "content": "a long conversation"}]}
    r = httpx.post(gw.url + "/v1/responses/compact", json=body, timeout=10)
    assert r.status_code == 200, r.text
    assert fake_responses.last["model"] == "gpt-resp"
    assert r.json()["output"][-1]["type"] == "compaction"


def _tokens(gw: Gateway, direction: str) -> float:
    rows = httpx.get(gw.url + "/metrics").text.splitlines()
    return sum(
        float(r.rsplit(" ", 1)[1])
        for r in rows
        if r.startswith("llm_link_tokens_total{") and 'model="gpt-resp"' in r and f'direction="{direction}"' in r
    )


def test_compact_is_metered_like_any_call(gw: Gateway) -> None:
    """/compact is an upstream call like others: its tokens show in the metrics and the answer names the target."""
    before_in, before_out = _tokens(gw, "input"), _tokens(gw, "output")
    body = {"model": "gpt-resp", "input": [{"role": "user", "content": "fold this"}]}
    r = httpx.post(gw.url + "/v1/responses/compact", json=body, timeout=10)
    assert r.status_code == 200, r.text
    assert r.headers["x-llm-link-provider"] == "resp/gpt-resp"
    assert _tokens(gw, "input") - before_in == 20  # the fake upstream's usage
    assert _tokens(gw, "output") - before_out == 5
