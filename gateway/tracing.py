"""OpenTelemetry traces, with the `otel` extra: pip install 'llm-link[otel]'.

Without `telemetry.otlp_endpoint` nothing here is imported and every hook in the request path is one
`is None` test. With it, each worker has its own TracerProvider (no global one is set) exporting in batches
over OTLP/HTTP to `{otlp_endpoint}/v1/traces`, and each client request gets:

- a SERVER span, continuing the client's W3C `traceparent` / `tracestate` when it sent one, named
  `{operation} {model}` ("chat gpt-4o-mini") once the model is known, with the GenAI attributes of the whole
  request (the model the client asked for, the answering provider, tokens, cost, attempts, key name);
- a CLIENT child span per upstream attempt (retries and fallbacks each get one), named by the upstream
  model, whose context is what goes upstream as `traceparent`.

Prompts and completions go into spans (`gen_ai.input.messages` / `gen_ai.output.messages`) only with
`capture_content: true`."""

from __future__ import annotations

import logging
import threading
from typing import Any

import orjson

from gateway import __version__

log = logging.getLogger("llm_link")

MAX_ATTR = 4096  # longest string a client can put into an attribute (model names, captured content)


def available() -> bool:
    """Whether the `otel` extra is installed."""
    from importlib.util import find_spec

    return (
        find_spec("opentelemetry.sdk") is not None and find_spec("opentelemetry.exporter.otlp.proto.http") is not None
    )


class Tracing:
    """The per-worker tracer (app.ctx.tracing); None when `telemetry` is absent."""

    def __init__(self, cfg: Any) -> None:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
        from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased
        from opentelemetry.trace import SpanKind, StatusCode, set_span_in_context
        from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

        self.capture_content = cfg.capture_content
        self.provider = TracerProvider(
            resource=Resource.create({"service.name": cfg.service_name, "service.version": __version__}),
            sampler=ParentBased(TraceIdRatioBased(cfg.sample_ratio)),
        )
        endpoint = cfg.otlp_endpoint.rstrip("/") + "/v1/traces"
        exporter = OTLPSpanExporter(endpoint=endpoint, headers=dict(cfg.headers) or None, timeout=10)
        self.provider.add_span_processor(BatchSpanProcessor(exporter, schedule_delay_millis=1000))
        self.tracer = self.provider.get_tracer("llm-link", __version__)
        self.propagator = TraceContextTextMapPropagator()
        self.set_span_in_context = set_span_in_context
        self.SERVER, self.CLIENT = SpanKind.SERVER, SpanKind.CLIENT
        self.ERROR = StatusCode.ERROR

    def start(self, request: Any, call: Any) -> Trace:
        headers = request.headers
        parent = None
        if "traceparent" in headers:
            carrier = {"traceparent": headers.get("traceparent")}
            if "tracestate" in headers:
                carrier["tracestate"] = headers.get("tracestate")
            parent = self.propagator.extract(carrier)
        span = self.tracer.start_span(
            f"{request.method} {call.dialect}",
            context=parent,
            kind=self.SERVER,
            attributes={
                "http.request.method": request.method,
                "url.path": request.path[:MAX_ATTR],
                "llm_link.dialect": call.dialect,
                "llm_link.request_id": call.request_id,
            },
        )
        return Trace(self, span)

    def shutdown(self, wait: float = 3.0) -> None:
        """Export what is still queued (the worker is stopping), for at most `wait` seconds: an unreachable
        collector (whose exporter retries for up to its timeout) must not hold the worker's exit."""

        def run() -> None:
            try:
                self.provider.shutdown()
            except Exception as err:
                log.warning("tracing: shutdown failed: %s", type(err).__name__)

        thread = threading.Thread(target=run, name="llm-link-trace-flush", daemon=True)
        thread.start()
        thread.join(wait)


