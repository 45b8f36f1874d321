"""Prometheus metrics (SPEC §5) in multiprocess mode, so one scrape of any worker shows every worker.

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

    def __init__(self) -> None:
        self.requests = Counter(
            "llm_link_requests_total", "Requests answered", ["dialect", "model", "provider", "status"]
        )
        self.request_duration = Histogram(
            "llm_link_request_duration_seconds",
            "Whole request time",
            ["dialect", "model", "provider"],
            buckets=LATENCY_BUCKETS,
        )
        self.upstream_duration = Histogram(
            "llm_link_upstream_duration_seconds", "Upstream call time", ["provider", "model"], buckets=LATENCY_BUCKETS
        )
        self.ttft = Histogram(
            "llm_link_time_to_first_token_seconds",
            "Time to the first streamed token",
            ["dialect", "model", "provider"],
            buckets=LATENCY_BUCKETS,
        )
        self.overhead = Histogram(
            "llm_link_overhead_seconds",
            "Gateway time: total minus upstream time",
            ["dialect"],
            buckets=OVERHEAD_BUCKETS,
        )
        self.tokens = Counter("llm_link_tokens_total", "Tokens", ["model", "provider", "direction"])
        self.cost = Counter("llm_link_cost_usd_total", "Spend in US dollars (gateway.spend)", ["model", "provider"])
        self.in_flight = Gauge(
            "llm_link_in_flight_requests", "Requests in progress", ["dialect"], multiprocess_mode="livesum"
        )
        self.attempts = Counter(
            "llm_link_upstream_attempts_total", "Upstream attempts", ["provider", "model", "outcome"]
        )
        self.retries = Counter("llm_link_retries_total", "Retries and fallbacks", ["model", "kind", "reason"])
        self.circuit_state = Gauge(
            "llm_link_circuit_open",
            "1 while a target's circuit is open (per worker)",
            ["provider", "model"],
            multiprocess_mode="max",
        )
        # Per gateway key (gateway.auth / gateway.limits): usage by key name, never by the key itself.
        self.key_requests = Counter(
            "llm_link_key_requests_total", "Requests per gateway key", ["key", "model", "status"]
        )
        self.key_tokens = Counter("llm_link_key_tokens_total", "Tokens per gateway key", ["key", "model", "direction"])
        self.key_cost = Counter(
            "llm_link_key_cost_total",
            "Spend in US dollars per gateway key (gateway.spend)",
            ["key", "model"],
        )
        self.key_budget_remaining = Gauge(
            "llm_link_key_budget_remaining_usd",
            "Dollars left in a key's budget for the current day or month, as last seen (gateway.budget)",
            ["key"],
            multiprocess_mode="mostrecent",
        )
        # Request fields a translated upstream cannot take, dropped instead of refused (SPEC §6, §7).
        self.dropped_fields = Counter(
            "llm_link_dropped_fields_total", "Request fields dropped in translation", ["dialect", "provider", "field"]
        )
        self.rate_limited = Counter(
            "llm_link_rate_limited_total", "Requests refused by a key's limits", ["key", "limit"]
        )
        self.limiter_fallback = Counter(
            "llm_link_limiter_fallback_total",
            "Limit checks counted in-process because the shared state (Redis) was unreachable",
            ["reason"],
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


def render() -> tuple[bytes, str]:
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)
    return generate_latest(registry), CONTENT_TYPE_LATEST


def worker_exit() -> None:
    multiprocess.mark_process_dead(os.getpid())
