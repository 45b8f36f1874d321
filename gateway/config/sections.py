"""Checks of single config sections once converted (auth keys, telemetry, the safe edge, database, cache,
admin), each returning its problems with their paths; gateway.config.validate runs them."""

from __future__ import annotations

import hashlib
import ipaddress
import re

from gateway.config.schema import AdminConfig, AuthConfig, CacheConfig, Config, StateConfig, TelemetryConfig


def check_auth(auth: AuthConfig, has_database: bool = False) -> list[str]:
    problems: list[str] = []
    if not auth.keys and not has_database:  # with a database, the keys may all live there
        problems.append("auth.keys: at least one key is needed (remove `auth` to run without gateway keys)")
    names: set[str] = set()
    secrets: set[str] = set()
    for i, k in enumerate(auth.keys):
        where = f"auth.keys[{i}]"
        if not k.name:
            problems.append(f"{where}.name: must not be empty")
        elif k.name in names:
            problems.append(f"{where}.name: duplicate key name {k.name!r}")
        names.add(k.name)
        if (k.key is None) == (k.key_sha256 is None):
            problems.append(f"{where}: needs exactly one of `key` or `key_sha256`")
        elif k.key is not None and not k.key:
            problems.append(f"{where}.key: must not be empty")
        elif k.key_sha256 is not None and not re.fullmatch(r"[0-9a-fA-F]{64}", k.key_sha256):
            problems.append(f"{where}.key_sha256: expected 64 hex digits (the sha256 of the key)")
        else:
            digest = k.key_sha256.lower() if k.key_sha256 else hashlib.sha256(k.key.encode()).hexdigest()  # type: ignore[union-attr]
            if digest in secrets:
                problems.append(f"{where}: the same key is already given to another entry")
            secrets.add(digest)
        if k.models is not None:
            if not k.models:
                problems.append(f"{where}.models: must list at least one pattern (omit it to allow every model)")
            for j, pattern in enumerate(k.models):
                if not pattern:
                    problems.append(f"{where}.models[{j}]: must not be empty")
        for field in ("rpm", "tpm", "max_concurrency", "monthly_tokens"):
            value = getattr(k, field)
            if value is not None and value < 1:
                problems.append(f"{where}.{field}: must be >= 1 (omit it for no limit)")
        if k.budget is not None and not k.budget.usd > 0:
            problems.append(f"{where}.budget.usd: must be > 0 (omit `budget` for no budget)")
    return problems


def check_telemetry(t: TelemetryConfig) -> list[str]:
    problems: list[str] = []
    # An empty endpoint (e.g. an unset ${VAR:-}) means no tracing, as an absent one does.
    if t.otlp_endpoint and not t.otlp_endpoint.startswith(("http://", "https://")):
        problems.append("telemetry.otlp_endpoint: expected an http:// or https:// URL (the OTLP/HTTP base URL)")
    if not 0.0 <= t.sample_ratio <= 1.0:
        problems.append("telemetry.sample_ratio: must be between 0 and 1")
    if not t.service_name:
        problems.append("telemetry.service_name: must not be empty")
    if t.otlp_endpoint:
        from gateway.tracing import available

        if not available():
            problems.append(
                "telemetry.otlp_endpoint: tracing needs the OpenTelemetry packages: pip install 'llm-link[otel]'"
            )
    return problems


def check_edge(cfg: Config) -> list[str]:
    """The safe-edge settings."""
    problems: list[str] = []
    s = cfg.server
    if s.max_dynamic_models < 0:
        problems.append("server.max_dynamic_models: must be >= 0")
    if s.metrics_key is not None and not s.metrics_key:
        problems.append("server.metrics_key: must not be empty (omit it to leave /metrics open)")
    for name, p in cfg.providers.items():
        for field in ("max_response_bytes", "max_image_bytes"):
            if getattr(p, field) < 1024:
                problems.append(f"providers.{name}.{field}: must be >= 1024")
        if p.image_timeout <= 0:
            problems.append(f"providers.{name}.image_timeout: must be > 0 (seconds)")
        for i, net in enumerate(p.fetch_images_allow):
            try:
                ipaddress.ip_network(net, strict=False)
            except ValueError:
                problems.append(f"providers.{name}.fetch_images_allow[{i}]: not a network or address: {net!r}")
    return problems


def check_database(state: StateConfig) -> list[str]:
    from gateway.store import check_url

    problems = []
    if state.database_url is not None:
        problem = check_url(state.database_url)
        if problem:
            problems.append(f"state.database_url: {problem}")
    if state.usage_retention_days <= 0:
        problems.append("state.usage_retention_days: must be > 0")
    return problems


def check_cache(cache: CacheConfig, state: StateConfig | None) -> list[str]:
    problems = []
    if cache.ttl <= 0:
        problems.append("cache.ttl: must be positive")
    if cache.max_entries < 1:
        problems.append("cache.max_entries: must be at least 1")
    if cache.max_entry_bytes < 1024:
        problems.append("cache.max_entry_bytes: must be at least 1024")
    if cache.backend == "redis" and (state is None or not state.redis_url):
        problems.append("cache.backend: `redis` needs state.redis_url")
    return problems


def check_admin(admin: AdminConfig) -> list[str]:
    if (admin.key is None) == (admin.key_sha256 is None):
        return ["admin: needs exactly one of `key` or `key_sha256`"]
    if admin.key is not None and len(admin.key) < 16:
        return ["admin.key: use at least 16 characters"]
    if admin.key_sha256 is not None and not re.fullmatch(r"[0-9a-fA-F]{64}", admin.key_sha256):
        return ["admin.key_sha256: expected 64 hex digits (the sha256 of the key)"]
    return []
