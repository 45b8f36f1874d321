"""Traces: what the gateway exports over OTLP/HTTP, decoded by a fake collector — a request span
continuing the client's traceparent, one child span per upstream attempt with the GenAI attributes, the
attempt's context passed upstream, content kept out unless asked for, nothing at all without `telemetry`."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import anthropic
import openai
import pytest

from gateway.config import ConfigError, parse
from tests.fakes.openai_upstream import API_KEY as OPENAI_KEY
from tests.fakes.openai_upstream import FakeOpenAI
from tests.fakes.otlp_collector import FakeCollector
from tests.fakes.server import ThreadedServer
from tests.harness import ROOT, Gateway

KEY = "sk-trace-team"
MSG = [{"role": "user", "content": "hello tracing"}]


@pytest.fixture(scope="module")
def collector() -> Iterator[FakeCollector]:
    fake = FakeCollector()
    server = ThreadedServer(fake.app).start()
    fake.url = server.url  # type: ignore[attr-defined]
    yield fake
    server.stop()


def config(fake_openai: FakeOpenAI, collector: FakeCollector, **telemetry: Any) -> dict[str, Any]:
    return {
        "providers": {
            "oai": {"type": "openai", "base_url": fake_openai.url, "api_key": OPENAI_KEY},  # type: ignore[attr-defined]
            "mock": {"type": "mock"},
        },
        "models": {
            "mini": "oai/gpt-4o-mini",
            "flaky": {"provider": "oai", "model": "fail-500", "retries": 0, "fallbacks": ["mini"]},
            "embed": "mock/embed",
        },
        "auth": {"keys": [{"name": "team-t", "key": KEY}]},
        "telemetry": {"otlp_endpoint": collector.url, "service_name": "llm-link-test", **telemetry},  # type: ignore[attr-defined]
    }


@pytest.fixture(scope="module")
def gw(fake_openai: FakeOpenAI, collector: FakeCollector) -> Iterator[Gateway]:
    with Gateway(config(fake_openai, collector)) as g:
        yield g


def traceparent() -> tuple[str, str, str]:
    trace_id, parent_id = secrets.token_hex(16), secrets.token_hex(8)
    return f"00-{trace_id}-{parent_id}-01", trace_id, parent_id


def client(gw: Gateway, tp: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=gw.url + "/v1", api_key=KEY, max_retries=0, default_headers={"traceparent": tp})


def split(spans: list[dict[str, Any]]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    server = [s for s in spans if s["kind"] == "SERVER"]
    assert len(server) == 1, spans
    attempts = sorted((s for s in spans if s["kind"] == "CLIENT"), key=lambda s: s["start"])
    return server[0], attempts


def header(headers: dict[str, str], name: str) -> str:
    return next((v for k, v in headers.items() if k.lower() == name), "")


def upstream_traceparent(fake: FakeOpenAI, trace_id: str) -> list[str]:
    return [header(h, "traceparent") for h in fake.headers if trace_id in header(h, "traceparent")]


def test_request_and_attempt_spans_continue_the_clients_trace(
    gw: Gateway, collector: FakeCollector, fake_openai: FakeOpenAI
) -> None:
    tp, trace_id, parent_id = traceparent()
    answer = client(gw, tp).chat.completions.create(model="mini", messages=MSG)  # type: ignore[arg-type]
    assert answer.choices[0].message.content == "echo: hello tracing"
    request, attempts = split(collector.trace(trace_id, 2))
    assert request["parent_span_id"] == parent_id  # continued from the client
    assert request["name"] == "chat mini"
    a = request["attributes"]
    assert a["gen_ai.operation.name"] == "chat"
    assert a["gen_ai.request.model"] == "mini"
    assert a["gen_ai.provider.name"] == "openai"
    assert a["gen_ai.response.model"] == "gpt-4o-mini-2025"
    assert (a["gen_ai.usage.input_tokens"], a["gen_ai.usage.output_tokens"]) == (12, 7)
    assert a["llm_link.attempt"] == 1 and a["llm_link.key"] == "team-t"
    assert a["llm_link.cost_usd"] == pytest.approx((9 * 0.15 + 3 * 0.075 + 7 * 0.6) / 1e6)
    assert a["http.response.status_code"] == 200 and "error.type" not in a
    assert request["resource"]["service.name"] == "llm-link-test"

    [attempt] = attempts
    assert attempt["parent_span_id"] == request["span_id"]
    assert attempt["name"] == "chat gpt-4o-mini"
    b = attempt["attributes"]
    assert b["gen_ai.request.model"] == "gpt-4o-mini" and b["gen_ai.provider.name"] == "openai"
    assert b["gen_ai.response.model"] == "gpt-4o-mini-2025" and b["gen_ai.usage.output_tokens"] == 7
    assert b["llm_link.attempt"] == 1 and b["server.address"].startswith("127.0.0.1:")
    # The upstream saw the attempt span as its parent, in the same trace.
    assert upstream_traceparent(fake_openai, trace_id) == [f"00-{trace_id}-{attempt['span_id']}-01"]
    # Content stays out of spans by default.
    assert not any(k.startswith("gen_ai.input") or k.startswith("gen_ai.output") for k in a)


def test_a_fallback_gives_one_span_per_attempt(gw: Gateway, collector: FakeCollector) -> None:
    tp, trace_id, _ = traceparent()
    answer = client(gw, tp).chat.completions.create(model="flaky", messages=MSG)  # type: ignore[arg-type]
    assert answer.choices[0].message.content == "echo: hello tracing"
    request, attempts = split(collector.trace(trace_id, 3))
    assert [s["attributes"]["gen_ai.request.model"] for s in attempts] == ["fail-500", "gpt-4o-mini"]
    failed, ok = attempts
    assert failed["attributes"]["error.type"] == "api_error" and failed["status"] == 2
    assert failed["attributes"]["http.response.status_code"] == 500
    assert "error.type" not in ok["attributes"] and ok["attributes"]["llm_link.attempt"] == 2
    assert request["attributes"]["llm_link.attempt"] == 2 and request["status"] != 2


def test_streamed_request_has_usage_on_both_spans(gw: Gateway, collector: FakeCollector) -> None:
    tp, trace_id, _ = traceparent()
    stream = client(gw, tp).chat.completions.create(
        model="mini",
        messages=MSG,  # type: ignore[arg-type]
        stream=True,
        stream_options={"include_usage": True},
    )
    assert "".join(c.choices[0].delta.content or "" for c in stream if c.choices) == "echo: hello tracing"
    request, [attempt] = split(collector.trace(trace_id, 2))
    for span in (request, attempt):
        assert span["attributes"]["gen_ai.usage.output_tokens"] == 7
    assert request["attributes"]["gen_ai.request.stream"] is True
    assert attempt["end"] <= request["end"]


def test_an_error_is_marked_on_the_request_span(gw: Gateway, collector: FakeCollector) -> None:
    tp, trace_id, _ = traceparent()
    c = anthropic.Anthropic(
        base_url=gw.url + "/anthropic", api_key=KEY, max_retries=0, default_headers={"traceparent": tp}
    )
    with pytest.raises(anthropic.NotFoundError):
        c.messages.create(model="no-such-model", max_tokens=10, messages=MSG)  # type: ignore[arg-type]
    [request] = collector.trace(trace_id, 1)
    assert request["attributes"]["error.type"] == "404" and request["status"] == 2
    assert request["attributes"]["llm_link.dialect"] == "anthropic"


def test_a_request_without_traceparent_starts_a_trace(gw: Gateway, collector: FakeCollector) -> None:
    c = openai.OpenAI(base_url=gw.url + "/v1", api_key=KEY, max_retries=0)
    raw = c.embeddings.with_raw_response.create(model="embed", input="abc")
    rid = raw.headers["X-Request-ID"]
    for _ in range(150):
        spans = [s for s in collector.spans if s["attributes"].get("llm_link.request_id") == rid]
        if spans:
            break
        __import__("time").sleep(0.1)
    [request] = spans
    assert request["parent_span_id"] == "" and request["name"] == "embeddings embed"
    attempts = collector.trace(request["trace_id"], 2)
    assert any(s["name"] == "embeddings embed" and s["kind"] == "CLIENT" for s in attempts)


def test_capture_content_puts_prompt_and_answer_in_spans(fake_openai: FakeOpenAI, collector: FakeCollector) -> None:
    with Gateway(config(fake_openai, collector, capture_content=True)) as g:
        tp, trace_id, _ = traceparent()
        client(g, tp).chat.completions.create(model="mini", messages=MSG)  # type: ignore[arg-type]
        tp2, trace_id2, _ = traceparent()
        stream = client(g, tp2).chat.completions.create(model="mini", messages=MSG, stream=True)  # type: ignore[arg-type]
        list(stream)
        for tid in (trace_id, trace_id2):
            request, _ = split(collector.trace(tid, 2))
            a = request["attributes"]
            assert '"content":"hello tracing"' in a["gen_ai.input.messages"]
            assert '"content":"echo: hello tracing"' in a["gen_ai.output.messages"]


def test_sampled_out_requests_export_nothing_but_still_propagate(
    fake_openai: FakeOpenAI, collector: FakeCollector
) -> None:
    with Gateway(config(fake_openai, collector, sample_ratio=0.0)) as g:
        c = openai.OpenAI(base_url=g.url + "/v1", api_key=KEY, max_retries=0)
        raw = c.chat.completions.with_raw_response.create(model="mini", messages=MSG)  # type: ignore[arg-type]
        rid = raw.headers["X-Request-ID"]
        sent = header(fake_openai.headers[-1], "traceparent")
        assert int(sent.rsplit("-", 1)[1], 16) & 1 == 0  # not sampled, and said so upstream
    # The gateway has stopped, so its last batch would have been exported by now.
    assert not [s for s in collector.spans if s["attributes"].get("llm_link.request_id") == rid]


def test_telemetry_config_is_checked() -> None:
    with pytest.raises(ConfigError) as info:
        parse({"telemetry": {"otlp_endpoint": "collector:4318", "sample_ratio": 2}}, "test")
    assert any(p.startswith("telemetry.otlp_endpoint") for p in info.value.problems)
    assert any(p.startswith("telemetry.sample_ratio") for p in info.value.problems)
    with pytest.raises(ConfigError) as info:
        parse({"telemetry": {"otlp_endpoint": "http://c:4318", "exporter": "grpc"}}, "test")
    assert any(p.startswith("telemetry") and "exporter" in p for p in info.value.problems)


def test_without_telemetry_nothing_of_opentelemetry_is_loaded() -> None:
    code = (
        "import sys\n"
        "from gateway.app import make_tracing\n"
        "from gateway.config import parse\n"
        "assert make_tracing(parse({}, 'x')) is None\n"
        "assert make_tracing(parse({'telemetry': {'service_name': 's'}}, 'x')) is None\n"
        "loaded = [m for m in sys.modules if m.startswith('opentelemetry')]\n"
        "assert not loaded, loaded\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60, env={**os.environ}
    )
    assert out.returncode == 0, out.stderr
