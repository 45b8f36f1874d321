"""The running config as the admin API shows it: every secret replaced, URLs without passwords."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import msgspec

from gateway.config import Config

HIDDEN = "***"
SECRET_NAMES = re.compile(r"(^|_)(key|api_key|key_sha256|secret|token|password|authorization|credentials?)$", re.I)


def url(value: str) -> str:
    """A URL with any password in it replaced (redis://:pw@host, postgresql://user:pw@host/db)."""
    try:
        parts = urlsplit(value)
    except ValueError:
        return HIDDEN
    if parts.password is None:
        return value
    netloc = parts.netloc.rsplit("@", 1)[1]
    user = parts.username or ""
    return urlunsplit(parts._replace(netloc=f"{user}:{HIDDEN}@{netloc}"))


def _walk(node: Any, name: str) -> Any:
    if isinstance(node, dict):
        if name == "headers":  # any header may carry a credential: names only
            return dict.fromkeys(node, HIDDEN)
        return {k: _walk(v, str(k)) for k, v in node.items()}
    if isinstance(node, list):
        return [_walk(v, name) for v in node]
    if isinstance(node, str):
        if SECRET_NAMES.search(name):
            return HIDDEN
        if "://" in node and "@" in node:
            return url(node)
    return node


def config_view(cfg: Config) -> dict[str, Any]:
    out: dict[str, Any] = _walk(msgspec.to_builtins(cfg), "")
    return out
