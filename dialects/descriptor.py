"""What the core knows about an inbound API: one `Dialect` descriptor per dialect package, found through
the registry in `dialects/__init__.py`. The core (app, config, auth, OpenAPI) reads only these fields and
never imports a concrete dialect by name."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import msgspec
from sanic import Blueprint, HTTPResponse
from sanic.blueprint_group import BlueprintGroup

from unified.errors import GatewayError


class Op(msgspec.Struct, frozen=True):
    """One endpoint, for the OpenAPI document (gateway.openapi)."""

    method: str
    path: str  # below the dialect's prefix, API root included ("/v1/chat/completions")
    summary: str
    body: str | None = None  # "module:Struct" of the request body, imported lazily
    response: str | None = None  # "module:Struct" of the JSON success body, when one exists
    stream: str | None = None  # media type of the streamed success body, when the endpoint can stream


@dataclass(frozen=True)
class Dialect:
    name: str  # the key under `dialects:` in the config, the `dialect` metric label
    prefix: str  # default mount prefix ("" = at the root)
    api_root: str  # where the API lives below the prefix ("/v1", "/api"): errors there use this shape
    # The blueprint (or group) at a prefix. Called only for enabled dialects, so it may import the routes lazily.
    blueprint: Callable[[str], Blueprint | BlueprintGroup]
    render_error: Callable[[GatewayError], HTTPResponse]
    error_schema: dict[str, Any]  # JSON schema of the error body, for the OpenAPI document
    operations: tuple[Op, ...] = ()
    # Where a client of this API sends its key: header names, "authorization" meaning `Bearer <key>`,
    # "?name" a query parameter (Google's `?key=`).
    key_headers: tuple[str, ...] = ("authorization", "x-api-key")
