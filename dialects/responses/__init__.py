"""The OpenAI Responses API dialect (clients: Codex CLI, the OpenAI Agents SDK, the Vercel AI SDK)."""

from __future__ import annotations

from sanic import Blueprint

from dialects.descriptor import Dialect, Op
from dialects.openai import DIALECT as OPENAI
from dialects.responses.errors import render_error


def _blueprint(prefix: str) -> Blueprint:
    from dialects.responses.routes import make_blueprint

    return make_blueprint(prefix)


# Served beside Chat Completions under /v1 by default; errors there have OpenAI's shape either way.
DIALECT = Dialect(
    name="responses",
    prefix="",
    api_root="/v1",
    blueprint=_blueprint,
    render_error=render_error,
    error_schema=OPENAI.error_schema,
    operations=(
        Op(
            "post",
            "/v1/responses",
            "Create a response (SSE with stream: true)",
            "dialects.responses.schema:ResponsesRequest",
            None,
            "text/event-stream",
        ),
        Op("get", "/v1/responses/{response_id}", "A stored response (with `responses.store`)"),
        Op("delete", "/v1/responses/{response_id}", "Delete a stored response"),
        Op(
            "post",
            "/v1/responses/input_tokens",
            "Count input tokens",
            "dialects.responses.schema:InputTokensRequest",
        ),
        Op("post", "/v1/responses/compact", "Compact a conversation (Responses upstreams only)"),
    ),
    key_headers=OPENAI.key_headers,
)
