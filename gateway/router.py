"""Model name -> where it goes: configured names and aliases, `provider/model` pass-through,
Ollama-style `:latest` tags, and `default_model` for anything else."""

from __future__ import annotations

import asyncio
import fnmatch
import logging
import time
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

from gateway.affinity import Rendezvous
from gateway.circuit import Circuit, ConcurrencyCap
from gateway.config import Config, ModelConfig
from gateway.edge import header_safe
from gateway.spend import PriceBook, Rates
from unified.errors import model_not_found
from unified.provider import ModelInfo, Provider

log = logging.getLogger("llm_link")


class Target:
    """One deployment a model can be served from: a provider plus its upstream model name."""

    __slots__ = ("cap", "circuit", "header_label", "label", "metric_model", "model", "provider", "rates", "weight")

    def __init__(
        self,
        provider: Provider,
        model: str,
        weight: float,
        circuit: Circuit,
        cap: ConcurrencyCap,
        metric_model: str | None = None,
    ) -> None:
        self.provider = provider
        self.model = model
        self.weight = weight
        self.label = f"{provider.name}/{model}"
        self.header_label = header_safe(self.label)  # X-LLM-Link-Provider: the name may be a client's
        self.metric_model = metric_model or model  # the `model` label of upstream metrics
        self.circuit = circuit
        self.cap = cap
        self.rates: Rates | None = None  # per-token prices, resolved once per worker (gateway.spend)

    # What a dialect may read about a target, so that it never reaches into the provider object:
    @property
    def provider_name(self) -> str:
        return self.provider.name

    @property
    def provider_type(self) -> str:
        return self.provider.type

    @property
    def hosted_tools(self) -> bool:
        return self.provider.hosted_tools

    @property
    def carries(self) -> frozenset[str]:
        return self.provider.carries

    @property
    def param_fields(self) -> Mapping[str, str]:
        return self.provider.param_fields


class Route:
    """Everything needed to serve one client-facing model name."""

    __slots__ = (
        "config",
        "fallback_routes",
        "fallbacks",
        "first_token_timeout",
        "headers",
        "memo",
        "metric_name",
        "name",
        "rendezvous",
        "retries",
        "sticky",
        "targets",
        "timeout",
    )

    def __init__(
        self, name: str, targets: list[Target], config: ModelConfig | None, metric_name: str | None = None
    ) -> None:
        self.name = name
        self.metric_name = metric_name or name  # the `model` label: a configured name, or a folded client one
        self.targets = targets
        self.config = config
        self.fallbacks: list[str] = list(config.fallbacks) if config else []
        self.fallback_routes: list[Route] = []  # linked by the Router once every route exists
        self.retries = config.retries if config else 1
        self.timeout = config.timeout if config else None
        self.first_token_timeout = config.first_token_timeout if config else None
        self.headers = config.headers if config and config.headers else None
        # `affinity: session` (gateway.affinity); `sticky`: this route or a fallback wants the session key.
        sessions = config is not None and config.affinity == "session" and len(targets) > 1
        self.rendezvous = Rendezvous(targets) if sessions else None
        self.sticky = sessions
        # Facts about the route the lanes work out on first use instead of per request (gateway.forward).
        # Routes, providers and fallbacks are fixed for a router's life: a reload builds a new router.
        self.memo: dict[str, Any] = {}

    @property
    def primary(self) -> Target:
        return self.targets[0]

    # What a dialect may ask about the route's primary target (listings, lane choice, hosted tools):
    @property
    def owner(self) -> str:
        """The primary target's provider name (`owned_by` in model listings)."""
        return self.targets[0].provider.name

    @property
    def primary_label(self) -> str:
        """`provider/model` of the primary target."""
        return self.targets[0].label

    @property
    def hosted_tools(self) -> bool:
        """Whether the primary upstream runs Responses hosted tools itself."""
        return self.targets[0].provider.hosted_tools

    def native_path(self, api: str) -> str | None:
        """The primary upstream's path for wire API `api` when it is forwarded as-is, else None."""
        return self.targets[0].provider.native_path(api)


