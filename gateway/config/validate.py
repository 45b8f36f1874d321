"""Validation of an env-expanded mapping into a Config, reporting every problem with its path (msgspec alone
stops at the first)."""

from __future__ import annotations

import re
from typing import Any

import msgspec

import dialects as dialect_registry
from gateway.config import sections
from gateway.config.schema import (
    AdminConfig,
    AuthConfig,
    CacheConfig,
    Config,
    ConfigError,
    DialectConfig,
    KeyConfig,
    LegacyBackend,
    ModelConfig,
    ProviderConfig,
    ResponsesConfig,
    ServerConfig,
    StateConfig,
    Target,
    TelemetryConfig,
)
from providers import registry


def _msgspec_problem(prefix: str, err: msgspec.ValidationError) -> str:
    text = str(err)
    m = re.search(r" - at `\$(.*)`$", text)
    where = prefix
    if m:
        text = text[: m.start()]
        where = prefix + m.group(1)
    return f"{where}: {text}"


def _convert(value: Any, type_: Any, path: str, problems: list[str]) -> Any:
    """Convert a mapping into a config struct, reporting every bad or unknown field (msgspec alone stops
    at the first)."""
    if isinstance(type_, type) and issubclass(type_, msgspec.Struct):
        if not isinstance(value, dict):
            problems.append(f"{path}: expected a mapping, got {type(value).__name__}")
            return None
        fields = {f.encode_name: f for f in msgspec.structs.fields(type_)}
        kwargs: dict[str, Any] = {}
        ok = True
        for key, item in value.items():
            field = fields.get(key)
            if field is None:
                problems.append(f"{path}.{key}: unknown key (expected one of: {', '.join(fields)})")
                ok = False
                continue
            try:
                kwargs[field.name] = msgspec.convert(item, field.type, strict=True)
            except msgspec.ValidationError as err:
                problems.append(_msgspec_problem(f"{path}.{key}", err))
                ok = False
        missing = [
            f.encode_name for f in fields.values() if f.required and f.name not in kwargs and f.encode_name not in value
        ]
        for name in missing:
            problems.append(f"{path}.{name}: required")
        if not ok or missing:
            return None
        return type_(**kwargs)
    try:
        return msgspec.convert(value, type_, strict=True)
    except msgspec.ValidationError as err:
        problems.append(_msgspec_problem(path, err))
        return None


def _model_entry(name: str, raw: Any, problems: list[str]) -> ModelConfig | None:
    path = f"models.{name}"
    if isinstance(raw, str):
        provider, sep, model = raw.partition("/")
        if not sep or not provider or not model:
            problems.append(f'{path}: expected "provider/upstream-model" or a mapping, got {raw!r}')
            return None
        return ModelConfig(provider=provider, model=model)
    entry = _convert(raw, ModelConfig, path, problems)
    if entry is None:
        return None
    if entry.targets is None and not (entry.provider and entry.model):
        problems.append(f"{path}: needs `provider` and `model`, or `targets`")
        return None
    return entry


