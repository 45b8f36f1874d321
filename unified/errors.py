"""Dialect-neutral errors. Anything that goes wrong raises a GatewayError with a kind; each dialect renders
the kind in its own shape (`dialects/<name>/errors.py`)."""

from __future__ import annotations

from typing import Literal

ErrorKind = Literal[
    "invalid_request",  # 400: bad JSON, schema violation, unsupported content
    "authentication",  # 401
    "permission",  # 403
    "not_found",  # 404: unknown model or route
    "request_too_large",  # 413
    "rate_limit",  # 429
    "overloaded",  # 503 / Anthropic 529
    "upstream_unreachable",  # 502
    "timeout",  # 504
    "api_error",  # 500 / any other upstream failure
]

STATUS_BY_KIND: dict[str, int] = {
    "invalid_request": 400,
    "authentication": 401,
    "permission": 403,
    "not_found": 404,
    "request_too_large": 413,
    "rate_limit": 429,
    "overloaded": 503,
    "upstream_unreachable": 502,
    "timeout": 504,
    "api_error": 500,
}


def kind_for_status(status: int) -> str:
    """The kind an upstream HTTP status stands for."""
    if status == 401:
        return "authentication"
    if status == 403:
        return "permission"
    if status == 404:
        return "not_found"
    if status == 413:
        return "request_too_large"
    if status == 429:
        return "rate_limit"
    if status in (503, 529):
        return "overloaded"
    if status == 504:
        return "timeout"
    if status >= 500:
        return "api_error"
    return "invalid_request"


class GatewayError(Exception):
    def __init__(
        self,
        kind: str,
        message: str,
        *,
        status: int | None = None,
        param: str | None = None,
        code: str | None = None,
        headers: dict[str, str] | None = None,
        retryable: bool | None = None,
    ) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.status = status if status is not None else STATUS_BY_KIND.get(kind, 500)
        self.param = param
        self.code = code
        self.headers = headers or {}
        # Whether another attempt (same or other target) may succeed; None = decide from the status.
        self._retryable = retryable

    @property
    def retryable(self) -> bool:
        if self._retryable is not None:
            return self._retryable
        return self.status in (408, 409, 429) or self.status >= 500

    def __repr__(self) -> str:
        return f"GatewayError({self.kind!r}, {self.message!r}, status={self.status})"


def invalid(message: str, param: str | None = None) -> GatewayError:
    return GatewayError("invalid_request", message, param=param)


def model_not_found(model: str) -> GatewayError:
    shown = model if len(model) <= 200 else model[:200] + "…"  # the name is the client's: echo it bounded
    return GatewayError(
        "not_found",
        f"The model `{shown}` does not exist or is not served by this gateway.",
        param="model",
        code="model_not_found",
    )


def upstream_status_error(status: int, message: str, headers: dict[str, str] | None = None) -> GatewayError:
    """An upstream answered with an error status: keep the status and the upstream's message."""
    return GatewayError(kind_for_status(status), message, status=status, headers=headers)
