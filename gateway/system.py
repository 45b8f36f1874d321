"""System endpoints: /health (liveness, always cheap), /ready (readiness), /metrics (Prometheus)."""

from __future__ import annotations

import asyncio

from sanic import Blueprint, HTTPResponse, Request
from sanic.response import raw

from gateway import __version__
from gateway.metrics import render

blueprint = Blueprint("system")


async def watch_tasks(interval: float = 1.0) -> None:
    """Publish this worker's count of live asyncio tasks (`llm_link_worker_asyncio_tasks{pid}`), so a task
    leak shows on /metrics (bench/soak.py watches it). Made here, in the worker, so the multiprocess value file
    belongs to the worker's pid."""
    from prometheus_client import Gauge

    gauge = Gauge(
        "llm_link_worker_asyncio_tasks", "Live asyncio tasks in this worker", registry=None, multiprocess_mode="liveall"
    )
    while True:
        gauge.set(len(asyncio.all_tasks()))
        await asyncio.sleep(interval)


@blueprint.get("/health")
async def health(request: Request) -> HTTPResponse:
    return raw(b'{"status":"ok"}', content_type="application/json")


@blueprint.get("/ready")
async def ready(request: Request) -> HTTPResponse:
    ctx = request.app.ctx
    if getattr(ctx, "draining", False):
        return raw(b'{"status":"draining"}', status=503, content_type="application/json")
    providers = sorted(getattr(ctx, "providers", {}))
    body = (
        b'{"status":"ready","version":"'
        + __version__.encode()
        + b'","providers":'
        + str(len(providers)).encode()
        + b"}"
    )
    return raw(body, content_type="application/json")


@blueprint.get("/metrics")
async def metrics(request: Request) -> HTTPResponse:
    body, content_type = render(request.app.ctx.metrics.registry)
    return raw(body, content_type=content_type)
