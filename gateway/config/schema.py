"""The config file's shape as msgspec structs, and a dialect's effective settings."""

from __future__ import annotations

from typing import Any, Literal

import msgspec

import dialects as dialect_registry
from providers import registry


class ConfigError(Exception):
    """Start-up stops with these messages, one per problem, each naming its path."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


# ---------------------------------------------------------------------------------------------- schema


class ServerConfig(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    host: str = "127.0.0.1"
    port: int = 8080
    workers: int = 1
    max_body_bytes: int = 10 * 1024 * 1024
    cors_origins: str | list[str] | None = None  # None = localhost origins only; "*" or a list widens it
    log_level: str = "info"
    graceful_timeout: float = 30.0
    request_timeout: float = 60.0  # seconds to receive a whole request
    keep_alive_timeout: float = 5.0
    max_header_bytes: int = 8192  # request line + headers; larger gets 413 (Sanic caps this at 16384)
    openapi: bool = False
    watch_config: bool = False  # reload when the file changes (gateway.reload); SIGHUP always reloads
    # The safe edge (gateway/edge.py): hosts accepted while bound to loopback, a key for /metrics,
    # and how many unconfigured `provider/model` names get their own metric label before folding into `other`.
    allowed_hosts: list[str] = []
    metrics_key: str | None = None
    max_dynamic_models: int = 256


class DialectConfig(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    enabled: bool = True
    prefix: str | None = None  # None = the dialect's default prefix
    auth: bool = True  # False opens this dialect without a gateway key


class CircuitConfig(msgspec.Struct, forbid_unknown_fields=True):
    failures: int = 5
    cooldown: float = 30.0


class ProviderConfig(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    type: str
    base_url: str | None = None
    api_key: str | None = None
    timeout: float = 600.0  # whole request
    connect_timeout: float = 10.0
    read_timeout: float | None = None  # longest upstream silence (a stalled stream); None = only `timeout`
    headers: dict[str, str] = {}
    max_tokens: int | None = None  # default max_tokens when a client gave none (Anthropic needs one)
    max_concurrency: int | None = None
    circuit: CircuitConfig | None = None
    models: list[str] | None = None  # advertised in listings; absent = ask the upstream where it can
    max_response_bytes: int = 64 * 1024 * 1024  # a larger non-streaming upstream body is a 502
    fetch_images: bool = False  # download image URLs for upstreams that take only inline images
    max_image_bytes: int = 20 * 1024 * 1024
    image_timeout: float = 10.0
    fetch_images_allow: list[str] = []  # networks (CIDR) images may come from although not public, e.g. a LAN host
    options: dict[str, Any] = {}  # type-specific settings, checked by the provider's Options struct
    api: Literal["chat", "responses"] = "chat"  # which upstream API an `openai` provider calls
    passthrough: bool = True  # same API on both sides: forward the client's body instead of rebuilding it
    forward_headers: list[str] = []  # client headers passed on to this upstream (never credentials)


class Target(msgspec.Struct, forbid_unknown_fields=True):
    provider: str
    model: str
    weight: float = 1.0


class Price(msgspec.Struct, forbid_unknown_fields=True):
    """Per million tokens; overrides the price table (gateway.spend). Cache rates default to `input`."""

    input: float = 0.0
    output: float = 0.0
    cache_read: float | None = None
    cache_write: float | None = None


# The sampling and length settings `defaults` / `overrides` name the same way for every API (each dialect and
# provider maps them to its own field names). Any other key is a body field of the upstream's API, sent as
# written (gateway.dispatch.transform, gateway.native.apply_fields).
MODEL_PARAMS = frozenset(
    ("max_tokens", "temperature", "top_p", "top_k", "seed", "presence_penalty", "frequency_penalty", "stop")
)


class ModelConfig(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    provider: str | None = None
    model: str | None = None
    targets: list[Target] | None = None
    fallbacks: list[str] = []
    retries: int = 1
    timeout: float | None = None
    first_token_timeout: float | None = None
    defaults: dict[str, Any] = {}
    overrides: dict[str, Any] = {}
    system_prefix: str | None = None
    headers: dict[str, str] = {}
    max_tokens: int | None = None
    context_length: int | None = None
    capabilities: list[str] | None = None  # completion, tools, vision, thinking, embedding
    family: str | None = None
    price: Price | None = None  # per million tokens, instead of the price table's (gateway.spend)
    cache: bool = False  # exact answers from the response cache (gateway.cache); needs `cache:`
    affinity: str | None = None  # "session": one conversation stays on one healthy target (gateway.affinity)


class Budget(msgspec.Struct, forbid_unknown_fields=True):
    """Dollars a key may spend per UTC day or calendar month (gateway.budget)."""

    usd: float
    period: Literal["day", "month"] = "month"


class KeyConfig(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    """One gateway key (a team or an app): who it is, which models it may use, and its limits."""

    name: str
    key: str | None = None
    key_sha256: str | None = None  # hex digest, so the file holds no secret
    models: list[str] | None = None  # glob patterns; None = every model
    rpm: int | None = None
    tpm: int | None = None
    max_concurrency: int | None = None
    monthly_tokens: int | None = None
    budget: Budget | None = None


class AuthConfig(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    keys: list[KeyConfig] = []


class StateConfig(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    redis_url: str | None = None  # shared limits and quotas across workers and replicas
    key_prefix: str = "llm-link"
    database_url: str | None = None  # keys and usage rows (gateway.store): sqlite:///path or postgresql://...
    usage_retention_days: float = 30.0


class AdminConfig(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    """The admin API (gateway.admin): one bearer key, given as itself or as its sha256."""

    key: str | None = None
    key_sha256: str | None = None


class TelemetryConfig(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    """OpenTelemetry traces (gateway.tracing); absent = no tracing at all."""

    otlp_endpoint: str | None = None  # OTLP/HTTP base URL; spans go to {otlp_endpoint}/v1/traces
    service_name: str = "llm-link"
    sample_ratio: float = 1.0
    capture_content: bool = False
    headers: dict[str, str] = {}  # sent with every export (e.g. a collector's auth)


class ResponsesConfig(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    """OpenAI Responses API state: stateless unless a store is configured."""

    store: Literal["none", "memory", "redis"] = "none"
    ttl: float = 3600.0  # seconds a stored response stays retrievable


class CacheConfig(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    """The exact response cache (gateway.cache): used only by models with `cache: true`."""

    backend: Literal["memory", "redis"] = "memory"  # memory: per worker, bounded; redis: state.redis_url
    ttl: float = 300.0  # seconds
    max_entries: int = 10000  # memory backend
    max_entry_bytes: int = 1024 * 1024  # a larger answer is not stored (both backends)
    shared: bool = False  # False: a gateway key sees only the answers given to it


class LegacyBackend(msgspec.Struct, forbid_unknown_fields=True):
    """The seed's single-backend form."""

    type: str
    model: str
    base_url: str | None = None
    api_key: str | None = None


class Config(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    server: ServerConfig = msgspec.field(default_factory=ServerConfig)
    dialects: dict[str, DialectConfig] = {}
    providers: dict[str, ProviderConfig] = {}
    models: dict[str, ModelConfig] = {}
    default_model: str | None = None
    aliases: dict[str, str] = {}  # client model-name globs -> configured model names; exact names win (§7)
    llm_backend: LegacyBackend | None = None
    auth: AuthConfig | None = None
    state: StateConfig | None = None
    telemetry: TelemetryConfig | None = None
    responses: ResponsesConfig | None = None
    admin: AdminConfig | None = None
    cache: CacheConfig | None = None
    source: str = "built-in default"  # where it came from, for `check` and logs

    def provider_options(self, name: str) -> msgspec.Struct | None:
        return registry.parse_options(self.providers[name].type, self.providers[name].options)


def dialect_settings(cfg: Config, name: str) -> DialectConfig:
    d = cfg.dialects.get(name) or DialectConfig()
    if d.prefix is None:
        d = msgspec.structs.replace(d, prefix=dialect_registry.get(name).prefix)
    return d


LogLevel = Literal["debug", "info", "warning", "error", "critical"]
