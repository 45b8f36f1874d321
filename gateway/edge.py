"""The HTTP edge: who may talk to the gateway from a browser, which Host names it answers to
while bound to loopback, the /metrics key, the content type of model calls, and request header values that
are cleaned before they reach a log line or a response header. docs/security.md lists the attacks."""

from __future__ import annotations

import hmac
import ipaddress
import re
from typing import Any

from sanic import Request, Sanic

from gateway.config import ServerConfig
from unified.errors import GatewayError

# Browser origins allowed by default: pages served from this machine only.
LOCAL_ORIGINS = re.compile(r"https?://(localhost|[a-z0-9-]+\.localhost|127\.\d+\.\d+\.\d+|\[::1\])(:\d+)?$")
_LOOPBACK_NAMES = ("localhost", "localhost.")

# X-Request-ID: what we echo and log. Anything else (control characters, non-ASCII, bytes that are not UTF-8)
# is dropped; an id with nothing left, or over the length, is replaced by one of ours.
_REQUEST_ID_BAD = re.compile(r"[^A-Za-z0-9._:/+=@-]")
MAX_REQUEST_ID = 128


def clean_request_id(value: str | None) -> str | None:
    """The client's X-Request-ID made safe for a header and a log line, or None to mint one."""
    if not value:
        return None
    if len(value) <= MAX_REQUEST_ID and value.isascii() and _REQUEST_ID_BAD.search(value) is None:
        return value  # the common case: nothing to do
    cleaned = _REQUEST_ID_BAD.sub("", value.encode("utf-8", "surrogateescape").decode("ascii", "ignore"))
    return cleaned[:MAX_REQUEST_ID] or None


def header_safe(text: str, limit: int = 256) -> str:
    """A client-influenced string (e.g. a model name) for a response header: printable ASCII, bounded.
    Anything else is percent-encoded, so the header still says which name it was."""
    if len(text) <= limit and text.isascii() and text.isprintable():
        return text
    from urllib.parse import quote

    return quote(text.encode("utf-8", "surrogateescape")[: limit * 3], safe="/:@!$&'()*+,;=-._~")[:limit]


def log_safe(text: str | None, limit: int = 256) -> str | None:
    """A client string for a log line: bounded, and valid UTF-8 (orjson refuses lone surrogates)."""
    if text is None:
        return None
    if len(text) > limit:
        text = text[:limit] + "…"
    if not text.isascii():
        text = text.encode("utf-8", "replace").decode("utf-8")
    return text


def cors_origins(server: ServerConfig) -> Any:
    """Sanic-Ext's CORS_ORIGINS: localhost pages by default; `server.cors_origins` widens it ("*" = any)."""
    extra = server.cors_origins
    if extra == "*" or extra == ["*"]:
        return "*"
    if extra is None:
        extra = []
    elif isinstance(extra, str):
        extra = [o.strip() for o in extra.split(",") if o.strip()]
    return [LOCAL_ORIGINS, *extra]


def is_loopback(host: str) -> bool:
    if host.lower() in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def allowed_host_names(server: ServerConfig) -> frozenset[str] | None:
    """Host header names (without port) the gateway answers while bound to loopback; None = no check."""
    if not is_loopback(server.host):
        return None
    names = {"localhost", "127.0.0.1", "[::1]", "::1", server.host.lower()}
    names.update(h.lower().rstrip(".") for h in server.allowed_hosts)
    return frozenset(names)


def _host_name(host: str) -> str:
    host = host.strip().lower()
    if host.startswith("["):  # [::1]:8080
        return host[: host.find("]") + 1] if "]" in host else host
    name, _, _ = host.partition(":")
    return name.rstrip(".")


def check_host(request: Request, allowed: frozenset[str]) -> None:
    """DNS rebinding: a page on evil.example that resolves to 127.0.0.1 sends `Host: evil.example`.
    Refusals are raised, so the app's error handler answers in the dialect's shape, with a log line."""
    host = request.headers.get("host")
    if host is None:  # browsers always send Host; and Sanic's own early errors (413 ...) come without headers
        return
    name = _host_name(host)
    if name in allowed or name.endswith(".localhost"):
        return
    raise GatewayError(
        "permission",
        "Host not allowed: this gateway is bound to loopback and answers only localhost and the names in "
        "server.allowed_hosts",
        status=403,
    )


def check_metrics_key(request: Request, key: bytes) -> None:
    presented = request.headers.get("authorization", "")
    scheme, _, token = presented.strip().partition(" ")
    if scheme.lower() == "bearer" and hmac.compare_digest(token.strip().encode("utf-8", "surrogateescape"), key):
        return
    raise GatewayError(
        "authentication",
        "/metrics needs the key in server.metrics_key, sent as `Authorization: Bearer <key>`",
        status=401,
        headers={"WWW-Authenticate": "Bearer"},
    )


def require_json(request: Request, lenient: bool = False) -> None:
    """Model calls must be `application/json`: a browser can send text/plain or a form to any origin without
    asking first (no CORS preflight), but not JSON. `lenient` (the Ollama dialect, whose own server and docs
    take `curl -d` bodies) also accepts other types from clients that are not browsers (no `Origin`)."""
    ctype = request.headers.get("content-type", "")
    media = ctype.partition(";")[0].strip().lower()
    if media == "application/json":
        return
    if lenient and "origin" not in request.headers:
        return
    shown = header_safe(media, 80) or "none"
    raise GatewayError(
        "invalid_request",
        f"Content-Type must be application/json (got {shown})",
        status=415,
        param="Content-Type",
    )


def install(app: Sanic, server: ServerConfig) -> None:
    """The per-request checks that run before routing: Host while on loopback, the /metrics key."""
    allowed = allowed_host_names(server)
    metrics_key = server.metrics_key.encode() if server.metrics_key else None
    if allowed is None and metrics_key is None:
        return

    async def edge_checks(request: Request) -> None:
        if allowed is not None:
            check_host(request, allowed)
        if metrics_key is not None and request.path == "/metrics":
            check_metrics_key(request, metrics_key)

    app.register_middleware(edge_checks, "request", priority=100)