def parse(raw: Any, source: str) -> Config:
    """Validate an already env-expanded mapping; raises ConfigError listing every problem."""
    problems: list[str] = []
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError([f"{source}: the config must be a mapping, got {type(raw).__name__}"])

    known = {f for f in Config.__struct_fields__ if f != "source"}
    for key in raw:
        if key not in known:
            problems.append(f"{key}: unknown key (expected one of: {', '.join(sorted(known))})")

    server = _convert(raw.get("server") or {}, ServerConfig, "server", problems) or ServerConfig()

    dialects: dict[str, DialectConfig] = {}
    for name, value in (raw.get("dialects") or {}).items():
        if name not in dialect_registry.DIALECTS:
            problems.append(
                f"dialects.{name}: unknown dialect (expected one of: {', '.join(dialect_registry.DIALECTS)})"
            )
            continue
        d = _convert(value or {}, DialectConfig, f"dialects.{name}", problems)
        if d is not None:
            dialects[name] = d

    providers: dict[str, ProviderConfig] = {}
    raw_providers = raw.get("providers") or {}
    if not isinstance(raw_providers, dict):
        problems.append("providers: expected a mapping of provider name -> settings")
        raw_providers = {}
    broken_providers: set[str] = set()
    for name, value in raw_providers.items():
        path = f"providers.{name}"
        broken_providers.add(str(name))
        if "/" in str(name):
            problems.append(f"{path}: provider names cannot contain '/'")
            continue
        p = _convert(value, ProviderConfig, path, problems)
        if p is None:
            continue
        if p.type not in registry.types():
            problems.append(
                f"{path}.type: unknown provider type {p.type!r} (expected one of: {', '.join(registry.types())})"
            )
            continue
        for problem in registry.check_options(p.type, p.options):
            problems.append(f"{path}.options{problem}")
        for problem in registry.check_config(p.type, p):
            problems.append(f"{path}.{problem}")
        providers[name] = p
        broken_providers.discard(str(name))

    backend = None
    if raw.get("llm_backend") is not None:
        backend = _convert(raw["llm_backend"], LegacyBackend, "llm_backend", problems)

    models: dict[str, ModelConfig] = {}
    raw_models = raw.get("models") or {}
    if not isinstance(raw_models, dict):
        problems.append("models: expected a mapping of model name -> route")
        raw_models = {}
    for name, value in raw_models.items():
        entry = _model_entry(str(name), value, problems)
        if entry is not None:
            models[str(name)] = entry

    aliases: dict[str, str] = {}
    raw_aliases = raw.get("aliases") or {}
    if not isinstance(raw_aliases, dict):
        problems.append("aliases: expected a mapping of model-name glob -> configured model name")
        raw_aliases = {}
    for glob, target in raw_aliases.items():
        if not isinstance(target, str) or target not in models:
            problems.append(f"aliases.{glob}: {target!r} is not a model configured under `models`")
        elif not str(glob):
            problems.append("aliases: a glob must not be empty")
        else:
            aliases[str(glob)] = target

    default_model = raw.get("default_model")
    if default_model is not None and not isinstance(default_model, str):
        problems.append(f"default_model: expected a string, got {type(default_model).__name__}")
        default_model = None

    if backend is not None:
        if backend.type not in registry.types():
            problems.append(f"llm_backend.type: unknown provider type {backend.type!r}")
        else:
            pname = backend.type if backend.type not in providers else "backend"
            providers[pname] = ProviderConfig(type=backend.type, base_url=backend.base_url, api_key=backend.api_key)
            models.setdefault(backend.model, ModelConfig(provider=pname, model=backend.model))
            default_model = default_model or backend.model

    auth = None
    if raw.get("auth") is not None:
        has_database = isinstance(raw.get("state"), dict) and bool(raw["state"].get("database_url"))
        auth = _auth_config(raw["auth"], problems, has_database)
    state = None
    if raw.get("state") is not None:
        state = _convert(raw["state"], StateConfig, "state", problems)
        if (
            state is not None
            and state.redis_url is not None
            and not state.redis_url.startswith(("redis://", "rediss://", "unix://"))
        ):
            problems.append("state.redis_url: expected redis://, rediss:// or unix:// URL")
    telemetry = None
    if raw.get("telemetry") is not None:
        telemetry = _convert(raw["telemetry"], TelemetryConfig, "telemetry", problems)
        if telemetry is not None:
            problems.extend(sections.check_telemetry(telemetry))
    responses = None
    if raw.get("responses") is not None:
        responses = _convert(raw["responses"], ResponsesConfig, "responses", problems)
        if responses is not None:
            if responses.ttl <= 0:
                problems.append("responses.ttl: must be positive")
            if responses.store == "redis" and (state is None or not state.redis_url):
                problems.append("responses.store: `redis` needs state.redis_url")
    cache = None
    if raw.get("cache") is not None:
        cache = _convert(raw["cache"], CacheConfig, "cache", problems)
        if cache is not None:
            problems.extend(sections.check_cache(cache, state))
    if state is not None:
        if state.database_url == "":  # `${LLM_LINK_DATABASE_URL:-}` unset: no database
            state = msgspec.structs.replace(state, database_url=None)
        problems.extend(sections.check_database(state))
    admin = None
    if raw.get("admin") is not None:
        admin = _convert(raw["admin"], AdminConfig, "admin", problems)
        if admin is not None and admin.key == "" and admin.key_sha256 is None:
            admin = None  # `${LLM_LINK_ADMIN_KEY:-}` unset: the admin API stays off
        if admin is not None:
            problems.extend(sections.check_admin(admin))
    cfg = Config(
        server=server,
        dialects=dialects,
        providers=providers,
        models=models,
        default_model=default_model,
        aliases=aliases,
        auth=auth,
        state=state,
        telemetry=telemetry,
        responses=responses,
        admin=admin,
        cache=cache,
        source=source,
    )
    problems.extend(cross_check(cfg, broken_providers))
    if problems:
        raise ConfigError(problems)
    return cfg


