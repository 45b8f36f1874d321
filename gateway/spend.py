"""What a request cost in US dollars.

Prices come from `genai-prices` (Pydantic's table of LLM API prices, bundled with the package, so lookups
work offline), matched to the upstream model name and, where the provider's base URL is a known API, to
that provider; a model's `price:` in the config overrides the table. Each target's rates are resolved
once per worker (the Router keeps them on the Target), so a request costs a few float operations.

Rates are per token. The table's tiered prices (one rate for prompts up to a size, another above it, as
Anthropic's and Google's long-context prices) are kept as tiers and picked by the prompt's size."""

from __future__ import annotations

import logging
import time
from typing import Any

from unified.types import Usage

log = logging.getLogger("llm_link")


RECHECK = 60.0  # seconds between looks at a time-dependent table price

# One component's price: (base per-token price, ((threshold input tokens, per-token price), ...) descending).
Component = tuple[float, tuple[tuple[int, float], ...]]


class Rates:
    """Per-token prices for one target, and where they came from (for `llm-link check`)."""

    __slots__ = ("cache_read", "cache_write", "input", "output", "recheck", "source", "table", "tiered")

    def __init__(
        self, input: Component, output: Component, cache_read: Component, cache_write: Component, source: str
    ) -> None:
        self.input, self.output, self.cache_read, self.cache_write = input, output, cache_read, cache_write
        self.tiered = bool(input[1] or output[1] or cache_read[1] or cache_write[1])
        self.source = source
        # A table entry whose price depends on the time (off-peak hours, a price change on a date): looked
        # at again every RECHECK seconds. None for fixed prices.
        self.table: Any = None
        self.recheck = 0.0

    def cost(self, usage: Usage) -> float:
        """Dollars for one response. `input_tokens` counts the whole prompt, cached parts included; those
        parts are charged at their own rates (a cache read is usually a tenth of the input price)."""
        if self.table is not None and time.time() >= self.recheck:
            self.refresh()
        cached = usage.cache_read_tokens
        written = usage.cache_creation_tokens
        fresh = max(0, usage.input_tokens - cached - written)
        if not self.tiered:
            return (
                fresh * self.input[0]
                + usage.output_tokens * self.output[0]
                + cached * self.cache_read[0]
                + written * self.cache_write[0]
            )
        size = usage.input_tokens
        return (
            fresh * _rate(self.input, size)
            + usage.output_tokens * _rate(self.output, size)
            + cached * _rate(self.cache_read, size)
            + written * _rate(self.cache_write, size)
        )

    def embed_cost(self, input_tokens: int) -> float:
        if self.table is not None and time.time() >= self.recheck:
            self.refresh()
        return input_tokens * _rate(self.input, input_tokens)

    def refresh(self) -> None:
        """The time-dependent table price as of now."""
        now = time.time()
        self.recheck = now + RECHECK
        fresh = _from_table(self.table, self.source, now)
        if fresh is not None:
            self.input, self.output, self.cache_read, self.cache_write = (
                fresh.input,
                fresh.output,
                fresh.cache_read,
                fresh.cache_write,
            )
            self.tiered = fresh.tiered

    def describe(self) -> str:
        """Per million tokens, as a person reads a price list."""
        if self.source == "free":
            return "free (no charge for this provider type)"

        def per_m(c: Component) -> str:
            text = f"{c[0] * 1e6:.6g}"
            if c[1]:
                text += " (" + ", ".join(f"{p * 1e6:.6g} above {t // 1000}k" for t, p in reversed(c[1])) + ")"
            return text

        parts = [f"input ${per_m(self.input)}", f"output ${per_m(self.output)}"]
        if self.cache_read != self.input:
            parts.append(f"cache read ${per_m(self.cache_read)}")
        if self.cache_write != self.input:
            parts.append(f"cache write ${per_m(self.cache_write)}")
        when = ", now; the table's price changes with the time" if self.table is not None else ""
        return ", ".join(parts) + f" per 1M tokens ({self.source}{when})"


def _rate(c: Component, size: int) -> float:
    for threshold, price in c[1]:
        if size > threshold:
            return price
    return c[0]


def _flat(per_million: float) -> Component:
    return (per_million / 1e6, ())


FREE = Rates(_flat(0), _flat(0), _flat(0), _flat(0), "free")


