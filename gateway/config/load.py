"""Finding and reading the config file: ${VAR} expansion, environment and command-line overrides, and the
built-in default used when no file is found."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import msgspec
import yaml

from gateway.config.schema import Config, ConfigError
from gateway.config.validate import cross_check, parse
from providers import registry

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


def builtin_default(env: dict[str, str]) -> dict[str, Any]:
    """No config file: what the provider types offer from the environment (providers.registry)."""
    return registry.builtin_default(env)


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
        problems = [p for p in cross_check(cfg) if p.startswith("server.")]
        if problems:
            raise ConfigError(problems)
    return cfg
