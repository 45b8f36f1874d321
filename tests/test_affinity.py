"""`affinity: session` over HTTP with the official SDKs: one session (X-Session-Id, X-Claude-Code-Session-Id,
prompt_cache_key, Anthropic metadata.user_id, OpenAI user) always lands on the same upstream, on both lanes,
across workers and replicas; different sessions spread; a session moves off a failing upstream and comes back
when it heals; `llm-link check` shows the setting."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import anthropic
import httpx
import ollama
import openai
import pytest
import yaml

from tests.fakes.anthropic_upstream import API_KEY as ANTHROPIC_KEY
from tests.fakes.anthropic_upstream import FakeAnthropic
from tests.fakes.responses_upstream import API_KEY as RESPONSES_KEY
from tests.fakes.responses_upstream import FakeResponses
from tests.fakes.scripted_upstream import ScriptedUpstream
from tests.harness import Gateway

SCRIPTED = ["s_a", "s_b", "t_a", "t_b", "f_a", "f_b"]


def _config(scripted: str, anthropic_url: str, responses_url: str) -> dict[str, Any]:
    providers: dict[str, Any] = {
        n: {
            "type": "openai",
            "base_url": f"{scripted}/{n}/v1",
            "api_key": "sk-x",
            "circuit": {"failures": 2, "cooldown": 1},
            # t_*: the translated lane (the body is rebuilt from the unified request)
            **({"passthrough": False} if n.startswith("t_") else {}),
        }
        for n in SCRIPTED
    }
    for n in ("an_a", "an_b"):  # two deployments of one fake: the provider header says which answered
        providers[n] = {"type": "anthropic", "base_url": anthropic_url, "api_key": ANTHROPIC_KEY}
    for n in ("rs_a", "rs_b"):
        providers[n] = {"type": "openai", "api": "responses", "base_url": responses_url, "api_key": RESPONSES_KEY}

    def sticky(a: str, b: str, model: str = "m", **extra: Any) -> dict[str, Any]:
        targets = [{"provider": a, "model": model}, {"provider": b, "model": model}]
        return {"targets": targets, "affinity": "session", **extra}

    return {
        "providers": providers,
        "models": {
            "chat": sticky("s_a", "s_b"),
            "chat-t": sticky("t_a", "t_b"),
            "claude": sticky("an_a", "an_b", "claude-test"),
            "resp": sticky("rs_a", "rs_b", "gpt-test"),
            "heal": sticky("f_a", "f_b", retries=1),
        },
    }


@pytest.fixture(scope="module")
def scripted(fake_scripted: ScriptedUpstream) -> ScriptedUpstream:
    return fake_scripted


@pytest.fixture(scope="module")
def config(scripted: ScriptedUpstream, fake_anthropic: FakeAnthropic, fake_responses: FakeResponses) -> dict[str, Any]:
    return _config(scripted.url, fake_anthropic.url, fake_responses.url)  # type: ignore[attr-defined]


@pytest.fixture(scope="module")
def gw(config: dict[str, Any]) -> Iterator[Gateway]:
    with Gateway(config, workers=2) as g:
        yield g


def _fresh() -> httpx.Client:
    """No keep-alive: every request is a new connection, so the two workers both take requests."""
    return httpx.Client(limits=httpx.Limits(max_keepalive_connections=0), timeout=20)


def _oai(gw: Gateway) -> openai.OpenAI:
    return openai.OpenAI(base_url=gw.url + "/v1", api_key="none", http_client=_fresh(), max_retries=0)


def _chat(client: openai.OpenAI, model: str, stream: bool = False, **extra: Any) -> tuple[str, str]:
    """(provider that answered, answer text)."""
    messages: Any = [{"role": "user", "content": "hi"}]
    if stream:
        with client.chat.completions.with_streaming_response.create(
            model=model, messages=messages, stream=True, **extra
        ) as r:
            text = "".join(c.choices[0].delta.content or "" for c in r.parse() if c.choices)
            return r.headers["x-llm-link-provider"], text
    raw = client.chat.completions.with_raw_response.create(model=model, messages=messages, **extra)
    return raw.headers["x-llm-link-provider"], raw.parse().choices[0].message.content or ""


def _home(ask: Callable[[str], str], sessions: list[str], times: int = 6) -> dict[str, str]:
    """Each session's upstream, asserting that every one of its `times` requests went there."""
    homes = {}
    for s in sessions:
        seen = {ask(s) for _ in range(times)}
        assert len(seen) == 1, f"session {s} answered by {seen}"
        homes[s] = seen.pop()
    return homes


