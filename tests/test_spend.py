"""Spend in dollars: prices from the genai-prices table or the config, the cost of every answer in
the metrics, the access log and X-LLM-Link-Cost-USD — checked to the cent fraction against the usage the
fake upstreams report (cached tokens included), streams too."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import anthropic
import genai_prices
import httpx
import openai
import pytest

from gateway.config import Price
from gateway.spend import PriceBook, format_usd, from_config
from providers import registry
from tests.fakes.anthropic_upstream import API_KEY as ANTHROPIC_KEY
from tests.fakes.anthropic_upstream import FakeAnthropic
from tests.fakes.openai_upstream import API_KEY as OPENAI_KEY
from tests.fakes.openai_upstream import FakeOpenAI
from tests.fakes.server import ThreadedServer
from tests.harness import ROOT, Gateway
from unified.types import Usage

MSG = [{"role": "user", "content": "hello"}]
KEY = "sk-spend-team-1"

# What the fakes report: OpenAI 12 prompt tokens (3 of them cached) and 7 completion tokens; Anthropic 20
# fresh input, 10 cache read, 5 cache write, 9 output.
OAI_USAGE = Usage(input_tokens=12, output_tokens=7, cache_read_tokens=3)
ANT_USAGE = Usage(input_tokens=35, output_tokens=9, cache_read_tokens=10, cache_creation_tokens=5)

# gpt-4o-mini in the table: $0.15 input, $0.075 cached input, $0.60 output per million tokens.
GPT4O_MINI = (9 * 0.15 + 3 * 0.075 + 7 * 0.6) / 1e6
# The config's own price for `house` (per million): input 3, output 15, cache read 0.3, cache write 3.75.
HOUSE = (20 * 3 + 10 * 0.3 + 5 * 3.75 + 9 * 15) / 1e6


def table_price(model: str, usage: Usage, provider_id: str) -> float:
    """The library's own calculation (Decimal), to check our per-token rates against."""
    u = genai_prices.Usage(
        input_tokens=usage.input_tokens,
        output_tokens=usage.output_tokens,
        cache_read_tokens=usage.cache_read_tokens,
        cache_write_tokens=usage.cache_creation_tokens,
    )
    return float(genai_prices.calc_price(u, model, provider_id=provider_id).total_price)


class _Provider:
    """What PriceBook reads of an adapter: its name, base URL, and its type's pricing traits."""

    def __init__(self, name: str, type_: str, base_url: str) -> None:
        self.name = name
        self.base_url = base_url
        self.config = type("C", (), {"type": type_})()
        cls = registry.provider_class(type_)
        self.free, self.price_table_id = cls.free, cls.price_table_id


# ---------------------------------------------------------------------------------------------- unit


def test_table_rates_match_the_librarys_own_arithmetic() -> None:
    book = PriceBook()
    rates = book.rates(_Provider("oai", "openai", "http://127.0.0.1:1/v1"), "gpt-4o-mini")
    assert rates is not None and "genai-prices" in rates.source
    assert rates.cost(OAI_USAGE) == pytest.approx(GPT4O_MINI, rel=1e-12)
    assert rates.cost(OAI_USAGE) == pytest.approx(table_price("gpt-4o-mini", OAI_USAGE, "openai"), rel=1e-12)
    sonnet = book.rates(_Provider("claude", "anthropic", "https://api.anthropic.com"), "claude-sonnet-4-5")
    assert sonnet is not None
    assert sonnet.cost(ANT_USAGE) == pytest.approx(table_price("claude-sonnet-4-5", ANT_USAGE, "anthropic"), rel=1e-12)


def test_long_context_tier_applies_to_the_whole_request() -> None:
    rates = PriceBook().rates(_Provider("claude", "anthropic", "https://api.anthropic.com"), "claude-sonnet-4-5")
    assert rates is not None and rates.tiered
    big = Usage(input_tokens=250_000, output_tokens=1000, cache_read_tokens=100_000)
    assert rates.cost(big) == pytest.approx(table_price("claude-sonnet-4-5", big, "anthropic"), rel=1e-12)
    assert rates.cost(big) > 2 * rates.cost(Usage(input_tokens=150_000, output_tokens=1000, cache_read_tokens=60_000))


