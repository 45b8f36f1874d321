"""The admin API's OpenAPI 3.1 description, served at /admin/api/openapi.json (behind the admin key)."""

from __future__ import annotations

from typing import Any

import orjson

from gateway import __version__

_int = {"type": ["integer", "null"], "minimum": 1}
_time = {"type": ["string", "null"], "format": "date-time"}
_budget = {
    "type": ["object", "null"],
    "required": ["usd"],
    "properties": {"usd": {"type": "number", "exclusiveMinimum": 0}, "period": {"enum": ["day", "month"]}},
}
_fields: dict[str, Any] = {
    "models": {
        "type": ["array", "null"],
        "items": {"type": "string"},
        "description": "glob patterns; null = every model",
    },
    "rpm": _int,
    "tpm": _int,
    "max_concurrency": _int,
    "monthly_tokens": _int,
    "budget": _budget,
    "expires_at": {
        "type": ["string", "number", "null"],
        "description": "ISO 8601 (UTC unless stated) or epoch seconds",
    },
}

SCHEMAS: dict[str, Any] = {
    "Error": {
        "type": "object",
        "required": ["error"],
        "properties": {
            "error": {
                "type": "object",
                "required": ["type", "message"],
                "properties": {
                    "type": {"type": "string"},
                    "message": {"type": "string"},
                    "param": {"type": "string"},
                    "problems": {"type": "array", "items": {"type": "string"}},
                },
            }
        },
    },
    "KeyCreate": {
        "type": "object",
        "required": ["name"],
        "additionalProperties": False,
        "properties": {"name": {"type": "string", "pattern": "^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"}, **_fields},
    },
    "KeyUpdate": {"type": "object", "additionalProperties": False, "properties": _fields},
    "Key": {
        "type": "object",
        "required": ["name", "source", "revoked"],
        "properties": {
            "name": {"type": "string"},
            "source": {"enum": ["config", "database"]},
            "key_hint": {"type": "string", "description": "the first characters of the secret"},
            **{k: {**v, "readOnly": True} for k, v in _fields.items() if k != "expires_at"},
            "expires_at": _time,
            "created_at": _time,
            "updated_at": _time,
            "last_used_at": _time,
            "revoked": {"type": "boolean"},
            "revoked_at": _time,
        },
    },
    "KeyWithSecret": {
        "allOf": [
            {"$ref": "#/components/schemas/Key"},
            {
                "type": "object",
                "required": ["key"],
                "properties": {"key": {"type": "string", "description": "the secret: shown this once"}},
            },
        ]
    },
    "UsageRow": {
        "type": "object",
        "properties": {
            "key": {"type": ["string", "null"]},
            "model": {"type": ["string", "null"]},
            "provider": {"type": ["string", "null"]},
            "day": {"type": "string", "format": "date"},
            "hour": {"type": "string", "description": "YYYY-MM-DDTHH:00Z"},
            "requests": {"type": "integer"},
            "errors": {"type": "integer"},
            "input_tokens": {"type": "integer"},
            "output_tokens": {"type": "integer"},
            "cached_tokens": {"type": "integer"},
            "cost_usd": {"type": "number"},
            "avg_duration_ms": {"type": "number"},
        },
    },
    "Provider": {
        "type": "object",
        "properties": {
            "name": {"type": "string"},
            "type": {"type": "string"},
            "base_url": {"type": ["string", "null"]},
            "targets": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "target": {"type": "string"},
                        "model": {"type": "string"},
                        "circuit": {"enum": ["closed", "open", "half_open"]},
                        "consecutive_failures": {"type": "integer"},
                    },
                },
            },
            "in_flight": {"type": "integer"},
            "max_concurrency": {"type": ["integer", "null"]},
            "recent_errors": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "time": {"type": "string", "format": "date-time"},
                        "model": {"type": "string"},
                        "status": {"type": "integer"},
                        "error": {"type": "string"},
                    },
                },
            },
        },
    },
}


def _ref(name: str) -> dict[str, Any]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


_ERRORS = {
    "401": _json(_ref("Error"), "no admin key"),
    "403": _json(_ref("Error"), "not the admin key"),
    "404": _json(_ref("Error"), "not found, or the admin API is off"),
}
_NAME = [{"name": "name", "in": "path", "required": True, "schema": {"type": "string"}}]
_YAML = {"409": _json(_ref("Error"), "a key from the config file (read-only), or no database")}


def _op(summary: str, responses: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"summary": summary, "responses": {**responses, **_ERRORS}, **extra}