class Trace:
    """One request's spans. Made by Tracing.start; the request path calls these hooks only when tracing."""

    __slots__ = ("attempt", "headers", "operation", "output", "provider_type", "response_model", "span", "tracing")

    def __init__(self, tracing: Tracing, span: Any) -> None:
        self.tracing = tracing
        self.span = span
        self.attempt: Any = None  # the open attempt span
        self.headers: dict[str, str] | None = None  # for the current attempt's upstream request
        self.operation = "chat"  # GenAI operation name; dispatch.embed says "embeddings"
        self.provider_type = ""
        self.response_model = ""
        self.output: list[str] | None = [] if tracing.capture_content else None  # streamed text, when captured

    def start_attempt(self, call: Any, target: Any, headers: dict[str, str] | None) -> None:
        """A child span for one upstream attempt; `self.headers` becomes what goes upstream (the route's
        own headers plus `traceparent`)."""
        t = self.tracing
        provider = target.provider
        self.provider_type = provider_name(provider)
        span = t.tracer.start_span(
            f"{self.operation} {target.model}"[:MAX_ATTR],
            context=t.set_span_in_context(self.span),
            kind=t.CLIENT,
            attributes={
                "gen_ai.operation.name": self.operation,
                "gen_ai.provider.name": self.provider_type,
                "gen_ai.request.model": target.model[:MAX_ATTR],
                "llm_link.provider": provider.name,
                "llm_link.attempt": call.attempts,
                "server.address": _host(getattr(provider, "base_url", "")),
            },
        )
        self.attempt = span
        out = dict(headers) if headers else {}
        t.propagator.inject(out, context=t.set_span_in_context(span))
        self.headers = out

    def fail_attempt(self, err: Any) -> None:
        span = self.attempt
        if span is None:
            return
        self.attempt = None
        if span.is_recording():
            span.set_attribute("error.type", getattr(err, "kind", None) or type(err).__name__)
            if getattr(err, "status", None):
                span.set_attribute("http.response.status_code", err.status)
            span.set_status(self.tracing.ERROR, str(getattr(err, "message", ""))[:MAX_ATTR])
        span.end()

    def end_attempt(self, call: Any) -> None:
        """The attempt that answered, once its usage is known (for a stream: when it ends)."""
        span = self.attempt
        if span is None:
            return
        self.attempt = None
        if span.is_recording():
            span.set_attributes(self._usage(call))
            if call.error and call.status >= 400:
                span.set_attribute("error.type", _error_type(call))
                span.set_status(self.tracing.ERROR, call.error[:MAX_ATTR])
        span.end()

    def answered(self, request: Any, model: str, response: Any = None) -> None:
        """An upstream answered (for a stream: its first event came): the model it names, and with
        capture_content the prompt (and the whole answer, when there is one)."""
        self.response_model = model
        if self.output is None or not self.span.is_recording():
            return
        self.span.set_attribute("gen_ai.input.messages", _messages(request.messages))
        if response is not None:
            parts = _parts(response.content)
            out = [{"role": "assistant", "parts": parts, "finish_reason": response.stop_reason}]
            self.span.set_attribute("gen_ai.output.messages", _json(out))

    def end(self, call: Any) -> None:
        """At the very end of the request (for streams: after the last byte)."""
        self.end_attempt(call)
        span = self.span
        if span.is_recording():
            if call.model:
                span.update_name(f"{self.operation} {call.model}"[:MAX_ATTR])
            attrs = self._usage(call)
            attrs["http.response.status_code"] = call.status
            if call.model:
                attrs["gen_ai.request.model"] = call.model[:MAX_ATTR]
                attrs["gen_ai.operation.name"] = self.operation
            if call.provider:
                attrs["llm_link.provider"] = call.provider
                attrs["llm_link.attempt"] = call.attempts
            if call.key_name:
                attrs["llm_link.key"] = call.key_name
            if call.stream:
                attrs["gen_ai.request.stream"] = True  # not in the conventions yet; says why there is a TTFT
                if call.first_token is not None:
                    attrs["llm_link.time_to_first_token_ms"] = round((call.first_token - call.started) * 1000, 3)
            if self.output and call.stream:
                text = "".join(self.output)
                attrs["gen_ai.output.messages"] = _json([{"role": "assistant", "parts": [_text(text)]}])
            span.set_attributes(attrs)
            if call.status >= 400:
                span.set_attribute("error.type", _error_type(call))
                span.set_status(self.tracing.ERROR, (call.error or "")[:MAX_ATTR])
        span.end()

    def _usage(self, call: Any) -> dict[str, Any]:
        attrs: dict[str, Any] = {}
        if self.provider_type:
            attrs["gen_ai.provider.name"] = self.provider_type
        if self.response_model:
            attrs["gen_ai.response.model"] = self.response_model[:MAX_ATTR]
        if call.input_tokens or call.output_tokens:
            attrs["gen_ai.usage.input_tokens"] = call.input_tokens
            attrs["gen_ai.usage.output_tokens"] = call.output_tokens
        if call.cost is not None:
            attrs["llm_link.cost_usd"] = call.cost
        return attrs


def provider_name(provider: Any) -> str:
    """The GenAI semantic conventions' `gen_ai.provider.name`: the adapter's well-known name, else its type."""
    return provider.otel_name or provider.config.type


def _host(url: str) -> str:
    rest = url.partition("://")[2]
    return rest.split("/", 1)[0].rsplit("@", 1)[-1] or "-"


def _error_type(call: Any) -> str:
    return str(call.status) if call.status != 499 else "cancelled"


def _json(value: Any) -> str:
    text = orjson.dumps(value).decode()
    return text if len(text) <= 65536 else text[:65536]


def _text(text: str) -> dict[str, Any]:
    return {"type": "text", "content": text}


def _parts(parts: Any) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for p in parts:
        kind = type(p).__name__
        if kind == "TextPart":
            out.append(_text(p.text))
        elif kind == "ToolCallPart":
            out.append({"type": "tool_call", "id": p.id, "name": p.name, "arguments": p.arguments})
        elif kind == "ToolResultPart":
            content = "".join(getattr(c, "text", "") for c in p.content)
            out.append({"type": "tool_call_response", "id": p.tool_call_id, "response": content})
        elif kind == "ThinkingPart":
            out.append({"type": "reasoning", "content": p.text})
        else:
            out.append({"type": kind.removesuffix("Part").lower()})  # images, documents: kind only, no bytes
    return out


def _messages(messages: Any) -> str:
    return _json([{"role": m.role, "parts": _parts(m.content)} for m in messages])
