"""Schemathesis against a running gateway, driven by its own /openapi.json (gateway/openapi.py): valid and
invalid bodies, path parameters and headers for every endpoint of every dialect. Every answer is a success
(JSON, SSE or NDJSON that parses) or a 4xx in the dialect's own error shape; never a 5xx from our own code,
never a dropped connection. Raw hypothesis cases add what a schema cannot describe: bodies that are not JSON,
wrong content types, hostile header values and bodies over the size limit."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode

from tests.harness import Gateway

MAX_BODY = 64 * 1024
EXAMPLES = 15  # per operation; the whole file stays around a minute


@pytest.fixture(scope="module")
def fuzz_gateway() -> Iterator[Gateway]:
    config = {
        "server": {"openapi": True, "max_body_bytes": MAX_BODY},
        "providers": {"mock": {"type": "mock", "options": {"chunks": 2}}},
        "models": {"demo": "mock/demo"},
        "default_model": "demo",  # random model names still reach the codec and a provider
    }
    with Gateway(config) as gw:
        yield gw


@pytest.fixture(scope="module")
def api_schema(fuzz_gateway: Gateway) -> Any:
    schema = schemathesis.openapi.from_url(fuzz_gateway.url + "/openapi.json")
    schema.config.generation.update(modes=list(GenerationMode))
    return schema


schema = schemathesis.pytest.from_fixture("api_schema")


def _dialect(path: str) -> str:
    if path.startswith("/anthropic/"):
        return "anthropic"
    if path.startswith("/ollama/"):
        return "ollama"
    if path.startswith("/gemini/"):
        return "gemini"
    if path.startswith("/v1/"):
        return "openai"
    return "system"


def check_error_shape(dialect: str, body: Any) -> str:
    """The message of an error body in `dialect`'s shape."""
    if dialect == "anthropic":
        assert body["type"] == "error" and set(body) == {"type", "error"}, body
        assert isinstance(body["error"]["type"], str)
        message = body["error"]["message"]
    elif dialect == "ollama":
        assert set(body) == {"error"}, body
        message = body["error"]
    elif dialect == "gemini":  # Google's shape: {"error": {"code", "message", "status"}}
        assert set(body) == {"error"}, body
        assert isinstance(body["error"]["code"], int) and isinstance(body["error"]["status"], str), body
        message = body["error"]["message"]
    else:  # OpenAI, and the fallback for paths outside every dialect
        assert set(body) == {"error"}, body
        assert isinstance(body["error"]["type"], str)
        message = body["error"]["message"]
    assert isinstance(message, str) and message
    return message


def check_answer(path: str, status: int, headers: Any, content: bytes) -> None:
    dialect = _dialect(path)
    headers = {k.lower(): v[0] if isinstance(v, list) else v for k, v in headers.items()}
    assert status < 500, f"{status} from {path}: {content[:500]!r}"
    content_type = headers.get("content-type", "")
    if status >= 400:
        assert content_type.startswith("application/json"), content_type
        check_error_shape(dialect, json.loads(content))
        assert "Traceback" not in content.decode("utf-8", "replace")
        return
    if content_type.startswith("text/event-stream"):
        text = content.decode()
        datas = [line[5:].strip() for line in text.splitlines() if line.startswith("data:")]
        assert datas, text
        for data in datas:
            if data != "[DONE]":
                event = json.loads(data)
                assert "error" not in event or event.get("type") not in ("error", None), event
    elif content_type.startswith("application/x-ndjson"):
        lines = [json.loads(line) for line in content.splitlines() if line.strip()]
        assert lines and "error" not in lines[-1], lines[-1:]
    elif content_type.startswith("application/json"):
        json.loads(content)
    if dialect != "system" and content:
        assert headers.get("x-request-id")


@schema.parametrize()
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_every_endpoint(case: Any) -> None:
    response = case.call(timeout=30)
    check_answer(
        case.path.format(**(case.path_parameters or {})), response.status_code, response.headers, response.content
    )


# ---------------------------------------------------------------------------------------------- raw cases

POST_PATHS = [
    "/v1/chat/completions",
    "/v1/embeddings",
    "/anthropic/v1/messages",
    "/anthropic/v1/messages/count_tokens",
    "/ollama/api/chat",
    "/ollama/api/generate",
    "/ollama/api/show",
    "/ollama/api/embed",
    "/ollama/api/embeddings",
]
HEADER_TEXT = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=300).map(str.strip)


@pytest.fixture(scope="module")
def http(fuzz_gateway: Gateway) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=fuzz_gateway.url, timeout=30) as c:
        yield c


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
@given(
    path=st.sampled_from(POST_PATHS),
    body=st.one_of(
        st.binary(max_size=500),
        st.sampled_from(
            [
                b"",
                b"[" * 20000,
                b'{"model": "\xff"}',
                b"\x00" * 100,
                b'{"model":"demo","messages":"' + b"\\" * 5000 + b'"}',
            ]
        ),
    ),
    content_type=st.sampled_from(
        [
            "application/json",
            "text/plain",
            "application/x-www-form-urlencoded",
            "multipart/form-data; boundary=x",
            "application/json; charset=latin-1",
            "",
        ]
    ),
    request_id=HEADER_TEXT,
    auth=HEADER_TEXT,
)
def test_raw_bodies_and_headers(
    http: httpx.Client, path: str, body: bytes, content_type: str, request_id: str, auth: str
) -> None:
    headers = {
        "Content-Type": content_type,
        "X-Request-ID": request_id,
        "Authorization": auth,
        "x-api-key": auth,
        "anthropic-version": auth,
    }
    r = http.post(path, content=body, headers=headers)
    check_answer(path, r.status_code, r.headers, r.content)
    assert r.status_code != 200 or body.strip()


@pytest.mark.parametrize("path", POST_PATHS)
def test_oversized_body_is_413_in_dialect_shape(http: httpx.Client, path: str) -> None:
    body = b'{"model":"demo","messages":[{"role":"user","content":"' + b"a" * (MAX_BODY * 2) + b'"}]}'
    r = http.post(path, content=body, headers={"Content-Type": "application/json"})
    assert r.status_code == 413
    check_error_shape(_dialect(path), r.json())


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE", "PATCH"])
@pytest.mark.parametrize("path", POST_PATHS[:3] + ["/ollama/api/chat"])
def test_wrong_method_is_4xx_in_dialect_shape(http: httpx.Client, path: str, method: str) -> None:
    r = http.request(method, path)
    assert 400 <= r.status_code < 500
    check_error_shape(_dialect(path), r.json())


def test_openapi_document_lists_every_dialect(http: httpx.Client) -> None:
    doc = http.get("/openapi.json").json()
    assert doc["openapi"].startswith("3.")
    assert {"/v1/chat/completions", "/ollama/api/chat", "/health", "/metrics"} <= set(doc["paths"])
    body = doc["paths"]["/v1/chat/completions"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert body["$ref"].startswith("#/components/schemas/")


def test_openapi_is_off_by_default(openai_gateway: Gateway) -> None:
    r = httpx.get(openai_gateway.url + "/openapi.json")
    assert r.status_code == 404
    check_error_shape("openai", r.json())