PATHS: dict[str, Any] = {
    "/admin/api/keys": {
        "get": _op(
            "Every key: the config file's (read-only) and the database's, never a secret",
            {"200": _json({"type": "object", "properties": {"data": {"type": "array", "items": _ref("Key")}}}, "keys")},
            parameters=[{"name": "revoked", "in": "query", "schema": {"type": "boolean", "default": True}}],
        ),
        "post": _op(
            "Create a database key; the answer holds the secret, once",
            {
                "201": _json(_ref("KeyWithSecret"), "created"),
                "400": _json(_ref("Error"), "a field is wrong"),
                "409": _json(_ref("Error"), "the name is taken, or there is no database"),
            },
            requestBody={"required": True, "content": {"application/json": {"schema": _ref("KeyCreate")}}},
        ),
    },
    "/admin/api/keys/{name}": {
        "parameters": _NAME,
        "get": _op("One key", {"200": _json(_ref("Key"), "the key")}),
        "patch": _op(
            "Change a database key's models, limits, budget or expiry (null clears)",
            {"200": _json(_ref("Key"), "updated"), "400": _json(_ref("Error"), "a field is wrong"), **_YAML},
            requestBody={"required": True, "content": {"application/json": {"schema": _ref("KeyUpdate")}}},
        ),
        "delete": _op(
            "Revoke a database key (401 for it within 2 s everywhere)", {"200": _json(_ref("Key"), "revoked"), **_YAML}
        ),
    },
    "/admin/api/keys/{name}/rotate": {
        "parameters": _NAME,
        "post": _op(
            "A new secret for a database key; the old one stops working",
            {"200": _json(_ref("KeyWithSecret"), "rotated"), **_YAML},
        ),
    },
    "/admin/api/usage": {
        "get": _op(
            "Usage sums over a time range, grouped",
            {
                "200": _json(
                    {
                        "type": "object",
                        "properties": {
                            "data": {"type": "array", "items": _ref("UsageRow")},
                            "from": {"type": ["string", "null"]},
                            "to": {"type": ["string", "null"]},
                            "group_by": {
                                "type": "array",
                                "items": {"enum": ["key", "model", "provider", "day", "hour"]},
                            },
                        },
                    },
                    "sums",
                ),
                "400": _json(_ref("Error"), "a parameter is wrong"),
                "409": _json(_ref("Error"), "no database"),
            },
            parameters=[
                {
                    "name": "from",
                    "in": "query",
                    "schema": {"type": "string"},
                    "description": "ISO 8601 or epoch seconds (inclusive)",
                },
                {
                    "name": "to",
                    "in": "query",
                    "schema": {"type": "string"},
                    "description": "ISO 8601 or epoch seconds (exclusive)",
                },
                {
                    "name": "group_by",
                    "in": "query",
                    "schema": {"type": "string", "default": "key,model"},
                    "description": "comma-separated: key, model, provider, day, hour (UTC)",
                },
            ],
        )
    },
    "/admin/api/providers": {
        "get": _op(
            "Providers with their targets' circuit states and recent errors (as the answering worker sees them)",
            {
                "200": _json(
                    {
                        "type": "object",
                        "properties": {
                            "data": {"type": "array", "items": _ref("Provider")},
                            "worker": {"type": "integer"},
                        },
                    },
                    "providers",
                )
            },
        )
    },
    "/admin/api/config": {
        "get": _op("The running config, secrets replaced by ***", {"200": _json({"type": "object"}, "config")})
    },
    "/admin/api/reload": {
        "post": _op(
            "Load the config file again in every worker",
            {
                "200": _json(
                    {
                        "type": "object",
                        "properties": {
                            "status": {"const": "reloaded"},
                            "source": {"type": "string"},
                            "generation": {"type": "integer"},
                            "restart_needed": {"type": "array", "items": {"type": "string"}},
                        },
                    },
                    "reloaded",
                ),
                "422": _json(_ref("Error"), "the file was refused: `problems` lists each with its path"),
            },
        )
    },
    "/admin/api/status": {
        "get": _op("Version, uptime, config generation, database", {"200": _json({"type": "object"}, "status")})
    },
    "/admin/api/series": {
        "get": _op(
            "Per-bucket requests/s, error rate, p50/p95 latency and time to first token (the dashboard's charts)",
            {
                "200": _json(
                    {
                        "type": "object",
                        "properties": {
                            "buckets": {"type": "array", "items": {"type": "number"}, "description": "epoch s"},
                            "step": {"type": "integer"},
                            "by": {"enum": ["model", "provider", "key"]},
                            "total": {"type": "object"},
                            "series": {"type": "array", "items": {"type": "object"}},
                            "sampled": {"type": "boolean", "description": "percentiles from an even sample"},
                        },
                    },
                    "series",
                ),
                "400": _json(_ref("Error"), "a parameter is wrong"),
                "409": _json(_ref("Error"), "no database"),
            },
            parameters=[
                {"name": "minutes", "in": "query", "schema": {"type": "integer", "default": 60, "maximum": 1440}},
                {"name": "step", "in": "query", "schema": {"type": "integer", "default": 60, "minimum": 10}},
                {"name": "by", "in": "query", "schema": {"enum": ["model", "provider", "key"], "default": "model"}},
            ],
        )
    },
    "/admin/api/openapi.json": {"get": _op("This document", {"200": _json({"type": "object"}, "OpenAPI 3.1")})},
}

DOCUMENT = orjson.dumps(
    {
        "openapi": "3.1.0",
        "info": {"title": "llm-link admin API", "version": __version__},
        "components": {
            "schemas": SCHEMAS,
            "securitySchemes": {"admin": {"type": "http", "scheme": "bearer", "description": "`admin.key`"}},
        },
        "security": [{"admin": []}],
        "paths": PATHS,
    }
)
