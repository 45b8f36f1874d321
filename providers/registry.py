"""Provider types by name. The core looks providers up here and never imports a concrete one; adding a
provider is one module in this package plus one line in PROVIDER_TYPES."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

import msgspec

if TYPE_CHECKING:
    from unified.provider import Provider

PROVIDER_TYPES: dict[str, str] = {
    "mock": "providers.mock:MockProvider",
    "openai": "providers.openai:OpenAIProvider",
    "anthropic": "providers.anthropic:AnthropicProvider",
    "aliyun": "providers.aliyun:AliyunProvider",
    "ollama": "providers.ollama:OllamaProvider",
    "gemini": "providers.gemini:GeminiProvider",
}

# A type that speaks more than one upstream API picks its adapter by the provider's `api:`.
API_VARIANTS: dict[tuple[str, str], str] = {
    ("openai", "responses"): "providers.openai_responses:OpenAIResponsesProvider",
}


def types() -> list[str]:
    return list(PROVIDER_TYPES)


def _load(path: str) -> type[Provider]:
    module_name, _, attr = path.partition(":")
    return getattr(importlib.import_module(module_name), attr)


def provider_class(type_name: str) -> type[Provider]:
    return _load(PROVIDER_TYPES[type_name])


def builtin_default(env: dict[str, str]) -> dict[str, Any]:
    """The config used when no file is found: each type's share (Provider.builtin_default), merged in the
    order above; the first type that names a default model sets it."""
    merged: dict[str, Any] = {"providers": {}, "models": {}}
    for type_name in PROVIDER_TYPES:
        part = provider_class(type_name).builtin_default(env)
        if part:
            merged["providers"].update(part.get("providers", {}))
            merged["models"].update(part.get("models", {}))
            if "default_model" in part:
                merged.setdefault("default_model", part["default_model"])
    return merged


def adapter_class(config: Any) -> type[Provider]:
    """The adapter for one configured provider: its type's, or the variant its `api:` names."""
    variant = API_VARIANTS.get((config.type, getattr(config, "api", "chat")))
    return _load(variant) if variant else provider_class(config.type)


def parse_options(type_name: str, options: dict[str, Any]) -> msgspec.Struct | None:
    cls = provider_class(type_name).Options
    return None if cls is None else msgspec.convert(options, cls, strict=False)


def check_options(type_name: str, options: dict[str, Any]) -> list[str]:
    """Problems with a provider's `options` mapping, each starting with the sub-path ('' or '.field')."""
    cls = provider_class(type_name).Options
    if cls is None:
        return [f": {type_name} providers take no options"] if options else []
    try:
        msgspec.convert(options, cls, strict=False)
    except msgspec.ValidationError as err:
        text = str(err)
        where = ""
        if " - at `$" in text:
            text, _, rest = text.partition(" - at `$")
            where = rest.rstrip("`")
        return [f"{where}: {text}"]
    return []


def check_config(type_name: str, config: Any) -> list[str]:
    """Type-specific checks of the common provider settings (e.g. a base_url that is required)."""
    problems = provider_class(type_name).check_config(config)
    api = getattr(config, "api", "chat")
    if api != "chat" and (type_name, api) not in API_VARIANTS:
        apis = sorted(a for t, a in API_VARIANTS if t == type_name)
        problems.append(f"api: {type_name} providers speak only {' or '.join(['chat', *apis])}, not {api!r}")
    return problems
