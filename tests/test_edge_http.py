"""The client side of the safe edge, each test an attack first: a web page driving a gateway on
the user's machine (CORS, DNS rebinding, simple requests), /metrics behind a key, header values that used to
crash a worker after the upstream was paid, and names chosen by clients that grew metrics and memory."""

from __future__ import annotations

import asyncio
import json
import re
import socket
from collections.abc import Iterator

import httpx
import pytest

from tests.harness import Gateway

METRICS_KEY = "metrics-key-for-tests"
CHAT = {"model": "demo", "messages": [{"role": "user", "content": "hi"}]}


@pytest.fixture(scope="module")
def gw() -> Iterator[Gateway]:
    config = {
        "server": {"max_dynamic_models": 16, "metrics_key": METRICS_KEY, "allowed_hosts": ["gw.internal"]},
        "providers": {"mock": {"type": "mock"}},
        "models": {"demo": "mock/demo"},
    }
    with Gateway(config) as g:
        yield g


def _metrics(gw: Gateway) -> str:
    r = httpx.get(gw.url + "/metrics", headers={"Authorization": f"Bearer {METRICS_KEY}"})
    assert r.status_code == 200
    return r.text


# ---------------------------------------------------------------------------------------------- a web page


def test_cors_allows_localhost_pages_only(gw: Gateway) -> None:
    for origin, allowed in (
        ("http://localhost:5173", True),
        ("http://127.0.0.1:3000", True),
        ("https://evil.example", False),
        ("http://localhost.evil.example", False),
    ):
        r = httpx.post(gw.url + "/v1/chat/completions", json=CHAT, headers={"Origin": origin})
        assert r.status_code == 200
        assert r.headers.get("access-control-allow-origin") == (origin if allowed else None), origin


def test_cors_origins_widens_the_default() -> None:
    config = {
        "server": {"cors_origins": ["https://app.example"]},
        "providers": {"mock": {"type": "mock"}},
        "models": {"demo": "mock/demo"},
    }
    with Gateway(config) as g:
        for origin in ("https://app.example", "http://localhost:8000"):
            r = httpx.post(g.url + "/v1/chat/completions", json=CHAT, headers={"Origin": origin})
            assert r.headers.get("access-control-allow-origin") == origin
        r = httpx.post(g.url + "/v1/chat/completions", json=CHAT, headers={"Origin": "https://other.example"})
        assert "access-control-allow-origin" not in r.headers


def test_dns_rebinding_host_is_refused_while_on_loopback(gw: Gateway) -> None:
    port = gw.port
    for host in (f"evil.example:{port}", "evil.example", f"127.0.0.1.evil.example:{port}"):
        for method, path in (("POST", "/v1/chat/completions"), ("GET", "/metrics"), ("GET", "/ollama/api/tags")):
            r = httpx.request(method, gw.url + path, json=CHAT, headers={"Host": host})
            assert r.status_code == 403, (host, path)
            assert "allowed_hosts" in r.text and r.headers.get("x-request-id")  # an answer, a log line
    for host in (f"localhost:{port}", f"127.0.0.1:{port}", f"gw.internal:{port}", f"app.localhost:{port}"):
        r = httpx.post(gw.url + "/v1/chat/completions", json=CHAT, headers={"Host": host})
        assert r.status_code == 200, host


