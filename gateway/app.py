"""The Sanic application: dialect blueprints, system routes, per-worker resources on app.ctx, and errors
raised outside any endpoint (unknown route, body too large) rendered in the dialect the path belongs to."""

from __future__ import annotations

import logging
import sys
import time
from functools import partial
from typing import Any

import aiohttp
from sanic import HTTPResponse, Request, Sanic
from sanic.exceptions import SanicException
from sanic.handlers import ErrorHandler
from sanic_ext import Extend
from sanic_ext.extensions.http.extension import HTTPExtension

import dialects
from gateway import edge, gctune, openapi, probes, reload, shutdown, system, workers
from gateway.accesslog import AccessLog
from gateway.admin import api as admin_api
from gateway.admin import dashboard
from gateway.admin import series as _series  # noqa: F401  (adds /admin/api/series to the admin blueprint)
from gateway.budget import shared_budget_table
from gateway.cache import make_cache
from gateway.call import Call
from gateway.config import Config, dialect_settings
from gateway.limits import SlotTable, release_redis_leases, shared_table
from gateway.metrics import Metrics, worker_exit
from gateway.router import Router
from gateway.store.runtime import Database, database_url, limit_slots
from gateway.streaming import Pinger
from providers import registry
from providers.base import HTTPProvider
from providers.deadlines import Deadlines
from unified.errors import GatewayError, kind_for_status

log = logging.getLogger("llm_link")


class DialectErrorHandler(ErrorHandler):
    """Errors Sanic raises before a handler runs, in the shape of the dialect whose prefix matched."""

    def __init__(self, renderers: list[tuple[str, str, Any]], fallback: Any) -> None:
        super().__init__()
        # Longest prefix first so "/anthropic/v1" wins over "" (the OpenAI default).
        self.renderers = sorted(renderers, key=lambda r: len(r[0]), reverse=True)
        self.fallback = fallback

    def default(self, request: Request, exception: Exception) -> HTTPResponse:
        if isinstance(exception, GatewayError):
            err = exception
        elif isinstance(exception, SanicException):
            status = exception.status_code
            message = str(exception) or "request failed"
            if status == 404:
                message = f"Unknown route: {request.method} {request.path}"
            elif status == 413:
                message = f"Request body too large (limit {request.app.config.REQUEST_MAX_SIZE} bytes)"
            err = GatewayError(kind_for_status(status) if status != 405 else "invalid_request", message, status=status)
        else:
            self.log(request, exception)
            err = GatewayError("api_error", "internal error")
        path = request.path if request is not None else ""
        render, dialect = self.fallback, "system"
        for prefix, name, renderer in self.renderers:
            if path.startswith(prefix):
                render, dialect = renderer, name
                break
        response = render(err)
        response.headers.update(err.headers)
        if request is not None:
            # These requests never reached an endpoint: they still get a request id, a log line and a count.
            call = Call(request.headers.get("x-request-id"), dialect)
            call.status = err.status
            call.error = err.message
            ctx = request.app.ctx
            metrics = getattr(ctx, "metrics", None)
            if metrics is not None:
                call.finish(metrics, getattr(ctx, "access_log", None))
            response.headers["X-Request-ID"] = call.request_id
        return response


def configure_logging(level: str) -> None:
    logger = logging.getLogger("llm_link")
    if not logger.handlers:
        handler = logging.StreamHandler(sys.stdout)
        handler.setFormatter(logging.Formatter("%(message)s"))
        logger.addHandler(handler)
        logger.propagate = False
    logger.setLevel(level.upper())


def build_providers(cfg: Config, http: aiohttp.ClientSession, deadlines: Deadlines | None = None) -> dict[str, Any]:
    """One adapter per configured provider (at start-up, and again on reload: gateway.reload). HTTP
    adapters get the worker's deadline sweeper for their whole-call `timeout` (providers.deadlines)."""
    built = {
        name: registry.adapter_class(pcfg)(name, pcfg, cfg.provider_options(name), http)
        for name, pcfg in cfg.providers.items()
    }
    if deadlines is not None:
        for adapter in built.values():
            if isinstance(adapter, HTTPProvider):
                adapter.deadlines = deadlines
    return built