def _auth_config(raw: Any, problems: list[str], has_database: bool = False) -> AuthConfig | None:
    """`auth:` converted key by key, so every bad entry is reported with its own path."""
    if not isinstance(raw, dict):
        problems.append(f"auth: expected a mapping with `keys`, got {type(raw).__name__}")
        return None
    for key in raw:
        if key != "keys":
            problems.append(f"auth.{key}: unknown key (expected one of: keys)")
    raw_keys = raw.get("keys")
    if not isinstance(raw_keys, list):
        problems.append("auth.keys: expected a list of keys")
        return None
    before = len(problems)
    keys = [_convert(item, KeyConfig, f"auth.keys[{i}]", problems) for i, item in enumerate(raw_keys)]
    if len(problems) > before:
        return None
    auth = AuthConfig(keys=keys)
    problems.extend(sections.check_auth(auth, has_database))
    return auth


def cross_check(cfg: Config, broken_providers: set[str] = frozenset()) -> list[str]:  # type: ignore[assignment]
    problems: list[str] = []
    for name, m in cfg.models.items():
        targets = m.targets or [Target(provider=m.provider or "", model=m.model or "")]
        for i, t in enumerate(targets):
            where = f"models.{name}.targets[{i}]" if m.targets else f"models.{name}"
            if t.provider not in cfg.providers and t.provider not in broken_providers:
                problems.append(f"{where}.provider: unknown provider {t.provider!r}")
            if t.weight <= 0:
                problems.append(f"{where}.weight: must be > 0")
        for f in m.fallbacks:
            if f not in cfg.models:
                problems.append(f"models.{name}.fallbacks: unknown model {f!r}")
        if m.retries < 0:
            problems.append(f"models.{name}.retries: must be >= 0")
        if m.affinity is not None and m.affinity != "session":
            problems.append(f"models.{name}.affinity: expected `session`, got {m.affinity!r}")
        if m.cache and cfg.cache is None:
            problems.append(f"models.{name}.cache: needs a `cache:` section (backend, ttl)")
    if cfg.default_model is not None and cfg.default_model not in cfg.models:
        provider, sep, _ = cfg.default_model.partition("/")
        if not (sep and (provider in cfg.providers or provider in broken_providers)):
            problems.append(f"default_model: unknown model {cfg.default_model!r}")
    s = cfg.server
    if not 0 <= s.port <= 65535:
        problems.append("server.port: must be between 0 and 65535")
    if s.workers < 1:
        problems.append("server.workers: must be >= 1")
    if s.log_level.lower() not in ("debug", "info", "warning", "error", "critical"):
        problems.append(f"server.log_level: expected debug, info, warning, error or critical, got {s.log_level!r}")
    if s.max_body_bytes < 1024:
        problems.append("server.max_body_bytes: must be >= 1024")
    if not 1024 <= s.max_header_bytes <= 16384:
        problems.append("server.max_header_bytes: must be between 1024 and 16384")
    for field in ("request_timeout", "keep_alive_timeout", "graceful_timeout"):
        if getattr(s, field) <= 0:
            problems.append(f"server.{field}: must be > 0 (seconds)")
    problems.extend(sections.check_edge(cfg))
    return problems