@pytest.mark.parametrize("ctype", ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data", None])
def test_model_calls_must_be_json(gw: Gateway, ctype: str | None) -> None:
    """The content types a browser sends cross-origin without a preflight are refused, in each dialect's shape."""
    body = json.dumps(CHAT).encode()
    headers = {"Origin": "https://evil.example"}
    if ctype:
        headers["Content-Type"] = ctype
    r = httpx.post(gw.url + "/v1/chat/completions", content=body, headers=headers)
    assert r.status_code == 415 and r.json()["error"]["param"] == "Content-Type"
    anthropic = {**CHAT, "max_tokens": 10}
    r = httpx.post(gw.url + "/anthropic/v1/messages", content=json.dumps(anthropic), headers=headers)
    assert r.status_code == 415 and r.json()["type"] == "error"
    r = httpx.post(gw.url + "/ollama/api/chat", content=body, headers=headers)
    assert r.status_code == 415 and "application/json" in r.json()["error"]


def test_ollama_takes_curl_bodies_from_non_browsers(gw: Gateway) -> None:
    """`curl http://localhost:11434/api/chat -d '{...}'` (Ollama's own docs) sends a form content type and no Origin."""
    body = json.dumps({**CHAT, "stream": False})
    r = httpx.post(
        gw.url + "/ollama/api/chat", content=body, headers={"Content-Type": "application/x-www-form-urlencoded"}
    )
    assert r.status_code == 200 and r.json()["message"]["content"] == "You said: hi"
    r = httpx.post(
        gw.url + "/v1/chat/completions", content=body, headers={"Content-Type": "application/json; charset=utf-8"}
    )
    assert r.status_code == 200


def test_metrics_needs_the_key_when_set(gw: Gateway) -> None:
    r = httpx.get(gw.url + "/metrics")
    assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
    assert httpx.get(gw.url + "/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert "llm_link_requests_total" in _metrics(gw)
    assert httpx.get(gw.url + "/health").status_code == 200  # probes stay open


# ---------------------------------------------------------------------------------------------- header values


def _raw(port: int, request: bytes) -> tuple[int, dict[str, bytes], bytes]:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(request)
        data = b""
        while b"\r\n\r\n" not in data:
            data += s.recv(65536)
        head, _, rest = data.partition(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        headers = {k.strip().lower().decode(): v.strip() for k, _, v in (line.partition(b":") for line in lines[1:])}
        length = int(headers.get("content-length", b"0"))
        while len(rest) < length:
            rest += s.recv(65536)
        return int(lines[0].split()[1]), headers, rest


def test_non_utf8_request_id_is_cleaned_not_a_500(gw: Gateway) -> None:
    body = json.dumps(CHAT).encode()
    request = (
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        b"X-Request-ID: ab\xff\xfe\x80cd\x01ef\r\nConnection: close\r\n"
        b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body
    )
    status, headers, answer = _raw(gw.port, request)
    assert status == 200 and json.loads(answer)["choices"][0]["message"]["content"] == "You said: hi"
    assert headers["x-request-id"] == b"abcdef"
    line = [x for x in gw.log().splitlines() if '"request_id":"abcdef"' in x]
    assert line and json.loads(line[-1])["status"] == 200


def test_long_request_id_is_bounded(gw: Gateway) -> None:
    r = httpx.post(gw.url + "/v1/chat/completions", json=CHAT, headers={"X-Request-ID": "r" * 5000})
    assert r.status_code == 200 and r.headers["x-request-id"] == "r" * 128


def test_model_names_reach_response_headers_as_ascii(gw: Gateway) -> None:
    r = httpx.post(gw.url + "/v1/chat/completions", json={**CHAT, "model": "mock/h\u00e9llo\u2603\r\nSet-Cookie: a=b"})
    assert r.status_code == 200
    provider = r.headers["x-llm-link-provider"]
    assert provider.isascii() and "\r" not in provider and "set-cookie" not in r.headers
    assert provider.startswith("mock/h%C3%A9llo")


# ---------------------------------------------------------------------------------------------- bounded names


def test_thousands_of_model_names_leave_metrics_bounded(gw: Gateway) -> None:
    async def run() -> dict[int, int]:
        statuses: dict[int, int] = {}
        limits = httpx.Limits(max_connections=16)
        async with httpx.AsyncClient(base_url=gw.url, limits=limits, timeout=60) as client:
            sem = asyncio.Semaphore(16)

            async def one(model: str) -> None:
                async with sem:
                    r = await client.post("/v1/chat/completions", json={**CHAT, "model": model})
                    statuses[r.status_code] = statuses.get(r.status_code, 0) + 1

            names = [f"mock/name-{i}" for i in range(2000)] + [f"nobody-{i}" for i in range(500)]
            await asyncio.gather(*(one(n) for n in names))
            for i in range(3):  # names of half a megabyte
                await one(f"mock/{i}{'x' * 500_000}")
        return statuses

    statuses = asyncio.run(run())
    assert statuses[404] == 500 + 3  # unknown names, and names too long to pass through
    assert statuses[200] == 2000
    text = _metrics(gw)
    labels = set(re.findall(r'llm_link_requests_total\{[^}]*model="([^"]*)"', text))
    assert "other" in labels and not any(n.startswith("nobody-") for n in labels)
    assert len(labels) <= 16 + 3  # the first 16 names, `other`, `demo`, and `-` (no model)
    assert max(len(n) for n in labels) < 100
    assert len(text) < 300_000


def test_unknown_models_on_every_dialect_create_no_metric_series(gw: Gateway) -> None:
    """A 404 for an unknown model is counted under `model="-"`: the client's name never becomes a label."""
    name = "ghost-" + "g" * 200
    msgs = [{"role": "user", "content": "hi"}]
    calls = [
        ("/anthropic/v1/messages", {"model": name, "max_tokens": 5, "messages": msgs}),
        ("/anthropic/v1/messages/count_tokens", {"model": name, "messages": msgs}),
        ("/ollama/api/chat", {"model": name, "messages": msgs, "stream": False}),
        ("/v1/responses", {"model": name, "input": "hi"}),
        ("/v1/embeddings", {"model": name, "input": "hi"}),
        (f"/gemini/v1beta/models/{name}:generateContent", {"contents": [{"parts": [{"text": "hi"}]}]}),
    ]
    for path, body in calls:
        assert httpx.post(gw.url + path, json=body, timeout=10).status_code == 404, path
    text = _metrics(gw)
    assert "ghost-" not in text
    assert re.search(r'llm_link_requests_total\{dialect="gemini",model="-",provider="-",status="404"\}', text)
