"""Responses request fields on the translated lane (SPEC §7): sent to a Chat Completions upstream under chat's
names where chat has them (`prompt_cache_key`, `prompt_cache_retention`, `service_tier`,
`top_logprobs` with `logprobs`, `text.verbosity` as `verbosity`, `safety_identifier` as `user`), the
Responses-only ones (`include`, `truncation`, `max_tool_calls`, and `metadata`, which api.openai.com's chat
refuses without `store: true`; counted as `responses.metadata`) dropped and counted in
`llm_link_dropped_fields_total`; to an Anthropic upstream, which has none of them, all counted. The `openai` SDK
talks to the gateway; the fakes reject fields their real APIs reject."""

from __future__ import annotations

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

FIELDS: dict[str, Any] = {
    "include": ["message.output_text.logprobs", "reasoning.encrypted_content"],
    "metadata": {"run": "r1"},
    "prompt_cache_key": "conv-1",
    "prompt_cache_retention": "24h",
    "safety_identifier": "hashed-user-1",
    "service_tier": "flex",
    "truncation": "auto",
    "text": {"verbosity": "low"},
    "top_logprobs": 2,
    "max_tool_calls": 3,
    "store": False,
}
MAPPED_TO_CHAT = {"prompt_cache_key", "prompt_cache_retention", "service_tier", "top_logprobs"}
RESPONSES_ONLY = {"include", "truncation", "max_tool_calls", "metadata"}
COUNTED_ONLY = {"include", "truncation", "max_tool_calls", "responses.metadata"}


@pytest.fixture(scope="module")
def gw(fake_openai: FakeOpenAI, fake_anthropic: FakeAnthropic) -> Iterator[Gateway]:
    config = {
        "providers": {
            "oai": {"type": "openai", "base_url": fake_openai.url, "api_key": OPENAI_KEY},  # type: ignore[attr-defined]
            "claude": {"type": "anthropic", "base_url": fake_anthropic.url, "api_key": ANTHROPIC_KEY},  # type: ignore[attr-defined]
        },
        "models": {"to-openai": "oai/gpt-test", "to-claude": "claude/claude-test"},
    }
    with Gateway(config) as g:
        yield g


def dropped(gw: Gateway, provider: str) -> dict[str, float]:
    out: dict[str, float] = {}
    for line in httpx.get(gw.url + "/metrics").text.splitlines():
        if line.startswith("llm_link_dropped_fields_total{"):
            labels, value = line.rsplit(" ", 1)
            if 'dialect="responses"' in labels and f'provider="{provider}"' in labels:
                out[labels.split('field="', 1)[1].split('"', 1)[0]] = float(value)
    return out


def increments(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    return {k: v - before.get(k, 0.0) for k, v in after.items() if v != before.get(k, 0.0)}


def client(gw: Gateway) -> openai.OpenAI:
    return openai.OpenAI(base_url=gw.url + "/v1", api_key="sk-client", max_retries=0)


def test_responses_fields_to_a_chat_upstream_mapped_or_counted(gw: Gateway, fake_openai: FakeOpenAI) -> None:
    before = dropped(gw, "oai")
    out = client(gw).responses.create(model="to-openai", input="hi", **FIELDS)
    assert out.status == "completed" and out.output_text == "echo: hi"
    sent = fake_openai.last
    assert {k: sent.get(k) for k in MAPPED_TO_CHAT} == {k: FIELDS[k] for k in MAPPED_TO_CHAT}
    assert sent["logprobs"] is True and sent["verbosity"] == "low" and sent["user"] == "hashed-user-1"
    assert not RESPONSES_ONLY & sent.keys() and not any(":" in k for k in sent)
    assert "store" not in sent and "safety_identifier" not in sent
    assert increments(before, dropped(gw, "oai")) == dict.fromkeys(COUNTED_ONLY, 1.0)


def test_streamed_to_a_chat_upstream_counted_once(gw: Gateway, fake_openai: FakeOpenAI) -> None:
    before = dropped(gw, "oai")
    with client(gw).responses.stream(model="to-openai", input="hi", **FIELDS) as stream:
        final = stream.get_final_response()
    assert final.output_text == "echo: hi"
    assert not RESPONSES_ONLY & fake_openai.last.keys()
    assert increments(before, dropped(gw, "oai")) == dict.fromkeys(COUNTED_ONLY, 1.0)


def test_responses_fields_to_anthropic_all_counted(gw: Gateway, fake_anthropic: FakeAnthropic) -> None:
    before = dropped(gw, "claude")
    out = client(gw).responses.create(model="to-claude", input="hi", **FIELDS)
    assert out.status == "completed" and out.output_text
    sent = fake_anthropic.last
    assert sent["metadata"] == {"user_id": "hashed-user-1"}  # safety_identifier: Anthropic's user id
    assert (
        not (MAPPED_TO_CHAT | RESPONSES_ONLY | {"verbosity", "logprobs", "service_tier"}) - {"metadata"} & sent.keys()
    )
    assert increments(before, dropped(gw, "claude")) == dict.fromkeys(
        MAPPED_TO_CHAT | COUNTED_ONLY | {"verbosity"}, 1.0
    )


def test_values_that_ask_for_nothing_are_not_counted(gw: Gateway, fake_openai: FakeOpenAI) -> None:
    before = dropped(gw, "claude")
    client(gw).responses.create(
        model="to-claude",
        input="hi",
        include=["reasoning.encrypted_content"],  # the gateway's own reasoning envelope answers it
        truncation="disabled",
        service_tier="auto",
        text={"verbosity": "medium"},
        metadata={},
    )
    assert increments(before, dropped(gw, "claude")) == {}


def test_custom_tool_grammar_counted_where_it_cannot_be_enforced(gw: Gateway, fake_openai: FakeOpenAI) -> None:
    before = dropped(gw, "oai")
    grammar = {"type": "grammar", "syntax": "lark", "definition": 'start: "*** Begin Patch" /.+/'}
    tool: Any = {"type": "custom", "name": "apply_patch", "description": "Patch files", "format": grammar}
    out = client(gw).responses.create(model="to-openai", input="patch it", tools=[tool])
    [call] = [o for o in out.output if o.type == "custom_tool_call"]
    assert call.name == "apply_patch"
    assert "Begin Patch" in fake_openai.last["tools"][0]["function"]["description"]
    assert increments(before, dropped(gw, "oai")) == {"tools.custom": 1.0}
