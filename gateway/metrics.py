"""Prometheus metrics in multiprocess mode, so one scrape of any worker shows every worker.

PROMETHEUS_MULTIPROC_DIR must be set before prometheus_client is imported in a worker: the CLI makes a
fresh directory per server instance (gateway.cli) and workers inherit it through the environment."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
    values,
)

from gateway.metric_writers import writer  # (its writers follow a fork themselves)

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)
OVERHEAD_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1)


def _direct_writes() -> None:
    """Metric writes without prometheus_client's per-write lock and process check, for this process.

    In multiprocess mode each write takes a lock and calls os.getpid() (to notice a fork) before it packs the
    value into the worker's mmap file: about three quarters of a write's cost, paid ~15 times a request.
    Every metric write in a worker happens on its event-loop thread, and workers are started fresh, not
    forked, so neither can matter; a fork still re-checks (register_at_fork). The class extends the one
    prometheus_client chose at import, so both share its files: values made before this stay consistent."""
    base: Any = values.ValueClass
    if not getattr(base, "_multiprocess", False) or getattr(base, "direct_writes", False):
        return
    made: list[Any] = []  # one value, through which a forked child re-checks them all

    class DirectValue(base):
        direct_writes = True

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            if not made:
                made.append(self)

        def inc(self, amount: float) -> None:
            self._value += amount
            self._timestamp = 0.0
            self._file.write_value(self._key, self._value, 0.0)

        def set(self, value: float, timestamp: float | None = None) -> None:
            self._value = value
            self._timestamp = timestamp or 0.0
            self._file.write_value(self._key, value, self._timestamp)

    def after_fork() -> None:
        if made:
            made[0].get()  # the base class's process check: a new pid reopens every value in its own files

    os.register_at_fork(after_in_child=after_fork)
    values.ValueClass = DirectValue


class Metrics:
    """The metric families, made once per worker (app.ctx.metrics). Label children are cached because
    `.labels()` is the expensive part of an observation, and wrapped in direct writers
    (gateway.metric_writers) because prometheus_client's own write path is the next most expensive."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        _direct_writes()
        # Each instance registers on its own registry (not prometheus_client's global one), so an app can be
        # made more than once in a process (in-process tests). Values still go to the multiprocess files
        # that /metrics reads (see render()).
        # Every family below takes registry=r (tests/unit/test_app.py makes two apps in one process).
        self.registry = r = registry if registry is not None else CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "llm_link_requests_total",
            "Requests answered",
            ["dialect", "model", "provider", "status"],
            registry=r,
        )
        self.request_duration = Histogram(
            "llm_link_request_duration_seconds",
            "Whole request time",
            ["dialect", "model", "provider"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.upstream_duration = Histogram(
            "llm_link_upstream_duration_seconds",
            "Upstream call time",
            ["provider", "model"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.ttft = Histogram(
            "llm_link_time_to_first_token_seconds",
            "Time to the first streamed token",
            ["dialect", "model", "provider"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.overhead = Histogram(
            "llm_link_overhead_seconds",
            "Gateway time: total minus upstream time",
            ["dialect"],
            buckets=OVERHEAD_BUCKETS,
            registry=r,
        )
        self.tokens = Counter("llm_link_tokens_total", "Tokens", ["model", "provider", "direction"], registry=r)
        self.cost = Counter(
            "llm_link_cost_usd_total", "Spend in US dollars (gateway.spend)", ["model", "provider"], registry=r
        )
        self.in_flight = Gauge(
            "llm_link_in_flight_requests",
            "Requests in progress",
            ["dialect"],
            multiprocess_mode="livesum",
            registry=r,
        )
        self.attempts = Counter(
            "llm_link_upstream_attempts_total",
            "Upstream attempts",
            ["provider", "model", "outcome"],
            registry=r,
        )
        self.retries = Counter(
            "llm_link_retries_total", "Retries and fallbacks", ["model", "kind", "reason"], registry=r
        )
        self.circuit_state = Gauge(
            "llm_link_circuit_open",
            "1 while a target's circuit is open (per worker)",
            ["provider", "model"],
            multiprocess_mode="max",
            registry=r,
        )
        # Per gateway key (gateway.auth / gateway.limits): usage by key name, never by the key itself.
        self.key_requests = Counter(
            "llm_link_key_requests_total",
            "Requests per gateway key",
            ["key", "model", "status"],
            registry=r,
        )
        self.key_tokens = Counter(
            "llm_link_key_tokens_total", "Tokens per gateway key", ["key", "model", "direction"], registry=r
        )
        self.key_cost = Counter(
            "llm_link_key_cost_total",
            "Spend in US dollars per gateway key (gateway.spend)",
            ["key", "model"],
            registry=r,
        )
        self.key_budget_remaining = Gauge(
            "llm_link_key_budget_remaining_usd",
            "Dollars left in a key's budget for the current day or month, as last seen (gateway.budget)",
            ["key"],
            multiprocess_mode="mostrecent",
            registry=r,
        )
        # Request fields a translated upstream cannot take, dropped instead of refused.
        self.dropped_fields = Counter(
            "llm_link_dropped_fields_total",
            "Request fields dropped in translation",
            ["dialect", "provider", "field"],
            registry=r,
        )
        self.rate_limited = Counter(
            "llm_link_rate_limited_total",
            "Requests refused by a key's limits",
            ["key", "limit"],
            registry=r,
        )
        self.limiter_fallback = Counter(
            "llm_link_limiter_fallback_total",
            "Limit checks counted in-process because the shared state (Redis) was unreachable",
            ["reason"],
            registry=r,
        )
        # The response cache (gateway.cache): result is hit, miss, store or bypass.
        self.cache = Counter(
            "llm_link_cache_total", "Response cache lookups and stores", ["model", "result"], registry=r
        )
        self._children: dict[tuple[Any, tuple[str, ...]], Any] = {}
        self._series: dict[tuple[str, str, str, str], Series] = {}
        self._gauges: dict[str, Any] = {}

    def in_flight_for(self, dialect: str) -> Any:
        """The in-flight gauge of a dialect (a handful exist), found by its name alone."""
        g = self._gauges.get(dialect)
        if g is None:
            g = self._gauges[dialect] = writer(self.in_flight.labels(dialect))
        return g

    def series(self, dialect: str, model: str, provider: str, upstream: str) -> Series:
        """The children Call.finish writes for requests with these labels, found with one lookup."""
        key = (dialect, model, provider, upstream)
        s = self._series.get(key)
        if s is None:
            if len(self._series) > 20000:  # bound memory against label explosions
                self._series.clear()
            s = self._series[key] = Series(self, dialect, model, provider, upstream)
        return s

    def child(self, metric: Any, *labels: str) -> Any:
        """The writer (gateway.metric_writers) of a family's label child, made once."""
        try:
            return self._children[metric, labels]
        except KeyError:
            if len(self._children) > 20000:  # bound memory against label explosions
                self._children.clear()
            c = self._children[metric, labels] = writer(metric.labels(*labels))
            return c


# How a Series makes each of its children, from the Metrics and its labels (dialect, model, provider, upstream).
_MAKERS: dict[str, Callable[[Metrics, str, str, str, str], Any]] = {
    "duration": lambda m, dialect, model, provider, up: m.request_duration.labels(dialect, model, provider),
    "overhead": lambda m, dialect, model, provider, up: m.overhead.labels(dialect),
    "upstream": lambda m, dialect, model, provider, up: m.upstream_duration.labels(provider, up),
    "ttft": lambda m, dialect, model, provider, up: m.ttft.labels(dialect, model, provider),
    "input": lambda m, dialect, model, provider, up: m.tokens.labels(model, provider, "input"),
    "output": lambda m, dialect, model, provider, up: m.tokens.labels(model, provider, "output"),
    "cost": lambda m, dialect, model, provider, up: m.cost.labels(model, provider),
}


class Series:
    """One request kind's writers (labels dialect, model, provider, upstream model), found with one lookup
    per request. Each is made on its first use (so a series appears on /metrics only once it has a count, as
    with `.labels()`): an attribute not yet set falls through to __getattr__, which makes and sets it."""

    __slots__ = ("_m", "_names", "cost", "duration", "input", "output", "overhead", "status", "ttft", "upstream")

    duration: Any  # llm_link_request_duration_seconds
    overhead: Any  # llm_link_overhead_seconds
    upstream: Any  # llm_link_upstream_duration_seconds
    ttft: Any  # llm_link_time_to_first_token_seconds
    input: Any  # llm_link_tokens_total, direction input
    output: Any  # ... output
    cost: Any  # llm_link_cost_usd_total

    def __init__(self, m: Metrics, dialect: str, model: str, provider: str, upstream: str) -> None:
        self._m = m
        self._names = (dialect, model, provider, upstream)
        self.status: dict[int, Any] = {}  # llm_link_requests_total by status

    def __getattr__(self, name: str) -> Any:
        make = _MAKERS.get(name)
        if make is None:
            raise AttributeError(name)
        w = writer(make(self._m, *self._names))
        setattr(self, name, w)
        return w

    def requests(self, status: int) -> Any:
        c = self.status.get(status)
        if c is None:
            if len(self.status) > 600:  # HTTP statuses only, but bounded all the same
                self.status.clear()
            dialect, model, provider, _ = self._names
            c = self.status[status] = writer(self._m.requests.labels(dialect, model, provider, str(status)))
        return c


def render(own: CollectorRegistry | None = None) -> tuple[bytes, str]:
    """Every worker's metrics (multiprocess mode, as `llm-link serve` runs); an app made in-process without
    a multiprocess directory shows its own registry."""
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR") and own is not None:
        return generate_latest(own), CONTENT_TYPE_LATEST
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)
    return generate_latest(registry), CONTENT_TYPE_LATEST


def worker_exit() -> None:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.mark_process_dead(os.getpid())
