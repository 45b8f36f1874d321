"""The dashboard at `/admin/`: static HTML, CSS and JS modules from gateway/admin/static/, read
once at import and served with a strict Content-Security-Policy. The page holds no secret: it asks for the
admin key, keeps it in the tab's sessionStorage and sends it only to the admin API on this origin. Off
(404) like the admin API while `admin.key` is not set."""

from __future__ import annotations

from pathlib import Path

from sanic import Blueprint, HTTPResponse, Request
from sanic.response import raw, redirect

STATIC = Path(__file__).with_name("static")
TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
}
# Only this origin, no inline script or style, never framed, no plug-ins; the page loads nothing from
# anywhere else (the charting library is vendored, see static/VENDORED.md).
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "font-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Cache-Control": "no-cache",
}

# name -> (bytes, content type), read once: the set of files is fixed, so no path from a request ever
# reaches the file system.
FILES: dict[str, tuple[bytes, str]] = (
    {p.name: (p.read_bytes(), TYPES[p.suffix]) for p in sorted(STATIC.iterdir()) if p.suffix in TYPES}
    if STATIC.is_dir()
    else {}  # an install without the package data: the page is a 404, the gateway still starts
)

blueprint = Blueprint("admin_dashboard", strict_slashes=True)


def _off(request: Request) -> bool:
    return request.app.ctx.config.admin is None


def _not_found() -> HTTPResponse:
    return raw(b"Not found", status=404, content_type="text/plain; charset=utf-8", headers=HEADERS)


def _file(name: str) -> HTTPResponse:
    found = FILES.get(name)
    if found is None:
        return _not_found()
    body, ctype = found
    return raw(body, content_type=ctype, headers=HEADERS)


@blueprint.get("/admin")
async def bare(request: Request) -> HTTPResponse:
    return _not_found() if _off(request) else redirect("/admin/", headers=HEADERS)


@blueprint.get("/admin/")
async def index(request: Request) -> HTTPResponse:
    return _not_found() if _off(request) else _file("index.html")


@blueprint.get("/admin/static/<name:str>")
async def static(request: Request, name: str) -> HTTPResponse:
    return _not_found() if _off(request) or name == "index.html" else _file(name)
