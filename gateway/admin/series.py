"""`GET /admin/api/series`: the dashboard's live charts, per minute over the last hour (or `minutes=` up to a
day): requests/s, error rate, p50/p95 latency and time to first token, in total and per model or provider
(`by=`). Cut from the usage rows in the database, so every worker and replica counts, on SQLite as on
PostgreSQL. A window of up to MAX_POINTS rows is read whole; a busier one is counted exactly in SQL
(requests, errors, cost per bucket) and its percentiles come from an even sample of about MAX_POINTS rows
(`sampled` says so), so the work per refresh stays flat however busy the gateway is."""

from __future__ import annotations

import time
from typing import Any

from sanic import HTTPResponse, Request

from gateway.admin.api import AdminError, _store, admin_route, answer, blueprint
from gateway.store.keys import iso

MAX_POINTS = 100_000
MAX_SERIES = 12  # the busiest; the rest are summed into "other" so a chart stays readable
BY = {"model": 2, "provider": 3, "key": 1}
COLUMN = {"model": "model", "provider": "provider", "key": "key_name"}


def percentile(sorted_values: list[float], q: float) -> float | None:
    """Nearest-rank percentile of an ascending list (None when empty)."""
    if not sorted_values:
        return None
    rank = max(0, min(len(sorted_values) - 1, int(q * len(sorted_values) + 0.999999) - 1))
    return round(sorted_values[rank], 3)


class _Bucketed:
    """One series: per bucket, the request and error counts, cost and the latencies seen."""

    def __init__(self, n: int) -> None:
        self.requests = [0] * n
        self.errors = [0] * n
        self.cost = [0.0] * n
        self.durations: list[list[float]] = [[] for _ in range(n)]
        self.ttfts: list[list[float]] = [[] for _ in range(n)]

    def add(self, i: int, status: int, cost: float | None, duration: float, ttft: float | None) -> None:
        self.requests[i] += 1
        if status >= 400:
            self.errors[i] += 1
        if cost:
            self.cost[i] += cost
        self.durations[i].append(duration)
        if ttft is not None:
            self.ttfts[i].append(ttft)

    def merge(self, other: _Bucketed) -> None:
        for i in range(len(self.requests)):
            self.requests[i] += other.requests[i]
            self.errors[i] += other.errors[i]
            self.cost[i] += other.cost[i]
            self.durations[i].extend(other.durations[i])
            self.ttfts[i].extend(other.ttfts[i])

    def view(self, step: int) -> dict[str, Any]:
        durations = [sorted(d) for d in self.durations]
        ttfts = [sorted(t) for t in self.ttfts]
        every = sorted(v for d in self.durations for v in d)
        every_ttft = sorted(v for t in self.ttfts for v in t)
        requests, errors = sum(self.requests), sum(self.errors)
        return {
            "summary": {  # the whole window
                "requests": requests,
                "errors": errors,
                "error_rate": round(errors / requests, 4) if requests else None,
                "cost_usd": round(sum(self.cost), 9),
                "p50_ms": percentile(every, 0.5),
                "p95_ms": percentile(every, 0.95),
                "ttft_p50_ms": percentile(every_ttft, 0.5),
                "ttft_p95_ms": percentile(every_ttft, 0.95),
            },
            "requests": self.requests,
            "requests_per_s": [round(n / step, 4) for n in self.requests],
            "errors": self.errors,
            "error_rate": [round(e / n, 4) if n else None for e, n in zip(self.errors, self.requests)],
            "cost_usd": [round(c, 9) for c in self.cost],
            "p50_ms": [percentile(d, 0.5) for d in durations],
            "p95_ms": [percentile(d, 0.95) for d in durations],
            "ttft_p50_ms": [percentile(t, 0.5) for t in ttfts],
            "ttft_p95_ms": [percentile(t, 0.95) for t in ttfts],
        }


def _int_arg(request: Request, name: str, default: int, low: int, high: int) -> int:
    value = request.args.get(name)
    if value is None or value == "":
        return default
    if not value.isdigit() or not low <= int(value) <= high:
        raise AdminError(400, "invalid_request", f"{name}: a whole number from {low} to {high}", param=name)
    return int(value)


def window(end: float, minutes: int, step: int) -> tuple[float, int]:
    """The first bucket's start and the number of buckets: they end on a step boundary, the last holds `end`."""
    n = max(1, minutes * 60 // step)
    return float((int(end) // step + 1) * step - n * step), n


def build(
    points: list[tuple[Any, ...]],
    end: float,
    minutes: int,
    step: int,
    by: str,
    counts: list[tuple[Any, ...]] | None = None,
) -> dict[str, Any]:
    """The per-bucket series of `points` (usage_points rows) over the `minutes` before `end`. With `counts`
    (usage_buckets rows) the points are a sample: they give the percentiles, `counts` the exact requests,
    errors and cost."""
    first, n = window(end, minutes, step)
    column = BY[by]
    groups: dict[str, _Bucketed] = {}
    total = _Bucketed(n)
    for ts, *rest in points:
        i = int((ts - first) // step)
        if not 0 <= i < n:
            continue
        row = (ts, *rest)
        name = row[column] or "(none)"
        series = groups.get(name)
        if series is None:
            series = groups[name] = _Bucketed(n)
        status, cost, duration, ttft = row[4], row[5], row[6], row[7]
        series.add(i, status, cost, duration, ttft)
        total.add(i, status, cost, duration, ttft)
    if counts is not None:
        for target in (total, *groups.values()):
            target.requests, target.errors, target.cost = [0] * n, [0] * n, [0.0] * n
        for b, g, requests, errors, cost in counts:
            i = int(b)
            if not 0 <= i < n:
                continue
            name = g or "(none)"
            series = groups.get(name)
            if series is None:
                series = groups[name] = _Bucketed(n)
            for target in (series, total):
                target.requests[i] += int(requests)
                target.errors[i] += int(errors or 0)
                target.cost[i] += float(cost or 0.0)
    busiest = sorted(groups, key=lambda g: -sum(groups[g].requests))
    shown = busiest[:MAX_SERIES]
    if len(busiest) > MAX_SERIES:
        other = _Bucketed(n)
        for name in busiest[MAX_SERIES:]:
            other.merge(groups[name])
        groups["(other)"] = other
        shown.append("(other)")
    return {
        "from": iso(first),
        "to": iso(first + n * step),
        "step": step,
        "by": by,
        "buckets": [first + i * step for i in range(n)],
        "total": total.view(step),
        "series": [{"name": name, **groups[name].view(step)} for name in shown],
        "sampled": counts is not None,
    }


@blueprint.get("/series")
@admin_route
async def series(request: Request) -> HTTPResponse:
    minutes = _int_arg(request, "minutes", 60, 1, 1440)
    step = _int_arg(request, "step", 60, 10, 3600)
    by = request.args.get("by", "model")
    if by not in BY:
        raise AdminError(400, "invalid_request", f"by: one of {', '.join(BY)}", param="by")
    database = _store(request)
    await database.usage.flush()  # this worker's latest rows count too
    end = time.time()
    first, _ = window(end, minutes, step)
    store = database.store
    rows = await store.usage_count_since(first)
    if rows <= MAX_POINTS:
        return answer(build(await store.usage_points(first, MAX_POINTS), end, minutes, step, by))
    every = -(-rows // MAX_POINTS)
    counts = await store.usage_buckets(first, step, COLUMN[by])
    points = await store.usage_points(first, MAX_POINTS, every)
    return answer(build(points, end, minutes, step, by, counts))
