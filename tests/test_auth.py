"""Gateway keys over HTTP in every dialect: who may call, which models, per-key usage, keys never leaked."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from collections.abc import Iterator

import anthropic
import httpx
import ollama
import openai
import pytest
import yaml

from tests.fakes.openai_upstream import API_KEY as UPSTREAM_KEY
from tests.fakes.openai_upstream import FakeOpenAI
from tests.harness import ROOT, Gateway

TEAM_A = "sk-team-a-0123456789abcdef"
TEAM_B = "sk-team-b-fedcba9876543210"  # configured only by its sha256
OPS = "sk-ops-ffffffff"
MSG = [{"role": "user", "content": "hello"}]


@pytest.fixture(scope="module")
def gw(fake_openai: FakeOpenAI) -> Iterator[Gateway]:
    config = {
        "providers": {
            "mock": {"type": "mock"},
            "oai": {"type": "openai", "base_url": fake_openai.url, "api_key": UPSTREAM_KEY},  # type: ignore[attr-defined]
        },
        "models": {
            "demo": "mock/demo",
            "gpt-test": "oai/gpt-test",
            "claude-mini": "mock/claude-mini",
            "priced": {"provider": "mock", "model": "priced", "price": {"input": 1000, "output": 2000}},
        },
        "dialects": {"ollama": {"auth": False}},  # an editor on localhost, as the seed's no-auth config
        "auth": {
            "keys": [
                {"name": "team-a", "key": TEAM_A, "models": ["demo", "gpt-*", "priced", "mock/*"]},
                {"name": "team-b", "key_sha256": hashlib.sha256(TEAM_B.encode()).hexdigest(), "models": ["claude-*"]},
                {"name": "ops", "key": "${OPS_KEY}"},
            ]
        },
    }
    with Gateway(config, env={"OPS_KEY": OPS}) as g:
        yield g


def oai(gw: Gateway, key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=gw.url + "/v1", api_key=key, max_retries=0)


# ---------------------------------------------------------------------------------------------- OpenAI


def test_openai_bearer_key_works_and_upstream_gets_its_own_key(gw: Gateway, fake_openai: FakeOpenAI) -> None:
    r = oai(gw, TEAM_A).chat.completions.create(model="gpt-test", messages=MSG)
    assert r.choices[0].message.content
    # The fake upstream only accepts its own key; the gateway key is never passed on.
    upstream = fake_openai.headers[-1]
    assert all(TEAM_A not in v for v in upstream.values())


def test_openai_missing_key_is_401_in_openai_shape(gw: Gateway) -> None:
    r = httpx.post(gw.url + "/v1/chat/completions", json={"model": "demo", "messages": MSG})
    assert r.status_code == 401
    err = r.json()["error"]
    assert err["type"] == "authentication_error" and "Authorization: Bearer" in err["message"]


def test_openai_wrong_key_is_401(gw: Gateway) -> None:
    with pytest.raises(openai.AuthenticationError) as info:
        oai(gw, "sk-wrong").chat.completions.create(model="demo", messages=MSG)
    assert info.value.status_code == 401
    assert "sk-wrong" not in str(info.value)


def test_x_api_key_header_works_on_openai_dialect(gw: Gateway) -> None:
    r = httpx.post(
        gw.url + "/v1/chat/completions", headers={"x-api-key": TEAM_A}, json={"model": "demo", "messages": MSG}
    )
    assert r.status_code == 200, r.text


def test_key_given_as_sha256_works(gw: Gateway) -> None:
    r = oai(gw, TEAM_B).chat.completions.create(model="claude-mini", messages=MSG)
    assert r.choices[0].message.content == "You said: hello"


def test_key_from_environment_variable(gw: Gateway) -> None:
    r = oai(gw, OPS).chat.completions.create(model="gpt-test", messages=MSG)
    assert r.choices[0].message.content


def test_model_outside_globs_is_403(gw: Gateway) -> None:
    with pytest.raises(openai.PermissionDeniedError) as info:
        oai(gw, TEAM_B).chat.completions.create(model="demo", messages=MSG)
    assert "team-b" in info.value.message and "demo" in info.value.message
    with pytest.raises(openai.PermissionDeniedError):
        oai(gw, TEAM_B).chat.completions.create(model="demo", messages=MSG, stream=True)


def test_globs_match_provider_slash_model_form(gw: Gateway) -> None:
    r = oai(gw, TEAM_A).chat.completions.create(model="mock/anything", messages=MSG)
    assert r.choices[0].message.content == "You said: hello"
    with pytest.raises(openai.PermissionDeniedError):
        oai(gw, TEAM_B).chat.completions.create(model="mock/claude-mini", messages=MSG)


def test_listing_models_needs_a_key(gw: Gateway) -> None:
    assert httpx.get(gw.url + "/v1/models").status_code == 401
    ids = [m.id for m in oai(gw, TEAM_A).models.list()]
    assert "demo" in ids


def test_probes_and_metrics_need_no_key(gw: Gateway) -> None:
    assert httpx.get(gw.url + "/health").status_code == 200
    assert httpx.get(gw.url + "/ready").status_code == 200
    assert httpx.get(gw.url + "/metrics").status_code == 200


def test_stream_with_key(gw: Gateway) -> None:
    chunks = list(oai(gw, TEAM_A).chat.completions.create(model="demo", messages=MSG, stream=True))
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "You said: hello"


# ---------------------------------------------------------------------------------------------- Anthropic


def test_anthropic_sdk_sends_x_api_key(gw: Gateway) -> None:
    client = anthropic.Anthropic(base_url=gw.url + "/anthropic", api_key=TEAM_B, max_retries=0)
    r = client.messages.create(model="claude-mini", max_tokens=50, messages=MSG)
    assert r.content[0].text == "You said: hello"


def test_anthropic_bearer_token_works(gw: Gateway) -> None:
    client = anthropic.Anthropic(base_url=gw.url + "/anthropic", auth_token=TEAM_B, max_retries=0)
    r = client.messages.create(model="claude-mini", max_tokens=50, messages=MSG)
    assert r.content[0].text == "You said: hello"


def test_anthropic_wrong_key_is_401_in_anthropic_shape(gw: Gateway) -> None:
    r = httpx.post(
        gw.url + "/anthropic/v1/messages",
        headers={"x-api-key": "nope", "anthropic-version": "2023-06-01"},
        json={"model": "claude-mini", "max_tokens": 10, "messages": MSG},
    )
    assert r.status_code == 401
    body = r.json()
    assert body["type"] == "error" and body["error"]["type"] == "authentication_error"


def test_anthropic_forbidden_model_is_403(gw: Gateway) -> None:
    client = anthropic.Anthropic(base_url=gw.url + "/anthropic", api_key=TEAM_B, max_retries=0)
    with pytest.raises(anthropic.PermissionDeniedError) as info:
        client.messages.create(model="demo", max_tokens=50, messages=MSG)
    assert info.value.body["error"]["type"] == "permission_error"  # type: ignore[index]


# ---------------------------------------------------------------------------------------------- Ollama


@pytest.fixture(scope="module")
def ollama_locked(fake_openai: FakeOpenAI) -> Iterator[Gateway]:
    """Ollama behind a key (the default once `auth:` is set)."""
    config = {
        "providers": {"mock": {"type": "mock"}},
        "models": {"demo": "mock/demo", "other": "mock/other"},
        "auth": {"keys": [{"name": "editor", "key": TEAM_A}, {"name": "narrow", "key": TEAM_B, "models": ["demo"]}]},
    }
    with Gateway(config) as g:
        yield g


def test_ollama_dialect_opened_without_key(gw: Gateway) -> None:
    r = ollama.Client(host=gw.url + "/ollama").chat(model="demo", messages=MSG, stream=False)
    assert r.message.content == "You said: hello"


def test_ollama_client_with_bearer_key(ollama_locked: Gateway) -> None:
    client = ollama.Client(host=ollama_locked.url + "/ollama", headers={"Authorization": f"Bearer {TEAM_A}"})
    r = client.chat(model="demo", messages=MSG, stream=False)
    assert r.message.content == "You said: hello"


def test_ollama_without_key_is_401_in_ollama_shape(ollama_locked: Gateway) -> None:
    with pytest.raises(ollama.ResponseError) as info:
        ollama.Client(host=ollama_locked.url + "/ollama").chat(model="demo", messages=MSG, stream=False)
    assert info.value.status_code == 401
    r = httpx.post(ollama_locked.url + "/ollama/api/chat", json={"model": "demo", "messages": MSG})
    assert r.status_code == 401 and isinstance(r.json()["error"], str)


# ---------------------------------------------------------------------------------------------- usage, logs


def test_per_key_usage_and_cost_metrics(gw: Gateway) -> None:
    oai(gw, TEAM_A).chat.completions.create(model="priced", messages=MSG)
    text = httpx.get(gw.url + "/metrics").text
    lines = [line for line in text.splitlines() if 'key="team-a"' in line and 'model="priced"' in line]
    assert any(line.startswith("llm_link_key_requests_total{") and 'status="200"' in line for line in lines)
    assert any(line.startswith("llm_link_key_tokens_total{") and 'direction="output"' in line for line in lines)
    cost = [float(line.rsplit(" ", 1)[1]) for line in lines if line.startswith("llm_link_key_cost_total{")]
    assert cost and cost[0] > 0


def test_log_names_the_key_never_the_secret(gw: Gateway) -> None:
    oai(gw, TEAM_A).chat.completions.create(model="demo", messages=MSG)
    httpx.post(
        gw.url + "/v1/chat/completions",
        headers={"Authorization": "Bearer sk-guess-1234"},
        json={"model": "demo", "messages": MSG},
    )
    log = gw.log()
    assert '"key":"team-a"' in log
    for secret in (TEAM_A, TEAM_B, OPS, "sk-guess-1234"):
        assert secret not in log


def test_bad_auth_config_names_each_problem() -> None:
    bad = {
        "providers": {"mock": {"type": "mock"}},
        "auth": {
            "keys": [
                {"name": "a", "key": "k", "rpm": 0},
                {"name": "a", "key_sha256": "xyz"},
                {"name": "c", "key": "k2", "models": "gpt-*"},
                {"name": "d"},
            ]
        },
        "state": {"redis_url": "http://localhost"},
    }
    path = ROOT / "tests" / ".auth-bad.yaml"
    path.write_text(yaml.safe_dump(bad))
    try:
        r = subprocess.run(
            [sys.executable, "-m", "gateway.cli", "check", "-c", str(path)], capture_output=True, text=True, cwd=ROOT
        )
    finally:
        path.unlink()
    assert r.returncode == 1
    assert "auth.keys[2].models" in r.stderr
    assert "state.redis_url" in r.stderr
    assert "Traceback" not in r.stderr


def test_count_tokens_respects_model_globs(gw: Gateway) -> None:
    client = anthropic.Anthropic(base_url=gw.url + "/anthropic", api_key=TEAM_B, max_retries=0)
    assert client.messages.count_tokens(model="claude-mini", messages=MSG).input_tokens > 0
    with pytest.raises(anthropic.PermissionDeniedError):
        client.messages.count_tokens(model="demo", messages=MSG)


def test_listings_show_only_the_models_a_key_may_use(gw: Gateway) -> None:
    ids = {m.id for m in oai(gw, TEAM_B).models.list()}
    assert ids == {"claude-mini"}  # team-b's globs: claude-*
    with pytest.raises(openai.PermissionDeniedError):
        oai(gw, TEAM_B).models.retrieve("demo")
    anth = anthropic.Anthropic(base_url=gw.url + "/anthropic", api_key=TEAM_B, max_retries=0)
    assert [m.id for m in anth.models.list()] == ["claude-mini"]
    assert {"demo", "gpt-test"} <= {m.id for m in oai(gw, OPS).models.list()}  # no globs: everything


def test_ollama_tags_and_show_respect_model_globs(ollama_locked: Gateway) -> None:
    narrow = ollama.Client(host=ollama_locked.url + "/ollama", headers={"Authorization": f"Bearer {TEAM_B}"})
    assert [m.model for m in narrow.list().models] == ["demo:latest"]
    assert narrow.show("demo").capabilities
    with pytest.raises(ollama.ResponseError) as info:
        narrow.show("other")
    assert info.value.status_code == 403
    editor = ollama.Client(host=ollama_locked.url + "/ollama", headers={"Authorization": f"Bearer {TEAM_A}"})
    assert {m.model for m in editor.list().models} >= {"demo:latest", "other:latest"}
