"""The config file (SPEC §2): YAML with ${VAR} expansion, environment overrides, validation that reports every
problem with its path, and the built-in default used when no file is found."""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path
from typing import Any, Literal

import msgspec
import yaml

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
    cors_origins: str | list[str] = "*"
    log_level: str = "info"
    graceful_timeout: float = 30.0
    request_timeout: float = 60.0  # seconds to receive a whole request
    keep_alive_timeout: float = 5.0
    max_header_bytes: int = 8192  # request line + headers; larger gets 413 (Sanic caps this at 16384)
    openapi: bool = False


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
    options: dict[str, Any] = {}  # type-specific settings, checked by the provider's Options struct
    api: Literal["chat", "responses"] = "chat"  # which upstream API an `openai` provider calls (SPEC §6)


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


class TelemetryConfig(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    """OpenTelemetry traces (SPEC §10, gateway.tracing); absent = no tracing at all."""

    otlp_endpoint: str | None = None  # OTLP/HTTP base URL; spans go to {otlp_endpoint}/v1/traces
    service_name: str = "llm-link"
    sample_ratio: float = 1.0
    capture_content: bool = False
    headers: dict[str, str] = {}  # sent with every export (e.g. a collector's auth)


class ResponsesConfig(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    """OpenAI Responses API state (SPEC §6): stateless unless a store is configured."""

    store: Literal["none", "memory", "redis"] = "none"
    ttl: float = 3600.0  # seconds a stored response stays retrievable


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
    llm_backend: LegacyBackend | None = None
    auth: AuthConfig | None = None
    state: StateConfig | None = None
    telemetry: TelemetryConfig | None = None
    responses: ResponsesConfig | None = None
    source: str = "built-in default"  # where it came from, for `check` and logs

    def provider_options(self, name: str) -> msgspec.Struct | None:
        return registry.parse_options(self.providers[name].type, self.providers[name].options)


# ---------------------------------------------------------------------------------------------- loading

_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")

ENV_OVERRIDES: dict[str, tuple[str, type]] = {
    "LLM_LINK_HOST": ("host", str),
    "LLM_LINK_PORT": ("port", int),
    "LLM_LINK_WORKERS": ("workers", int),
    "LLM_LINK_LOG_LEVEL": ("log_level", str),
}


def expand_env(node: Any, path: str, problems: list[str], env: dict[str, str]) -> Any:
    """Expand ${VAR} and ${VAR:-default} in every string; an unset variable with no default is a problem."""
    if isinstance(node, str):

        def sub(m: re.Match[str]) -> str:
            name, default = m.group(1), m.group(2)
            value = env.get(name)
            if value is None or (value == "" and default is not None):
                if default is None:
                    problems.append(f"{path}: environment variable {name} is not set (use ${{{name}:-default}})")
                    return ""
                return default
            return value

        return _VAR.sub(sub, node)
    if isinstance(node, dict):
        return {k: expand_env(v, f"{path}.{k}" if path else str(k), problems, env) for k, v in node.items()}
    if isinstance(node, list):
        return [expand_env(v, f"{path}[{i}]", problems, env) for i, v in enumerate(node)]
    return node


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
        auth = _auth_config(raw["auth"], problems)
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
            problems.extend(_check_telemetry(telemetry))
    responses = None
    if raw.get("responses") is not None:
        responses = _convert(raw["responses"], ResponsesConfig, "responses", problems)
        if responses is not None:
            if responses.ttl <= 0:
                problems.append("responses.ttl: must be positive")
            if responses.store == "redis" and (state is None or not state.redis_url):
                problems.append("responses.store: `redis` needs state.redis_url")
    cfg = Config(
        server=server,
        dialects=dialects,
        providers=providers,
        models=models,
        default_model=default_model,
        auth=auth,
        state=state,
        telemetry=telemetry,
        responses=responses,
        source=source,
    )
    problems.extend(_cross_check(cfg, broken_providers))
    if problems:
        raise ConfigError(problems)
    return cfg


def _auth_config(raw: Any, problems: list[str]) -> AuthConfig | None:
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
    problems.extend(_check_auth(auth))
    return auth


def _check_auth(auth: AuthConfig) -> list[str]:
    problems: list[str] = []
    if not auth.keys:
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


def _check_telemetry(t: TelemetryConfig) -> list[str]:
    problems: list[str] = []
    if t.otlp_endpoint is not None and not t.otlp_endpoint.startswith(("http://", "https://")):
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


def _cross_check(cfg: Config, broken_providers: set[str] = frozenset()) -> list[str]:  # type: ignore[assignment]
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
    return problems


def builtin_default(env: dict[str, str]) -> dict[str, Any]:
    """No config file: the mock as `demo`, plus a provider per API key that is set, plus local Ollama."""
    providers: dict[str, Any] = {"mock": {"type": "mock"}}
    if env.get("OPENAI_API_KEY"):
        providers["openai"] = {
            "type": "openai",
            "base_url": env.get("OPENAI_BASE_URL", "https://api.openai.com/v1"),
            "api_key": env["OPENAI_API_KEY"],
        }
    if env.get("ANTHROPIC_API_KEY"):
        providers["anthropic"] = {
            "type": "anthropic",
            "base_url": env.get("ANTHROPIC_BASE_URL", "https://api.anthropic.com"),
            "api_key": env["ANTHROPIC_API_KEY"],
        }
    if env.get("DASHSCOPE_API_KEY"):
        providers["aliyun"] = {"type": "aliyun", "api_key": env["DASHSCOPE_API_KEY"]}
    if "ollama" in registry.types():
        host = env.get("OLLAMA_HOST") or "http://localhost:11434"
        if "://" not in host:
            host = "http://" + host
        providers["ollama"] = {"type": "ollama", "base_url": host}
    return {"providers": providers, "models": {"demo": "mock/demo"}, "default_model": "demo"}


def find_config_path(explicit: str | None, env: dict[str, str]) -> Path | None:
    if explicit:
        return Path(explicit)
    if env.get("LLM_LINK_CONFIG"):
        return Path(env["LLM_LINK_CONFIG"])
    local = Path("llm-link.yaml")
    return local if local.exists() else None


def load(
    explicit: str | None = None,
    overrides: dict[str, Any] | None = None,
    env: dict[str, str] | None = None,
) -> Config:
    """Load, expand, validate; then apply environment and command-line overrides (CLI > env > file)."""
    env = dict(os.environ) if env is None else env
    path = find_config_path(explicit, env)
    if path is None:
        raw: Any = builtin_default(env)
        source = "built-in default"
    else:
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as err:
            raise ConfigError([f"{path}: cannot read config file ({err.strerror or err})"]) from None
        try:
            raw = yaml.safe_load(text)
        except yaml.YAMLError as err:
            mark = getattr(err, "problem_mark", None)
            where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
            problem = getattr(err, "problem", None) or str(err)
            raise ConfigError([f"{path}: invalid YAML{where}: {problem}"]) from None
        source = str(path)
    problems: list[str] = []
    raw = expand_env(raw, "", problems, env)
    if problems:
        raise ConfigError(problems)
    cfg = parse(raw, source)

    server_updates: dict[str, Any] = {}
    for var, (field, cast) in ENV_OVERRIDES.items():
        if env.get(var):
            try:
                server_updates[field] = cast(env[var])
            except ValueError:
                raise ConfigError([f"{var}: expected {cast.__name__}, got {env[var]!r}"]) from None
    for field, value in (overrides or {}).items():
        if value is not None:
            server_updates[field] = value
    if server_updates:
        cfg.server = msgspec.structs.replace(cfg.server, **server_updates)
        problems = [p for p in _cross_check(cfg) if p.startswith("server.")]
        if problems:
            raise ConfigError(problems)
    return cfg


def dialect_settings(cfg: Config, name: str) -> DialectConfig:
    d = cfg.dialects.get(name) or DialectConfig()
    if d.prefix is None:
        d = msgspec.structs.replace(d, prefix=dialect_registry.get(name).prefix)
    return d


LogLevel = Literal["debug", "info", "warning", "error", "critical"]
