"""Secrets out of upstream text: an upstream error body reaches the client and the log only capped
and with anything that looks like a key masked the way OpenAI masks keys (`sk-...abcd`). Upstreams do echo
request headers in errors (proxies, debugging servers), which would hand the provider's key to every client."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any

ERROR_BODY_CAP = 8 * 1024  # bytes of an upstream error body that are read and passed on

# Key-like tokens from any vendor, and credentials after the header names that carry them.
_GENERIC = re.compile(
    r"(?P<key>\b(?:sk|pk|rk|ak|key)[-_][A-Za-z0-9_\-]{12,})"
    r"|(?P<hdr>(?i:(?:bearer|basic)\s+|(?:x-api-key|api-key|x-goog-api-key|authorization)[\"']?\s*[:=]\s*[\"']?))"
    r"(?P<val>(?=[^\s\"']*\d)[A-Za-z0-9_\-.~+/=]{8,})"
)


def mask(secret: str) -> str:
    """`sk-proj-abcd...wxyz` -> `sk-...wxyz`: enough to tell keys apart, never enough to use one."""
    if len(secret) < 12:
        return "***"
    return f"{secret[:3]}...{secret[-4:]}"


class Redactor:
    """Masks one provider's own secrets (its api_key, its configured header values) plus anything that
    looks like a key. Built once per provider; used on error paths only."""

    def __init__(self, secrets: Iterable[str | None]) -> None:
        own = sorted({s for s in secrets if s and len(s) >= 8}, key=len, reverse=True)
        self.own = own
        self._own = re.compile("|".join(re.escape(s) for s in own)) if own else None

    def __call__(self, text: str) -> str:
        if self._own is not None:
            text = self._own.sub(lambda m: mask(m.group(0)), text)
        return _GENERIC.sub(_generic, text)


def _generic(m: re.Match[str]) -> str:
    if m.group("key") is not None:
        return mask(m.group("key"))
    return m.group("hdr") + mask(m.group("val"))


def cap_text(text: str, limit: int = ERROR_BODY_CAP) -> str:
    return text if len(text) <= limit else text[:limit] + "… (truncated)"


def mask_error(err: Any, redact: Callable[[str], str] | None) -> None:
    """Mask and cap a GatewayError's message in place (errors raised mid-stream from upstream events)."""
    if redact is None:
        return
    masked = cap_text(redact(err.message))
    if masked != err.message:
        err.message = masked
        err.args = (masked,)