SESSIONS = [f"conv-{i:02d}" for i in range(16)]


def test_x_session_id_sticks_on_the_forwarding_lane_and_sessions_spread(
    gw: Gateway, scripted: ScriptedUpstream
) -> None:
    client = _oai(gw)
    homes = _home(lambda s: _chat(client, "chat", extra_headers={"X-Session-Id": s})[0], SESSIONS)
    assert set(homes.values()) == {"s_a/m", "s_b/m"}  # different sessions spread over both targets
    provider, text = _chat(client, "chat", extra_headers={"X-Session-Id": SESSIONS[0]})
    assert text == f"from {homes[SESSIONS[0]].split('/')[0]}"  # the answer really came from there
    for s in SESSIONS[:4]:  # a stream goes the same way
        assert _chat(client, "chat", stream=True, extra_headers={"X-Session-Id": s})[0] == homes[s]
    log = gw.log()
    assert not any(s in log for s in SESSIONS)  # session keys are never logged


@pytest.mark.parametrize("model", ["chat", "chat-t"])  # forwarded, translated
def test_body_fields_stick_on_both_openai_lanes(gw: Gateway, model: str) -> None:
    client = _oai(gw)
    by_cache = _home(lambda s: _chat(client, model, prompt_cache_key=s)[0], SESSIONS)
    by_user = _home(lambda s: _chat(client, model, user=s)[0], SESSIONS)
    assert len(set(by_cache.values())) == 2 and by_user == by_cache  # same string, same place
    # X-Session-Id wins over prompt_cache_key, which wins over user
    head = SESSIONS[0]
    others = [s for s in SESSIONS if by_cache[s] != by_cache[head]]
    assert others
    for s in others[:4]:
        assert _chat(client, model, prompt_cache_key=s, extra_headers={"X-Session-Id": head})[0] == by_cache[head]
        assert _chat(client, model, prompt_cache_key=head, user=s)[0] == by_cache[head]


def test_without_a_session_the_choice_stays_weighted(gw: Gateway) -> None:
    client = _oai(gw)
    seen = {_chat(client, "chat")[0] for _ in range(30)}
    assert seen == {"s_a/m", "s_b/m"}  # 2**-29 to fail by chance


def test_same_session_lands_on_the_same_upstream_in_another_replica(gw: Gateway, config: dict[str, Any]) -> None:
    mine = _home(lambda s: _chat(_oai(gw), "chat", extra_headers={"X-Session-Id": s})[0], SESSIONS, times=2)
    with Gateway(config) as other:
        client = _oai(other)
        theirs = _home(lambda s: _chat(client, "chat", extra_headers={"X-Session-Id": s})[0], SESSIONS, times=2)
    assert theirs == mine


def _anthropic(gw: Gateway) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=gw.url + "/anthropic", api_key="none", max_retries=0)


def _message(client: anthropic.Anthropic, model: str, **extra: Any) -> str:
    raw = client.messages.with_raw_response.create(
        model=model, max_tokens=20, messages=[{"role": "user", "content": "hi"}], **extra
    )
    raw.parse()
    return raw.headers["x-llm-link-provider"]


@pytest.mark.parametrize("model", ["claude", "chat"])  # anthropic upstreams (forwarded), OpenAI ones (translated)
def test_anthropic_metadata_user_id_and_claude_code_session_header(gw: Gateway, model: str) -> None:
    client = _anthropic(gw)
    # Claude Code's user_id carries its session; the forwarding lane (anthropic upstreams) and the
    # translated one (OpenAI upstreams) both read it
    ids = [f"user_{'ab' * 32}_account__session_{i:08d}-0000-4000-8000-000000000000" for i in range(12)]
    homes = _home(lambda u: _message(client, model, metadata={"user_id": u}), ids, times=4)
    assert len(set(homes.values())) == 2
    by_header = _home(lambda u: _message(client, model, extra_headers={"X-Claude-Code-Session-Id": u}), ids, times=2)
    assert by_header == homes
    head = ids[0]
    for u in [u for u in ids if homes[u] != homes[head]][:3]:  # the header wins over the body
        assert (
            _message(client, model, metadata={"user_id": u}, extra_headers={"X-Claude-Code-Session-Id": head})
            == homes[head]
        )


