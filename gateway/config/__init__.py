"""The config file (SPEC §2): `schema` (the structs), `validate` (every problem with its path), `load`
(finding the file, ${VAR} expansion, overrides, the built-in default)."""

from gateway.config.load import ENV_OVERRIDES, builtin_default, expand_env, find_config_path, load
from gateway.config.schema import (
    AuthConfig,
    Budget,
    CircuitConfig,
    Config,
    ConfigError,
    DialectConfig,
    KeyConfig,
    LegacyBackend,
    LogLevel,
    ModelConfig,
    Price,
    ProviderConfig,
    ResponsesConfig,
    ServerConfig,
    StateConfig,
    Target,
    TelemetryConfig,
    dialect_settings,
)
from gateway.config.validate import cross_check, parse

__all__ = [
    "ENV_OVERRIDES",
    "AuthConfig",
    "Budget",
    "CircuitConfig",
    "Config",
    "ConfigError",
    "DialectConfig",
    "KeyConfig",
    "LegacyBackend",
    "LogLevel",
    "ModelConfig",
    "Price",
    "ProviderConfig",
    "ResponsesConfig",
    "ServerConfig",
    "StateConfig",
    "Target",
    "TelemetryConfig",
    "builtin_default",
    "cross_check",
    "dialect_settings",
    "expand_env",
    "find_config_path",
    "load",
    "parse",
]
