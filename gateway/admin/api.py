"""Routes of the admin API. Every answer is JSON; every error is `{"error": {"type", "message", ...}}`;
no answer holds a secret except the new key itself, once, from create and rotate."""

from __future__ import annotations

import functools
import hashlib
import hmac
import logging
import os
import time
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec
import orjson
from sanic import Blueprint, HTTPResponse, Request
from sanic.response import raw

from gateway import __version__, reload
from gateway.admin import openapi
from gateway.admin.redact import config_view, url
from gateway.config import Config
from gateway.store.base import GROUPS, KeyExists, KeyNotFound, StoreError
from gateway.store.keys import KeyFieldError, KeyFields, check_name, iso, parse_time, view, yaml_view
from gateway.store.keys import create as create_key
from gateway.store.keys import rotate as rotate_key

log = logging.getLogger("llm_link")
blueprint = Blueprint("admin_api", url_prefix="/admin/api")
JSON = "application/json"
_fields = msgspec.json.Decoder(KeyFields)


class AdminError(Exception):
    def __init__(self, status: int, type_: str, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status, self.type, self.message, self.extra = status, type_, message, extra


def answer(body: Any, status: int = 200) -> HTTPResponse:
    return raw(orjson.dumps(body), status=status, content_type=JSON)


def error(err: AdminError) -> HTTPResponse:
    return answer({"error": {"type": err.type, "message": err.message, **err.extra}}, err.status)


def _presented(request: Request) -> str | None:
    bearer = request.headers.get("authorization")
    if bearer:
        scheme, _, token = bearer.strip().partition(" ")
        if scheme.lower() == "bearer" and token.strip():
            return token.strip()
    api_key = request.headers.get("x-api-key")
    return api_key.strip() if api_key and api_key.strip() else None


def _check_admin(request: Request) -> None:
    admin = request.app.ctx.config.admin
    if admin is None:
        raise AdminError(404, "not_found", "The admin API is off: set `admin.key` in the config to turn it on.")
    presented = _presented(request)
    if presented is None:
        raise AdminError(401, "authentication_error", "Missing admin key: send it as `Authorization: Bearer <key>`.")
    expected = (
        bytes.fromhex(admin.key_sha256) if admin.key_sha256 else hashlib.sha256((admin.key or "").encode()).digest()
    )
    got = hashlib.sha256(presented.encode("utf-8", "surrogateescape")).digest()
    if not hmac.compare_digest(expected, got):
        raise AdminError(403, "permission_error", "This key may not use the admin API.")


Route = Callable[..., Awaitable[HTTPResponse]]


def admin_route(fn: Route) -> Route:
    @functools.wraps(fn)
    async def wrapped(request: Request, *args: Any, **kwargs: Any) -> HTTPResponse:
        try:
            _check_admin(request)
            return await fn(request, *args, **kwargs)
        except AdminError as err:
            return error(err)
        except KeyExists as err:
            return error(AdminError(409, "conflict", str(err)))
        except KeyNotFound as err:
            return error(AdminError(404, "not_found", str(err)))
        except KeyFieldError as err:
            return error(AdminError(400, "invalid_request", str(err)))
        except StoreError as err:
            return error(AdminError(503, "database_error", str(err)))

    return wrapped


def _store(request: Request) -> Any:
    database = request.app.ctx.database
    if database is None:
        raise AdminError(
            409, "no_database", "Keys are kept in the database: set `state.database_url` to manage them here."
        )
    return database


def _yaml_keys(cfg: Config) -> dict[str, Any]:
    return {k.name: k for k in cfg.auth.keys} if cfg.auth is not None else {}


def _not_yaml(request: Request, name: str) -> None:
    if name in _yaml_keys(request.app.ctx.config):
        raise AdminError(
            409, "conflict", f"The key {name!r} is defined in the config file; change it there (read-only here)."
        )


def _decode_fields(request: Request) -> KeyFields:
    if not request.body:
        raise AdminError(400, "invalid_request", "Expected a JSON object in the request body.")
    try:
        fields: KeyFields = _fields.decode(request.body)
    except msgspec.ValidationError as err:
        raise AdminError(400, "invalid_request", f"Invalid request: {err}") from None
    except (msgspec.DecodeError, RecursionError, UnicodeDecodeError):
        raise AdminError(400, "invalid_request", "Malformed JSON in request body.") from None
    return fields


async def _changed(database: Any, action: str, name: str) -> None:
    """An audit line (the key's name, never its secret); this worker sees the change at once, the others
    at their next poll (gateway.store.keys)."""
    log.info("admin API: key %r %s", name, action)
    try:
        await database.keys.refresh()
    except Exception:
        pass


# ---------------------------------------------------------------------------------------------- keys


@blueprint.post("/keys")
@admin_route
async def keys_create(request: Request) -> HTTPResponse:
    fields = _decode_fields(request)
    if isinstance(fields.name, str):
        check_name(fields.name)
        _not_yaml(request, fields.name)
    database = _store(request)
    row, secret = await create_key(database.store, fields)
    await _changed(database, "created", row.name)
    return answer({**view(row), "key": secret}, 201)


@blueprint.get("/keys")
@admin_route
async def keys_list(request: Request) -> HTTPResponse:
    cfg = request.app.ctx.config
    data = [yaml_view(k) for k in _yaml_keys(cfg).values()]
    database = request.app.ctx.database
    if database is not None:
        include_revoked = request.args.get("revoked", "true").lower() not in ("0", "false", "no")
        data.extend(view(r) for r in await database.store.list_keys(include_revoked=include_revoked))
    return answer({"data": data})


@blueprint.get("/keys/<name:str>")
@admin_route
async def keys_get(request: Request, name: str) -> HTTPResponse:
    yaml_key = _yaml_keys(request.app.ctx.config).get(name)
    if yaml_key is not None:
        return answer(yaml_view(yaml_key))
    return answer(view(await _store(request).store.get_key(name)))


@blueprint.patch("/keys/<name:str>")
@admin_route
async def keys_update(request: Request, name: str) -> HTTPResponse:
    _not_yaml(request, name)
    fields = _decode_fields(request)
    if fields.name is not msgspec.UNSET and fields.name != name:
        raise AdminError(400, "invalid_request", "name: a key cannot be renamed (create a new one)")
    from gateway.store.keys import columns

    database = _store(request)
    row = await database.store.update_key(name, columns(fields))
    await _changed(database, "updated", name)
    return answer(view(row))


@blueprint.delete("/keys/<name:str>")
@admin_route
async def keys_revoke(request: Request, name: str) -> HTTPResponse:
    _not_yaml(request, name)
    database = _store(request)
    row = await database.store.revoke_key(name)
    await _changed(database, "revoked", name)
    return answer(view(row))


@blueprint.post("/keys/<name:str>/rotate")
@admin_route
async def keys_rotate(request: Request, name: str) -> HTTPResponse:
    _not_yaml(request, name)
    database = _store(request)
    row, secret = await rotate_key(database.store, name)
    await _changed(database, "rotated", name)
    return answer({**view(row), "key": secret})


# ---------------------------------------------------------------------------------------------- usage


def _time_arg(request: Request, name: str) -> float | None:
    value = request.args.get(name)
    if value is None or value == "":
        return None
    try:
        return parse_time(float(value) if value.replace(".", "", 1).isdigit() else value)
    except KeyFieldError as err:
        raise AdminError(400, "invalid_request", f"{name}: {err}") from None


@blueprint.get("/usage")
@admin_route
async def usage(request: Request) -> HTTPResponse:
    start, end = _time_arg(request, "from"), _time_arg(request, "to")
    raw_groups = request.args.get("group_by", "key,model")
    groups = [g.strip() for g in raw_groups.split(",") if g.strip()]
    bad = [g for g in groups if g not in GROUPS]
    if bad or len(set(groups)) != len(groups):
        raise AdminError(
            400,
            "invalid_request",
            f"group_by: expected a comma-separated list of {', '.join(GROUPS)}",
            param="group_by",
        )
    database = _store(request)
    await database.usage.flush()  # this worker's latest rows count too
    data = await database.store.usage_summary(start, end, groups)
    return answer({"data": data, "from": iso(start), "to": iso(end), "group_by": groups})


# ---------------------------------------------------------------------------------------------- providers, config


@blueprint.get("/providers")
@admin_route
async def providers(request: Request) -> HTTPResponse:
    """Per provider: its targets with their circuit state, in-flight count and recent errors, as this
    worker sees them (circuits are per worker)."""
    ctx = request.app.ctx
    router = ctx.router
    circuits = getattr(router, "_circuits", {})
    database = ctx.database
    recent = database.usage.recent_errors if database is not None else {}
    data = []
    for name, provider in ctx.providers.items():
        targets = [
            {"target": label, "model": label.split("/", 1)[1], "circuit": c.state, "consecutive_failures": c.failures}
            for label, c in circuits.items()
            if label.split("/", 1)[0] == name
        ]
        cap = router.caps.get(name)
        errors = [{**e, "time": iso(e["time"])} for e in recent.get(name, ())]
        data.append(
            {
                "name": name,
                "type": provider.config.type,
                "base_url": url(provider.base_url) if getattr(provider, "base_url", None) else None,
                "targets": targets,
                "in_flight": cap.in_flight if cap is not None else 0,
                "max_concurrency": provider.config.max_concurrency,
                "recent_errors": errors[::-1],
            }
        )
    return answer({"data": data, "worker": os.getpid()})


@blueprint.get("/config")
@admin_route
async def config(request: Request) -> HTTPResponse:
    return answer(config_view(request.app.ctx.config))


@blueprint.post("/reload")
@admin_route
async def reload_config(request: Request) -> HTTPResponse:
    outcome = await reload.admin_reload(request.app)
    if not outcome.ok:
        raise AdminError(
            422,
            "invalid_config",
            "The config file was refused; the running config is unchanged.",
            problems=outcome.problems,
        )
    return answer(
        {
            "status": "reloaded",
            "source": request.app.ctx.config.source,
            "generation": request.app.ctx.config_generation,
            "restart_needed": outcome.restart_needed,
        }
    )


@blueprint.get("/status")
@admin_route
async def status(request: Request) -> HTTPResponse:
    ctx = request.app.ctx
    database = ctx.database
    return answer(
        {
            "version": __version__,
            "config_source": ctx.config.source,
            "config_generation": ctx.config_generation,
            "started_at": iso(ctx.started),
            "uptime_seconds": round(time.time() - ctx.started, 3),
            "worker": os.getpid(),
            "database": database.store.kind if database is not None else None,
            "keys_version": database.keys.version if database is not None else None,
        }
    )


@blueprint.get("/openapi.json")
@admin_route
async def openapi_document(request: Request) -> HTTPResponse:
    return raw(openapi.DOCUMENT, content_type=JSON)