def make_guard(app: Sanic, cfg: Config) -> Any:
    """The per-worker access check (keys, limits, per-key usage); None without `auth:` or a database."""
    if cfg.auth is None and database_url(cfg) is None:
        return None
    from gateway.auth import Guard, KeyTable
    from gateway.budget import Budgets, LocalSpend
    from gateway.limits import Limiter, LocalLimiter

    table = getattr(app.shared_ctx, "limit_table", None)
    if table is None:  # not started by Sanic's worker manager
        table = shared_table(limit_slots(cfg), cfg.server.workers)
    # A concurrency slot held by a worker that died frees itself after the longest a request may take.
    lease = max([p.timeout for p in cfg.providers.values()] + [600.0]) + 60
    redis_url = cfg.state.redis_url if cfg.state is not None else None
    prefix = cfg.state.key_prefix if cfg.state is not None else "llm-link"
    limiter = Limiter(LocalLimiter(table), redis_url, prefix, lease, app.ctx.metrics)
    spend_table = getattr(app.shared_ctx, "budget_table", None)
    if spend_table is None:
        spend_table = shared_budget_table(limit_slots(cfg))
    budgets = Budgets(LocalSpend(spend_table), limiter, app.ctx.metrics)
    return Guard(cfg, KeyTable(cfg), limiter, app.ctx.metrics, budgets)


def make_tracing(cfg: Config) -> Any:
    """The per-worker tracer; None (and nothing of OpenTelemetry imported) without `telemetry.otlp_endpoint`."""
    t = cfg.telemetry
    if t is None or not t.otlp_endpoint:
        return None
    from gateway.tracing import Tracing

    return Tracing(t)


def release_dead_worker(app: Sanic, cfg: Config, pid: int) -> None:
    """In the main process, when a worker died: give back what it held (gateway.workers)."""
    workers.release_metrics(pid)
    table = getattr(app.shared_ctx, "limit_table", None)
    if table is not None:
        freed = SlotTable(table).release(pid)
        if freed:
            log.warning("gave back %d concurrency slot(s) held by dead worker %s", int(freed), pid)
    state = cfg.state
    if state is not None and state.redis_url:
        try:
            n = release_redis_leases(state.redis_url, state.key_prefix, pid)
        except Exception as err:  # Redis down: the leases expire on their own
            log.warning("could not release dead worker %s's leases in Redis (%s)", pid, type(err).__name__)
        else:
            if n:
                log.warning("gave back %d concurrency lease(s) in Redis held by dead worker %s", n, pid)


