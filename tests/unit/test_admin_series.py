"""The dashboard's per-minute series (gateway.admin.series.build), from raw usage points."""

from __future__ import annotations

from gateway.admin.series import MAX_SERIES, build, percentile

END = 1_800_000_000.0  # on a minute boundary


def point(ts: float, model: str = "m", status: int = 200, duration: float = 100.0, ttft: float | None = None) -> tuple:
    return (ts, "key", model, "prov", status, 0.001, duration, ttft)


def test_percentile_is_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 0.5) == 50 and percentile(values, 0.95) == 95 and percentile([], 0.5) is None
    assert percentile([7.0], 0.95) == 7


def test_buckets_rates_errors_and_percentiles() -> None:
    now = END + 30  # half way through the current minute
    points = [point(now - 5, duration=d, ttft=d / 10) for d in (100, 200, 300, 400)]
    points += [point(now - 70, status=502, duration=50), point(now - 70), point(now - 3600 * 2)]  # the last: outside
    out = build(points, now, 60, 60, "model")
    assert len(out["buckets"]) == 60 and out["buckets"][-1] <= now < out["buckets"][-1] + 60
    total = out["total"]
    assert total["requests"][-1] == 4 and total["requests"][-2] == 2 and sum(total["requests"]) == 6
    assert total["requests_per_s"][-1] == round(4 / 60, 4)
    assert total["error_rate"][-2] == 0.5 and total["error_rate"][-1] == 0.0 and total["error_rate"][0] is None
    assert total["p50_ms"][-1] == 200 and total["p95_ms"][-1] == 400 and total["ttft_p50_ms"][-1] == 20
    assert total["summary"] == {
        "requests": 6,
        "errors": 1,
        "error_rate": round(1 / 6, 4),
        "cost_usd": 0.006,
        "p50_ms": 100,
        "p95_ms": 400,
        "ttft_p50_ms": 20,
        "ttft_p95_ms": 40,
    }


def test_split_by_provider_and_the_long_tail_summed() -> None:
    points = [point(END - 10, model=f"model-{i}") for i in range(MAX_SERIES + 3) for _ in range(i + 1)]
    out = build(points, END, 10, 60, "model")
    names = [s["name"] for s in out["series"]]
    assert len(names) == MAX_SERIES + 1 and names[0] == f"model-{MAX_SERIES + 2}" and names[-1] == "(other)"
    assert out["series"][-1]["summary"]["requests"] == 1 + 2 + 3  # the three quietest
    by_provider = build(points, END, 10, 60, "provider")
    assert [s["name"] for s in by_provider["series"]] == ["prov"]


def test_a_sampled_window_takes_its_counts_from_sql() -> None:
    sample = [point(END + 10, duration=d) for d in (10, 20, 30)]
    counts = [(59, "m", 300, 6, 1.5), (58, "m", 100, 0, 0.5), (59, None, 2, 2, None)]
    out = build(sample, END + 30, 60, 60, "model", counts)
    total = out["total"]
    assert out["sampled"] and total["requests"][-1] == 302 and total["requests"][-2] == 100
    assert total["errors"][-1] == 8 and total["summary"]["cost_usd"] == 2.0
    assert total["p50_ms"][-1] == 20  # from the sample
    assert [s["name"] for s in out["series"]] == ["m", "(none)"]
