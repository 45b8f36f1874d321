"""One record per client request: what the access log line and the metrics are made from."""

from __future__ import annotations

from time import perf_counter
from typing import Any

from gateway.accesslog import AccessLog
from gateway.edge import clean_request_id
from unified.ids import mint


class Call:
    __slots__ = (
        "allow",
        "attempts",
        "budget",
        "cached_tokens",
        "cost",
        "dialect",
        "error",
        "first_token",
        "input_tokens",
        "key_name",
        "limit_headers",
        "metrics",
        "model",
        "model_label",
        "output_tokens",
        "provider",
        "request_id",
        "session",
        "started",
        "status",
        "stream",
        "target",
        "trace",
        "upstream_label",
        "upstream_model",
        "upstream_seconds",
    )

    def __init__(self, request_id: str | None, dialect: str) -> None:
        # The client's id, cleaned (it goes into a header and a log line), else ours.
        self.request_id = clean_request_id(request_id) or mint("req_", 24)
        self.dialect = dialect
        self.model = ""  # as the client sent it until a route is found; for the log line and prices
        # Metric `model` labels: set from the route once one is found, so a name a client made up
        # (a 404, or a `provider/model` past server.max_dynamic_models) never becomes a series of its own.
        # Every metric with a `model` label uses these, never `model` / `upstream_model`.
        self.model_label = "-"
        self.provider = ""
        self.upstream_model = ""
        self.upstream_label = ""
        self.status = 200
        self.started = perf_counter()
        self.upstream_seconds = 0.0
        self.first_token: float | None = None
        self.input_tokens = 0
        self.output_tokens = 0
        self.cached_tokens = 0  # of input_tokens, read from the upstream's prompt cache (usage rows)
        self.cost: float | None = None  # US dollars, once the usage is known and the price is (gateway.spend)
        self.attempts = 0
        self.key_name: str | None = None
        self.stream = False
        self.error: str | None = None
        self.target: str | None = None  # provider/upstream-model that answered
        self.metrics: Any = None
        self.allow: Any = None  # the key's model-glob matcher (gateway.auth), None = every model
        self.trace: Any = None  # gateway.tracing.Trace while tracing, else None
        self.budget: Any = None  # the key's budget ticket, charged with `cost` at the end (gateway.budget)
        self.limit_headers: dict[str, str] | None = None  # x-ratelimit-* for the response (gateway.limits)
        self.session: bytes | None = None  # digest of the session key, for `affinity: session` (gateway.affinity)

    def route_headers(self) -> dict[str, str]:
        """X-LLM-Link-Provider / -Attempts: which target answered, after how many upstream requests."""
        if self.target is None:
            return self.limit_headers or {}
        headers = {"X-LLM-Link-Provider": self.target, "X-LLM-Link-Attempts": str(self.attempts)}
        if self.limit_headers:
            headers.update(self.limit_headers)
        return headers

    def overhead_seconds(self, now: float) -> float:
        over = (now - self.started) - self.upstream_seconds
        return over if over > 0.0 else 0.0  # max(0.0, over), without max()'s call

    def finish(self, metrics: Any, log: AccessLog | None = None) -> None:
        """The request's metric writes (gateway.metric_writers, bound once per label set in a Series) and its
        access-log line. Runs once per request on every path, so it fetches each field once."""
        now = perf_counter()
        started = self.started
        total = now - started
        provider = self.provider
        s = metrics.series(self.dialect, self.model_label, provider or "-", self.upstream_label)
        status = self.status
        count = s.status.get(status)
        if count is None:
            count = s.requests(status)
        count.inc()
        s.duration.observe(total)
        cost = self.cost
        if provider:
            upstream = self.upstream_seconds
            over = total - upstream  # overhead_seconds(now), without a second clock read
            s.overhead.observe(over if over > 0.0 else 0.0)
            if upstream:
                s.upstream.observe(upstream)
            if self.first_token is not None:
                s.ttft.observe(self.first_token - started)
            if self.input_tokens:
                s.input.inc(self.input_tokens)
            if self.output_tokens:
                s.output.inc(self.output_tokens)
            if cost is not None:  # a free model's answers show up too, at 0
                s.cost.inc(cost)
        if log is not None:
            log.request(self, total)