def from_config(price: Any) -> Rates:
    """A model's `price:` (per million tokens); cache rates default to the input rate (no discount)."""
    inp = _flat(price.input)
    read = _flat(price.cache_read) if price.cache_read is not None else inp
    write = _flat(price.cache_write) if price.cache_write is not None else inp
    return Rates(inp, _flat(price.output), read, write, "config")


def _component(value: Any) -> Component | None:
    """A table price (Decimal per million, or TieredPrices) as a per-token Component."""
    if value is None:
        return None
    tiers = getattr(value, "tiers", None)
    if tiers is not None:
        steps = tuple(sorted(((int(t.start), float(t.price) / 1e6) for t in tiers), reverse=True))
        return (float(value.base) / 1e6, steps)
    return (float(value) / 1e6, ())


class PriceBook:
    """Resolves and remembers rates per (provider, upstream model, override): one table lookup per target
    per worker. The table (a large module) is imported on the first lookup that needs it."""

    def __init__(self) -> None:
        self._cache: dict[tuple[str, str, int], Rates | None] = {}
        self._snapshot: Any = None

    def rates(self, provider: Any, model: str, price: Any = None) -> Rates | None:
        """Rates for `model` on `provider` (a providers.base.Provider); None when the price is unknown."""
        key = (provider.name, model, id(price))
        if key in self._cache:
            return self._cache[key]
        if price is not None:
            found: Rates | None = from_config(price)
        elif provider.free:
            found = FREE
        else:
            found = self.lookup(provider.price_table_id, getattr(provider, "base_url", ""), model)
            if found is None:
                log.warning(
                    "spend: no price known for %s/%s; its requests count tokens but no cost "
                    "(set `price:` on the model to fix)",
                    provider.name,
                    model,
                )
        if len(self._cache) > 4096:  # pass-through names are client-chosen: keep this bounded
            self._cache.clear()
        self._cache[key] = found
        return found

    def lookup(self, table_id: str | None, base_url: str, model: str) -> Rates | None:
        """The table's price for `model`: first as served by the API at `base_url`, then by the table's
        provider for our provider type, then by the model name alone."""
        if self._snapshot is None:
            from genai_prices import data_snapshot

            self._snapshot = data_snapshot.get_snapshot()
        snap = self._snapshot
        attempts: list[tuple[str | None, str | None]] = []
        if base_url.startswith("https://"):
            attempts.append((None, base_url))
        if table_id is not None:  # when the base URL names no known API (Provider.price_table_id)
            attempts.append((table_id, None))
        attempts.append((None, None))
        for provider_id, api_url in attempts:
            try:
                table_provider, info = snap.find_provider_model(model, None, provider_id, api_url)
            except LookupError:
                continue
            rates = _from_table(info, f"{table_provider.id}/{info.id} in genai-prices")
            if rates is not None:
                return rates
        return None


def _from_table(info: Any, source: str, now: float | None = None) -> Rates | None:
    from datetime import UTC, datetime

    when = datetime.now(tz=UTC) if now is None else datetime.fromtimestamp(now, tz=UTC)
    prices = info.get_prices(when)
    inp = _component(getattr(prices, "input_mtok", None))
    out = _component(getattr(prices, "output_mtok", None))
    if inp is None and out is None:
        return None  # priced by something other than tokens (images, seconds of audio)
    inp = inp or (0.0, ())
    out = out or (0.0, ())
    read = _component(getattr(prices, "cache_read_mtok", None)) or inp
    write = _component(getattr(prices, "cache_write_mtok", None)) or inp
    rates = Rates(inp, out, read, write, source)
    if isinstance(info.prices, list):  # conditional prices: by time of day or from a date
        rates.table = info
        rates.recheck = time.time() + RECHECK
    return rates


def estimate_cost(rates: Rates, request: Any, streamed: list[str], input_tokens: int = 0) -> float:
    """The cost of a stream that ended before the upstream reported usage (the client went away, the
    upstream broke off): the upstream bills what it generated, so the key's budget is charged an estimate
    of about four characters a token for the prompt (unless the upstream said) and the text streamed."""
    if not input_tokens:
        chars = sum(len(getattr(p, "text", "")) for m in request.messages for p in m.content)
        input_tokens = chars // 4
    output_tokens = sum(len(t) for t in streamed) // 4 + 1
    return rates.cost(Usage(input_tokens=input_tokens, output_tokens=output_tokens))


def format_usd(cost: float) -> str:
    """For the header: fixed point, no exponent, no trailing zeros ("0.00042", "0")."""
    text = f"{cost:.10f}".rstrip("0").rstrip(".")
    return text or "0"
