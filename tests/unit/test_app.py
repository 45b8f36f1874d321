"""create_app in-process: several apps in one process, each with its own metrics registry, answering
every dialect over ASGI without a server process (the mock provider needs no upstream)."""

from __future__ import annotations

import itertools

import pytest
from sanic import Sanic

from gateway.app import create_app
from gateway.config import parse

pytest.importorskip("sanic_testing")

_names = itertools.count()


def make_app() -> Sanic:
    raw = {"providers": {"mock": {"type": "mock"}}, "models": {"demo": "mock/demo"}}
    cfg = parse({**raw, "server": {"allowed_hosts": ["mockserver"]}}, "test")  # the ASGI client's Host
    return create_app(cfg, name=f"unit_{next(_names)}")


def _count(app: Sanic, metric: str) -> float:
    """Samples of `metric` on the app's own registry (the ASGI test client starts the app per request, so
    this is the last request's)."""
    registry = app.ctx.metrics.registry
    return sum(s.value for fam in registry.collect() for s in fam.samples if s.name == metric and s.labels.get("model"))


async def test_two_apps_in_one_process_keep_their_own_metrics() -> None:
    first, second = make_app(), make_app()
    body = {"model": "demo", "messages": [{"role": "user", "content": "hello"}]}
    _, r = await first.asgi_client.post("/v1/chat/completions", json=body)
    assert r.status == 200 and r.json["choices"][0]["message"]["content"] == "You said: hello"
    _, r = await second.asgi_client.post("/anthropic/v1/messages", json={**body, "max_tokens": 10})
    assert r.status == 200 and r.json["content"][0]["text"] == "You said: hello"
    assert _count(first, "llm_link_requests_total") == 1
    assert _count(second, "llm_link_requests_total") == 1


async def test_streams_and_errors_in_process() -> None:
    app = make_app()
    body = {"model": "demo", "stream": True, "messages": [{"role": "user", "content": "hi there"}]}
    _, r = await app.asgi_client.post("/v1/chat/completions", json=body)
    assert r.status == 200 and r.text.rstrip().endswith("data: [DONE]")
    _, r = await app.asgi_client.post("/ollama/api/chat", json={**body, "model": "nope"})
    assert r.status == 404 and "nope" in r.json["error"]
    _, r = await app.asgi_client.post(
        "/v1/chat/completions", content=b"{", headers={"content-type": "application/json"}
    )
    assert r.status == 400 and r.json["error"]["type"] == "invalid_request_error"
