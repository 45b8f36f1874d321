"""Model name -> where it goes (SPEC §2): configured names and aliases, `provider/model` pass-through,
Ollama-style `:latest` tags, and `default_model` for anything else."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from gateway.circuit import Circuit, ConcurrencyCap
from gateway.config import Config, ModelConfig
from gateway.spend import PriceBook, Rates
from unified.errors import model_not_found
from unified.provider import ModelInfo, Provider

log = logging.getLogger("llm_link")


class Target:
    """One deployment a model can be served from: a provider plus its upstream model name."""

    __slots__ = ("cap", "circuit", "label", "model", "provider", "rates", "weight")

    def __init__(self, provider: Provider, model: str, weight: float, circuit: Circuit, cap: ConcurrencyCap) -> None:
        self.provider = provider
        self.model = model
        self.weight = weight
        self.label = f"{provider.name}/{model}"
        self.circuit = circuit
        self.cap = cap
        self.rates: Rates | None = None  # per-token prices, resolved once per worker (gateway.spend)


class Route:
    """Everything needed to serve one client-facing model name."""

    __slots__ = (
        "config",
        "fallback_routes",
        "fallbacks",
        "first_token_timeout",
        "headers",
        "name",
        "retries",
        "targets",
        "timeout",
    )

    def __init__(self, name: str, targets: list[Target], config: ModelConfig | None) -> None:
        self.name = name
        self.targets = targets
        self.config = config
        self.fallbacks: list[str] = list(config.fallbacks) if config else []
        self.fallback_routes: list[Route] = []  # linked by the Router once every route exists
        self.retries = config.retries if config else 1
        self.timeout = config.timeout if config else None
        self.first_token_timeout = config.first_token_timeout if config else None
        self.headers = config.headers if config and config.headers else None

    @property
    def primary(self) -> Target:
        return self.targets[0]


class Router:
    def __init__(self, config: Config, providers: dict[str, Provider]) -> None:
        self.config = config
        self.providers = providers
        self.caps = {name: ConcurrencyCap(p.config.max_concurrency) for name, p in providers.items()}
        self._circuits: dict[str, Circuit] = {}
        self._passthrough: dict[str, Route] = {}
        self._listing: tuple[float, list[tuple[str, str, ModelInfo]]] | None = None
        self.routes: dict[str, Route] = {}
        self.prices = PriceBook()
        for name, m in config.models.items():
            specs = m.targets or []
            targets = (
                [self.target(t.provider, t.model, t.weight) for t in specs]
                if specs
                else [self.target(m.provider or "", m.model or "")]
            )
            for t in targets:
                t.rates = self.prices.rates(t.provider, t.model, m.price)
            self.routes[name] = Route(name, targets, m)
        for route in self.routes.values():
            route.fallback_routes = [self.routes[f] for f in route.fallbacks]

    def target(self, provider_name: str, model: str, weight: float = 1.0) -> Target:
        """A target; every route naming the same provider/model shares one circuit."""
        provider = self.providers[provider_name]
        label = f"{provider_name}/{model}"
        circuit = self._circuits.get(label)
        if circuit is None:
            c = provider.config.circuit
            circuit = self._circuits[label] = Circuit(c.failures, c.cooldown) if c else Circuit()
        return Target(provider, model, weight, circuit, self.caps[provider_name])

    def resolve(self, name: str) -> Route:
        """The route for a client model name, or a 404 GatewayError."""
        route = self.find(name)
        if route is None:
            if self.config.default_model is not None:
                default = self.find(self.config.default_model)
                if default is not None:
                    return default
            raise model_not_found(name)
        return route

    def find(self, name: str) -> Route | None:
        route = self.routes.get(name)
        if route is not None:
            return route
        if name.endswith(":latest"):
            route = self.routes.get(name[: -len(":latest")])
            if route is not None:
                return route
        route = self._passthrough.get(name)
        if route is not None:
            return route
        provider_name, sep, upstream = name.partition("/")
        if sep and upstream and provider_name in self.providers:
            if len(self._passthrough) > 4096:  # client-chosen names: keep the cache bounded
                self._passthrough.clear()
            target = self.target(provider_name, upstream)
            target.rates = self.prices.rates(target.provider, upstream)
            route = self._passthrough[name] = Route(name, [target], None)
            return route
        return None

    async def list_models(self) -> list[tuple[str, str, ModelInfo]]:
        """(client-facing name, provider name, info) for every model a client can ask for: configured
        names first, then `provider/model` for what each provider advertises. A provider that is down is
        skipped (after a short wait), never an error. Cached briefly per worker."""
        now = time.monotonic()
        if self._listing is not None and now - self._listing[0] < 30:
            return self._listing[1]
        out: list[tuple[str, str, ModelInfo]] = []
        for name, route in self.routes.items():
            t = route.primary
            m = route.config
            out.append(
                (
                    name,
                    t.provider.name,
                    ModelInfo(
                        id=name,
                        context_length=m.context_length if m else None,
                        capabilities=m.capabilities if m else None,
                        family=m.family if m else None,
                    ),
                )
            )

        async def ask(p: Provider) -> list[ModelInfo]:
            try:
                return await asyncio.wait_for(p.list_models(), timeout=3.0)
            except Exception as err:
                log.warning("listing models of provider %s failed: %s", p.name, type(err).__name__)
                return []

        providers = list(self.providers.values())
        results = await asyncio.gather(*(ask(p) for p in providers))
        seen = {name for name, _, _ in out}
        for p, infos in zip(providers, results):
            for info in infos:
                full = f"{p.name}/{info.id}"
                if full not in seen:
                    seen.add(full)
                    out.append((full, p.name, info))
        self._listing = (now, out)
        return out

    def describe(self) -> list[dict[str, Any]]:
        """The resolved routing table, for `llm-link check`."""
        rows = []
        for name, route in self.routes.items():
            m = route.config
            rows.append(
                {
                    "model": name,
                    "targets": [(t.label, t.weight) for t in route.targets],
                    "prices": [(t.label, t.rates.describe() if t.rates else "unknown") for t in route.targets],
                    "fallbacks": route.fallbacks,
                    "retries": m.retries if m else 1,
                    "timeout": m.timeout if m else None,
                    "first_token_timeout": m.first_token_timeout if m else None,
                    "defaults": m.defaults if m else {},
                    "overrides": m.overrides if m else {},
                    "system_prefix": m.system_prefix if m else None,
                    "headers": sorted(m.headers) if m and m.headers else [],
                }
            )
        return rows
