"""`HEAD` on each dialect's base URL answers 200: clients probe it before their first call (Claude Code sends
`HEAD /anthropic` at every start) and would otherwise log a 404."""

from __future__ import annotations

from sanic import HTTPResponse, Request, Sanic
from sanic.response import empty


async def _ok(request: Request) -> HTTPResponse:
    return empty(status=200)


def add(app: Sanic, path: str) -> None:
    """A HEAD route at `path` (a dialect's prefix, or its API root when it has none), unless one exists."""
    path = path.rstrip("/") or "/"
    name = "probe_" + (path.strip("/").replace("/", "_") or "root")
    if any(r.path.rstrip("/") == path.strip("/") and "HEAD" in r.methods for r in app.router.routes):
        return
    app.add_route(_ok, path, methods=["HEAD"], name=name)