def test_rates_are_looked_up_once_per_target() -> None:
    book = PriceBook()
    p = _Provider("oai", "openai", "https://api.openai.com/v1")
    first = book.rates(p, "gpt-4o")
    assert book.rates(p, "gpt-4o") is first


def test_time_dependent_table_prices_follow_the_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    """DeepSeek's table price depends on the time of day: rates resolved once still follow it."""
    import calendar
    from datetime import UTC, datetime

    import gateway.spend as spend

    rates = PriceBook().rates(_Provider("ds", "openai", "https://api.deepseek.com"), "deepseek-chat")
    assert rates is not None and rates.table is not None
    usage = Usage(input_tokens=1_000_000, output_tokens=1_000_000, cache_read_tokens=200_000)
    lib = genai_prices.Usage(input_tokens=1_000_000, output_tokens=1_000_000, cache_read_tokens=200_000)
    costs = []
    for hour in (3, 17):  # one inside DeepSeek's off-peak hours (16:30-00:30 UTC), one outside
        now = calendar.timegm((2026, 11, 28, hour, 0, 0))
        monkeypatch.setattr(spend.time, "time", lambda now=now: now)
        rates.recheck = 0  # as if a minute had passed
        when = datetime.fromtimestamp(now, tz=UTC)
        expected = genai_prices.calc_price(lib, "deepseek-chat", provider_id="deepseek", genai_request_timestamp=when)
        assert rates.cost(usage) == pytest.approx(float(expected.total_price), rel=1e-12)
        costs.append(rates.cost(usage))
    assert costs[0] != costs[1]


def test_config_price_overrides_the_table_and_cache_rates_default_to_input() -> None:
    book = PriceBook()
    priced = book.rates(_Provider("oai", "openai", "https://api.openai.com/v1"), "gpt-4o-mini", Price(1, 2))
    assert priced is not None and priced.source == "config"
    # No cache rates given: cached tokens cost what input costs.
    assert priced.cost(OAI_USAGE) == pytest.approx((12 * 1 + 7 * 2) / 1e6)
    house = from_config(Price(input=3, output=15, cache_read=0.3, cache_write=3.75))
    assert house.cost(ANT_USAGE) == pytest.approx(HOUSE, rel=1e-12)


def test_unknown_and_free_models() -> None:
    book = PriceBook()
    assert book.rates(_Provider("local", "openai", "http://127.0.0.1:1/v1"), "no-such-model-xyz") is None
    free = book.rates(_Provider("ollama", "ollama", "http://127.0.0.1:11434"), "llama3.2")
    assert free is not None and free.cost(OAI_USAGE) == 0


def test_header_format_is_plain_decimal() -> None:
    assert format_usd(0.0) == "0"
    assert format_usd(1.5e-6) == "0.0000015"
    assert format_usd(12.25) == "12.25"
    assert Decimal(format_usd(GPT4O_MINI)) == Decimal(f"{GPT4O_MINI:.10f}")


# ---------------------------------------------------------------------------------------------- over HTTP


@pytest.fixture(scope="module")
def fake_anthropic() -> Iterator[FakeAnthropic]:
    fake = FakeAnthropic()
    server = ThreadedServer(fake.app).start()
    fake.url = server.url  # type: ignore[attr-defined]
    yield fake
    server.stop()