OTHER = "other"  # the metric label every unconfigured name past server.max_dynamic_models shares
MAX_MODEL_NAME = 512  # longer `provider/model` names are not passed through (no model is named like that)


class ModelLabels:
    """Metric `model` labels for names a client chose (`provider/model` not in the config): the first
    `limit` distinct names this worker sees keep their own label, every later one is `other`. So the number
    of series stays bounded whatever clients send."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.names: set[str] = set()

    def label(self, name: str) -> str:
        if name in self.names:
            return name
        if len(self.names) < self.limit:
            self.names.add(name)
            return name
        return OTHER


class Router:
    def __init__(self, config: Config, providers: dict[str, Provider]) -> None:
        # `aliases:` most specific first (more literal characters), so `claude-*haiku*` beats `claude-*`
        self._aliases = sorted(config.aliases.items(), key=lambda kv: -sum(c not in "*?[]" for c in kv[0]))
        self.config = config
        self.providers = providers
        self.caps = {name: ConcurrencyCap(p.config.max_concurrency) for name, p in providers.items()}
        self._circuits: dict[str, Circuit] = {}
        # Routes (with their circuits) for unconfigured `provider/model` names, least recently used first.
        self._passthrough: OrderedDict[str, Route] = OrderedDict()
        self.labels = ModelLabels(config.server.max_dynamic_models)
        self.max_passthrough = max(64, 4 * config.server.max_dynamic_models)
        self._listing: tuple[float, list[tuple[str, str, ModelInfo]]] | None = None
        self.routes: dict[str, Route] = {}
        self.prices = PriceBook()
        self.memo: dict[str, Any] = {}  # as Route.memo, for the whole router
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
            route.sticky = route.sticky or any(f.rendezvous is not None for f in route.fallback_routes)

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

    def configured(self, name: str) -> Route | None:
        """The route of a model named in the config (no pass-through, tags or default)."""
        return self.routes.get(name)

    def find(self, name: str) -> Route | None:
        route = self.routes.get(name)
        if route is not None:
            return route
        if name.endswith(":latest"):
            route = self.routes.get(name[: -len(":latest")])
            if route is not None:
                return route
        passthrough = self._passthrough
        route = passthrough.get(name)
        if route is not None:
            passthrough.move_to_end(name)
            return route
        for glob, target in self._aliases:  # exact names were tried above
            if fnmatch.fnmatchcase(name, glob):
                return self.routes.get(target)
        provider_name, sep, upstream = name.partition("/")
        if sep and upstream and provider_name in self.providers and len(name) <= MAX_MODEL_NAME:
            route = passthrough[name] = self._dynamic_route(name, provider_name, upstream)
            if len(passthrough) > self.max_passthrough:  # client-chosen names: bounded, least recent goes
                passthrough.popitem(last=False)
            return route
        return None

    def _dynamic_route(self, name: str, provider_name: str, upstream: str) -> Route:
        """A route for an unconfigured `provider/model`: it shares the circuit of a configured target of the
        same name, else has its own, which goes with the route when it leaves the LRU."""
        label = self.labels.label(name)
        provider = self.providers[provider_name]
        circuit = self._circuits.get(f"{provider_name}/{upstream}")
        if circuit is None:
            c = provider.config.circuit
            circuit = Circuit(c.failures, c.cooldown) if c else Circuit()
        metric_model = upstream if label != OTHER else OTHER
        target = Target(provider, upstream, 1.0, circuit, self.caps[provider_name], metric_model)
        target.rates = self.prices.rates(provider, upstream)
        return Route(name, [target], None, label)

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
                    "affinity": m.affinity if m else None,
                    "timeout": m.timeout if m else None,
                    "first_token_timeout": m.first_token_timeout if m else None,
                    "defaults": m.defaults if m else {},
                    "overrides": m.overrides if m else {},
                    "system_prefix": m.system_prefix if m else None,
                    "headers": sorted(m.headers) if m and m.headers else [],
                }
            )
        return rows
