"""Inbound APIs. Each dialect is one package (`schema`, `codec`, `routes`, `errors`) whose `__init__`
defines `DIALECT`, a `dialects.descriptor.Dialect`; the core finds it through this registry, so adding a
dialect is one package plus one line here (docs/architecture.md)."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from dialects.descriptor import Dialect

# name -> package. The order is the order of the OpenAPI document and of error-shape lookups.
DIALECTS: dict[str, str] = {
    "openai": "dialects.openai",
    "responses": "dialects.responses",
    "anthropic": "dialects.anthropic",
    "ollama": "dialects.ollama",
    "gemini": "dialects.gemini",
}

# Errors on paths no dialect claims (system routes, unknown roots) use this dialect's shape.
FALLBACK = "openai"


def get(name: str) -> Dialect:
    dialect: Dialect = importlib.import_module(DIALECTS[name]).DIALECT
    return dialect


def names() -> list[str]:
    return list(DIALECTS)


def descriptors() -> list[Dialect]:
    return [get(name) for name in DIALECTS]
