"""Prometheus metrics in multiprocess mode, so one scrape of any worker shows every worker.

PROMETHEUS_MULTIPROC_DIR must be set before prometheus_client is imported in a worker: the CLI makes a
fresh directory per server instance (gateway.cli) and workers inherit it through the environment."""

from __future__ import annotations

import os
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)
OVERHEAD_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1)


class Metrics:
    """The metric families, made once per worker (app.ctx.metrics). Label children are cached because
    `.labels()` is the expensive part of an observation."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
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
        self._children: dict[tuple[Any, ...], Any] = {}

    def child(self, metric: Any, *labels: str) -> Any:
        key = (id(metric), *labels)
        c = self._children.get(key)
        if c is None:
            if len(self._children) > 20000:  # bound memory against label explosions
                self._children.clear()
            c = self._children[key] = metric.labels(*labels)
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