@pytest.mark.parametrize("model", ["resp", "chat"])  # an `api: responses` upstream (forwarded), a chat one
def test_responses_prompt_cache_key_on_both_lanes(gw: Gateway, model: str) -> None:
    client = _oai(gw)

    def ask(model: str, key: str) -> str:
        raw = client.responses.with_raw_response.create(model=model, input="hi", prompt_cache_key=key)
        raw.parse()
        return raw.headers["x-llm-link-provider"]

    homes = _home(lambda s: ask(model, s), SESSIONS, times=3)
    assert len(set(homes.values())) == 2


def test_ollama_client_session_header(gw: Gateway) -> None:
    homes = {}
    for s in SESSIONS[:8]:
        client = ollama.Client(host=gw.url + "/ollama", headers={"X-Session-Id": s})
        seen = set()
        for _ in range(3):
            r = client.chat(model="chat", messages=[{"role": "user", "content": "hi"}], stream=False)
            seen.add(r.message.content)
        assert len(seen) == 1
        homes[s] = seen.pop()
    assert set(homes.values()) == {"from s_a", "from s_b"}


def test_session_moves_off_a_failing_upstream_and_comes_back_when_it_heals(
    gw: Gateway, scripted: ScriptedUpstream
) -> None:
    client = _oai(gw)
    session = {"X-Session-Id": "long-conversation"}
    home, _ = _chat(client, "heal", extra_headers=session)
    other = "f_b/m" if home == "f_a/m" else "f_a/m"
    home_name = home.split("/")[0]
    scripted.script(home_name, ["500"])
    try:
        # Every request is still answered, by the other upstream (first as a retry, then straight there once
        # the home circuit is open in the worker that answers)
        straight = False
        for _ in range(200):
            raw = client.chat.completions.with_raw_response.create(
                model="heal", messages=[{"role": "user", "content": "hi"}], extra_headers=session
            )
            assert raw.headers["x-llm-link-provider"] == other
            if raw.headers["x-llm-link-attempts"] == "1":
                straight = True
                break
        assert straight, "the failing upstream was never skipped"
        assert scripted.hits[home_name] >= 2
    finally:
        scripted.script(home_name, ["ok"])
    # Healed: after the cooldown the session's own upstream gets the probe, and the session stays there
    streak = 0
    for _ in range(400):
        provider, _ = _chat(client, "heal", extra_headers=session)
        streak = streak + 1 if provider == home else 0
        if streak >= 10:
            break
        time.sleep(0.05)
    assert streak >= 10, "the session did not come back to its upstream"


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LLM_LINK_")}
    return subprocess.run(
        [sys.executable, "-m", "gateway.cli", *args], capture_output=True, text=True, env=env, timeout=60
    )


def test_check_shows_affinity_and_rejects_other_values(tmp_path: Path, config: dict[str, Any]) -> None:
    path = tmp_path / "llm-link.yaml"
    path.write_text(yaml.safe_dump(config))
    r = _cli("check", "-c", str(path))
    assert r.returncode == 0, r.stderr
    line = next(x for x in r.stdout.splitlines() if x.strip().startswith("chat ->"))
    assert "s_a/m (weight 1), s_b/m (weight 1)" in line and "affinity: session" in line
    bad = {**config, "models": {**config["models"], "chat": {**config["models"]["chat"], "affinity": "sticky"}}}
    path.write_text(yaml.safe_dump(bad))
    r = _cli("check", "-c", str(path))
    assert r.returncode != 0
    assert "models.chat.affinity: expected `session`, got 'sticky'" in r.stdout + r.stderr
    assert "Traceback" not in r.stderr
