"""An OpenAPI 3.1 document of every endpoint llm-link serves, built from the dialects' msgspec request
structs (`msgspec.json.schema_components`), with each dialect's error shape as the 4xx/5xx body.

It is served at `/openapi.json` only when `server.openapi: true` (off by default: a gateway need not
advertise its surface). The fuzz suite (tests/test_fuzz_http.py) drives schemathesis from it.

Endpoints come from each dialect's descriptor (`Dialect.operations`), with their request structs named as
"module:attr" strings and imported lazily, so a dialect that is disabled simply does not appear."""

from __future__ import annotations

import importlib
from typing import Any

import msgspec
from sanic import Blueprint, HTTPResponse, Request
from sanic.response import raw

import dialects
from dialects.descriptor import Op
from gateway import __version__
from gateway.config import Config, dialect_settings

JSON = "application/json"

SYSTEM: list[tuple[str, str]] = [("/health", "Liveness"), ("/ready", "Readiness"), ("/metrics", "Prometheus metrics")]

REQUEST_ID = {
    "name": "X-Request-ID",
    "in": "header",
    "required": False,
    "schema": {"type": "string"},
    "description": "Echoed back; made up when absent",
}


def _load(ref: str) -> type | None:
    module, _, attr = ref.partition(":")
    try:
        return getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError):
        return None


def _error_responses(dialect: str) -> dict[str, Any]:
    body = {"content": {JSON: {"schema": {"$ref": f"#/components/schemas/{dialect}_error"}}}}
    return {
        "4XX": {"description": f"Client error in the {dialect} error shape", **body},
        "5XX": {"description": "Upstream failure (502/504/503) in the same shape", **body},
    }


def build(cfg: Config) -> dict[str, Any]:
    """The document for the dialects enabled in `cfg`, at their configured prefixes."""
    ops: list[tuple[str, str, Op]] = []
    every = dialects.descriptors()
    for d in every:
        dialect = d.name
        settings = dialect_settings(cfg, dialect)
        if not settings.enabled:
            continue
        prefix = (settings.prefix or "").rstrip("/")
        for op in d.operations:
            if op.body and _load(op.body) is None:
                continue  # that dialect is not part of this build
            ops.append((dialect, prefix + op.path, op))

    structs = sorted(
        {t for _, _, op in ops for ref in (op.body, op.response) if ref and (t := _load(ref))},
        key=lambda t: f"{t.__module__}.{t.__qualname__}",
    )
    refs, components = msgspec.json.schema_components(structs, ref_template="#/components/schemas/{name}")
    ref_of = dict(zip(structs, refs))
    for d in every:
        components[f"{d.name}_error"] = d.error_schema

    paths: dict[str, dict[str, Any]] = {}
    for dialect, path, op in ops:
        params: list[dict[str, Any]] = [REQUEST_ID]
        if "{model}" in path:
            params.append({"name": "model", "in": "path", "required": True, "schema": {"type": "string"}})
        success: dict[str, Any] = {}
        response = _load(op.response) if op.response else None
        success[JSON] = {"schema": ref_of[response] if response else {}}
        if op.stream:
            success[op.stream] = {"schema": {"type": "string"}}
        operation: dict[str, Any] = {
            "operationId": f"{dialect}_{op.method}_{op.path.strip('/').replace('/', '_').replace('{', '').replace('}', '')}",
            "summary": op.summary,
            "tags": [dialect],
            "parameters": params,
            "responses": {"200": {"description": "Success", "content": success}, **_error_responses(dialect)},
        }
        if op.body:
            operation["requestBody"] = {"required": True, "content": {JSON: {"schema": ref_of[_load(op.body)]}}}  # type: ignore[index]
        paths.setdefault(path, {})[op.method] = operation
    for path, summary in SYSTEM:
        media = "text/plain" if path == "/metrics" else JSON
        paths[path] = {
            "get": {
                "operationId": "system" + path.replace("/", "_"),
                "summary": summary,
                "tags": ["system"],
                "responses": {
                    "200": {"description": "Success", "content": {media: {"schema": {}}}},
                    "503": {"description": "Draining (/ready)"},
                },
            }
        }

    doc: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {
            "title": "llm-link",
            "version": __version__,
            "description": "One gateway for OpenAI, Anthropic and Ollama clients, in front of any provider.",
        },
        "paths": paths,
        "components": {"schemas": components},
    }
    if cfg.auth is not None and cfg.auth.keys:
        doc["components"]["securitySchemes"] = {
            "bearer": {"type": "http", "scheme": "bearer"},
            "x-api-key": {"type": "apiKey", "in": "header", "name": "x-api-key"},
        }
        doc["security"] = [{"bearer": []}, {"x-api-key": []}]
    return doc


blueprint = Blueprint("openapi")


@blueprint.get("/openapi.json")
async def openapi(request: Request) -> HTTPResponse:
    ctx = request.app.ctx
    body = getattr(ctx, "openapi", None)
    if body is None:  # built once per worker, on first use
        body = ctx.openapi = msgspec.json.encode(build(ctx.config))
    return raw(body, content_type=JSON)