def spend_config(fake_openai: FakeOpenAI, fake_anthropic: FakeAnthropic) -> dict[str, Any]:
    return {
        "providers": {
            "mock": {"type": "mock"},
            "oai": {"type": "openai", "base_url": fake_openai.url, "api_key": OPENAI_KEY},  # type: ignore[attr-defined]
            "claude": {"type": "anthropic", "base_url": fake_anthropic.url, "api_key": ANTHROPIC_KEY},  # type: ignore[attr-defined]
        },
        "models": {
            "mini": "oai/gpt-4o-mini",
            "house": {
                "provider": "claude",
                "model": "claude-house-1",
                "price": {"input": 3, "output": 15, "cache_read": 0.3, "cache_write": 3.75},
            },
            "mystery": "oai/no-such-model-xyz",
            "demo": "mock/demo",
        },
        "auth": {"keys": [{"name": "team-1", "key": KEY}]},
    }


@pytest.fixture(scope="module")
def gw(fake_openai: FakeOpenAI, fake_anthropic: FakeAnthropic) -> Iterator[Gateway]:
    with Gateway(spend_config(fake_openai, fake_anthropic)) as g:
        yield g


def metric(gw: Gateway, name: str, **labels: str) -> float:
    total = 0.0
    for line in httpx.get(gw.url + "/metrics").text.splitlines():
        if line.startswith(name + "{") and all(f'{k}="{v}"' in line for k, v in labels.items()):
            total += float(line.rsplit(" ", 1)[1])
    return total


def log_records(gw: Gateway, model: str) -> list[dict[str, Any]]:
    out = []
    for line in gw.log().splitlines():
        if line.startswith("{") and f'"model":"{model}"' in line:
            out.append(json.loads(line))
    return out


def test_openai_answer_carries_its_cost_cached_tokens_discounted(gw: Gateway) -> None:
    client = openai.OpenAI(base_url=gw.url + "/v1", api_key=KEY)
    before = metric(gw, "llm_link_cost_usd_total", model="mini", provider="oai")
    raw = client.chat.completions.with_raw_response.create(model="mini", messages=MSG)  # type: ignore[arg-type]
    assert float(raw.headers["X-LLM-Link-Cost-USD"]) == pytest.approx(GPT4O_MINI, rel=1e-6)
    assert metric(gw, "llm_link_cost_usd_total", model="mini", provider="oai") - before == pytest.approx(GPT4O_MINI)
    record = [r for r in log_records(gw, "mini") if r["request_id"] == raw.headers["X-Request-ID"]][0]
    assert record["cost_usd"] == pytest.approx(GPT4O_MINI, rel=1e-9)


def test_streamed_answer_is_costed_in_metrics_and_log(gw: Gateway) -> None:
    client = openai.OpenAI(base_url=gw.url + "/v1", api_key=KEY)
    before = metric(gw, "llm_link_key_cost_total", key="team-1", model="mini")
    stream = client.chat.completions.create(
        model="mini",
        messages=MSG,  # type: ignore[arg-type]
        stream=True,
        stream_options={"include_usage": True},
    )
    text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    assert text
    after = metric(gw, "llm_link_key_cost_total", key="team-1", model="mini")
    assert after - before == pytest.approx(GPT4O_MINI)
    streamed = [r for r in log_records(gw, "mini") if r["stream"]]
    assert streamed and streamed[-1]["cost_usd"] == pytest.approx(GPT4O_MINI, rel=1e-9)


def test_anthropic_cache_reads_and_writes_at_the_configured_rates(gw: Gateway) -> None:
    client = anthropic.Anthropic(base_url=gw.url + "/anthropic", api_key=KEY)
    raw = client.messages.with_raw_response.create(model="house", max_tokens=50, messages=MSG)  # type: ignore[arg-type]
    assert float(raw.headers["X-LLM-Link-Cost-USD"]) == pytest.approx(HOUSE, rel=1e-6)
    with client.messages.stream(model="house", max_tokens=50, messages=MSG) as s:  # type: ignore[arg-type]
        s.until_done()
    assert metric(gw, "llm_link_cost_usd_total", model="house", provider="claude") == pytest.approx(2 * HOUSE)
    assert metric(gw, "llm_link_key_cost_total", key="team-1", model="house") == pytest.approx(2 * HOUSE)


