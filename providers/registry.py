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
    "ollama": "providers.ollama:OllamaProvider",
    "aliyun": "providers.aliyun:AliyunProvider",
}


def types() -> list[str]:
    return list(PROVIDER_TYPES)


def provider_class(type_name: str) -> type[Provider]:
    module_name, _, attr = PROVIDER_TYPES[type_name].partition(":")
    return getattr(importlib.import_module(module_name), attr)


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
    return provider_class(type_name).check_config(config)
