"""The Anthropic Messages dialect (clients: the anthropic SDKs, Claude Code)."""

from __future__ import annotations

from sanic import Blueprint

from dialects.anthropic.errors import render_error
from dialects.descriptor import Dialect, Op


def _blueprint(prefix: str) -> Blueprint:
    from dialects.anthropic.routes import make_blueprint

    return make_blueprint(prefix)


DIALECT = Dialect(
    name="anthropic",
    prefix="/anthropic",
    api_root="/v1",
    blueprint=_blueprint,
    render_error=render_error,
    error_schema={
        "type": "object",
        "required": ["type", "error"],
        "properties": {
            "type": {"const": "error"},
            "error": {
                "type": "object",
                "required": ["type", "message"],
                "properties": {"type": {"type": "string"}, "message": {"type": "string"}},
            },
        },
    },
    operations=(
        Op(
            "post",
            "/v1/messages",
            "Messages (SSE with stream: true)",
            "dialects.anthropic.schema:MessagesRequest",
            None,
            "text/event-stream",
        ),
        Op("post", "/v1/messages/count_tokens", "Count input tokens", "dialects.anthropic.schema:CountTokensRequest"),
        Op("get", "/v1/models", "List models"),
    ),
)