def test_unknown_price_means_no_cost_rather_than_a_wrong_one(gw: Gateway) -> None:
    client = openai.OpenAI(base_url=gw.url + "/v1", api_key=KEY)
    raw = client.chat.completions.with_raw_response.create(model="mystery", messages=MSG)  # type: ignore[arg-type]
    assert "X-LLM-Link-Cost-USD" not in raw.headers
    record = [r for r in log_records(gw, "mystery") if r["request_id"] == raw.headers["X-Request-ID"]][0]
    assert record["tokens_in"] == 12 and "cost_usd" not in record
    assert "no price known for oai/no-such-model-xyz" in gw.log()


def test_free_mock_costs_zero(gw: Gateway) -> None:
    r = httpx.post(
        gw.url + "/v1/chat/completions",
        headers={"Authorization": f"Bearer {KEY}"},
        json={"model": "demo", "messages": MSG},
    )
    assert r.status_code == 200 and r.headers["X-LLM-Link-Cost-USD"] == "0"
    text = httpx.get(gw.url + "/metrics").text  # a free model still shows in the spend metrics
    assert 'llm_link_cost_usd_total{model="demo",provider="mock"} 0.0' in text
    assert 'llm_link_key_cost_total{key="team-1",model="demo"} 0.0' in text


def test_check_shows_each_models_price(fake_openai: FakeOpenAI, fake_anthropic: FakeAnthropic, tmp_path: Any) -> None:
    import yaml

    path = tmp_path / "llm-link.yaml"
    path.write_text(yaml.safe_dump(spend_config(fake_openai, fake_anthropic)))
    out = subprocess.run(
        [sys.executable, "-m", "gateway.cli", "check", "-c", str(path)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    mini = next(line for line in lines if "price oai/gpt-4o-mini" in line)
    assert "input $0.15" in mini and "cache read $0.075" in mini and "output $0.6" in mini and "genai-prices" in mini
    house = next(line for line in lines if "price claude/claude-house-1" in line)
    assert "input $3," in house and "cache write $3.75" in house and "(config)" in house
    assert any("price oai/no-such-model-xyz: unknown" in line for line in lines)
    assert any("price mock/demo:" in line and "free" in line for line in lines)


def test_check_names_budgets_and_where_traces_go(tmp_path: Any) -> None:
    import yaml

    cfg = {
        "providers": {"mock": {"type": "mock"}},
        "models": {"demo": "mock/demo"},
        "auth": {"keys": [{"name": "team-a", "key": "sk-a", "budget": {"usd": 50, "period": "day"}}]},
        "telemetry": {"otlp_endpoint": "http://collector:4318/", "sample_ratio": 0.25},
    }
    path = tmp_path / "llm-link.yaml"
    path.write_text(yaml.safe_dump(cfg))
    out = subprocess.run(
        [sys.executable, "-m", "gateway.cli", "check", "-c", str(path)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    assert "budgets: team-a $50/day" in out.stdout
    assert "traces: to http://collector:4318/v1/traces as 'llm-link', sample ratio 0.25" in out.stdout


def test_gemini_thinking_tokens_are_billed_as_output(fake_gemini: Any) -> None:
    from tests.fakes.gemini_upstream import API_KEY as GEMINI_KEY

    cfg = {
        "providers": {"goog": {"type": "gemini", "base_url": fake_gemini.url, "api_key": GEMINI_KEY}},
        "models": {"flash": "goog/gemini-2.5-flash"},
    }
    with Gateway(cfg) as g:
        r = httpx.post(g.url + "/v1/chat/completions", json={"model": "flash", "messages": MSG}, timeout=30)
        assert r.status_code == 200, r.text
    # The fake reports 12 prompt tokens, 5 candidate and 2 thinking tokens; Google bills thinking as output.
    expected = table_price("gemini-2.5-flash", Usage(input_tokens=12, output_tokens=7), "google")
    assert expected > 0
    assert float(r.headers["X-LLM-Link-Cost-USD"]) == pytest.approx(expected, rel=1e-6)