def create_app(cfg: Config, name: str = "llm_link") -> Sanic:
    """The app for `cfg`. Nothing is kept at module level (metrics live on the app's own registry), so a
    process may make several apps, each under its own `name` (Sanic refuses two apps with one name)."""
    app = Sanic(name)
    s = cfg.server
    app.config.REQUEST_MAX_SIZE = s.max_body_bytes
    app.config.REQUEST_MAX_HEADER_SIZE = s.max_header_bytes
    app.config.WEBSOCKET_MAX_SIZE = s.max_body_bytes  # one WebSocket message: as large as a request body
    app.config["REQUEST_TIMEOUT"] = s.request_timeout  # Sanic types these as int; it takes float seconds
    app.config.RESPONSE_TIMEOUT = 24 * 3600  # streams may be long; upstream timeouts bound them instead
    app.config["KEEP_ALIVE_TIMEOUT"] = s.keep_alive_timeout
    app.config.GRACEFUL_SHUTDOWN_TIMEOUT = s.graceful_timeout
    app.config.ACCESS_LOG = False
    app.config.MOTD = False
    app.config.FALLBACK_ERROR_FORMAT = "json"
    app.config.CORS_ORIGINS = edge.cors_origins(s)  # localhost pages only, unless widened
    app.config.CORS_ALWAYS_SEND = False
    app.config.CORS_EXPOSE_HEADERS = "X-Request-ID,X-LLM-Link-Overhead-Ms,X-LLM-Link-Provider,X-LLM-Link-Attempts,X-LLM-Link-Cost-USD,X-LLM-Link-Cache"
    app.config.OAS = False
    app.config.HEALTH = False
    # Only the HTTP extension (CORS and its automatic OPTIONS): the others would run on every request
    # (dependency injection is a signal handler per request) for features the gateway does not use.
    Extend(app, built_in_extensions=False, extensions=[HTTPExtension])
    app.ctx.config = cfg
    configure_logging(s.log_level)

    renderers: list[tuple[str, str, Any]] = []
    for d in dialects.descriptors():
        settings = dialect_settings(cfg, d.name)
        if not settings.enabled:
            continue
        prefix = (settings.prefix or "").rstrip("/")
        app.blueprint(d.blueprint(prefix))
        renderers.append((prefix + d.api_root, d.name, d.render_error))
        probes.add(app, prefix + d.api_root if not prefix else prefix)
    app.error_handler = DialectErrorHandler(renderers, dialects.get(dialects.FALLBACK).render_error)
    app.blueprint(system.blueprint)
    edge.install(app, s)
    if s.openapi:  # off by default: the document maps the whole surface
        app.blueprint(openapi.blueprint)
    app.blueprint(admin_api.blueprint)  # answers 404 until `admin.key` is set
    app.blueprint(dashboard.blueprint)  # /admin/, the same
    reload.install(app)

    @app.before_server_start
    async def open_resources(app: Sanic) -> None:
        app.ctx.metrics = Metrics()
        app.ctx.access_log = AccessLog()
        app.ctx.started = time.time()
        app.ctx.draining = False
        connector = aiohttp.TCPConnector(limit=0, limit_per_host=0, keepalive_timeout=60, ttl_dns_cache=300)
        # No cookie jar: the session is shared by every client, so an upstream's Set-Cookie (a CDN's bot
        # cookie, say) must not go out on other clients' requests; it also spares a jar filter per call.
        app.ctx.http = aiohttp.ClientSession(
            connector=connector, auto_decompress=True, trust_env=False, cookie_jar=aiohttp.DummyCookieJar()
        )
        app.ctx.deadlines = Deadlines()
        app.ctx.providers = providers = build_providers(cfg, app.ctx.http, app.ctx.deadlines)
        app.ctx.router = Router(cfg, providers)
        app.add_task(system.watch_tasks(), name="llm_link_watch_tasks")
        app.ctx.pinger = Pinger()
        app.add_task(app.ctx.pinger.run(), name="llm_link_pinger")
        app.ctx.inflight = {}
        app.ctx.guard = make_guard(app, cfg)
        app.ctx.tracing = make_tracing(cfg)
        app.ctx.cache = make_cache(cfg)  # the response cache, None unless `cache:` is set
        app.ctx.database = None
        url = database_url(cfg)
        if url is not None:
            app.ctx.database = Database(app, url, cfg)
            await app.ctx.database.start()

    @app.after_server_start
    async def settle_gc(app: Sanic) -> None:
        gctune.settle()  # start-up's objects frozen out of the collector's way (gateway.gctune)

    @app.main_process_start
    async def share_limit_table(app: Sanic) -> None:
        # Without Redis (or while it is down) the workers count limits in this one shared table.
        # Always made: a reload may add keys (gateway.reload), and database keys come and go.
        app.shared_ctx.limit_table = shared_table(limit_slots(cfg), cfg.server.workers)
        app.shared_ctx.budget_table = shared_budget_table(limit_slots(cfg))

    @app.main_process_ready
    async def refuse_on_signal(app: Sanic) -> None:
        shutdown.refuse_new_connections(app)
        workers.start_watchdog(app, partial(release_dead_worker, app, cfg))

    @app.before_server_stop
    async def start_draining(app: Sanic) -> None:
        shutdown.begin_drain(app)

    @app.after_server_stop
    async def close_resources(app: Sanic) -> None:
        if app.ctx.guard is not None:
            await app.ctx.guard.budgets.close()
            await app.ctx.guard.limiter.close()
        if app.ctx.cache is not None:
            await app.ctx.cache.close()
        if app.ctx.database is not None:
            await app.ctx.database.stop()  # the last usage rows
        for provider in app.ctx.providers.values():
            await provider.close()
        await app.ctx.http.close()
        app.ctx.deadlines.close()
        app.ctx.access_log.flush()
        if app.ctx.tracing is not None:
            app.ctx.tracing.shutdown()  # exports the spans still queued
        worker_exit()

    return app
