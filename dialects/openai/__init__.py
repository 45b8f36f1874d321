"""The OpenAI Chat Completions dialect (clients: the openai SDKs, Codex CLI, most tools)."""

from __future__ import annotations

from sanic import Blueprint
from sanic.blueprint_group import BlueprintGroup

from dialects.descriptor import Dialect, Op
from dialects.openai.errors import render_error


def _blueprint(prefix: str) -> Blueprint | BlueprintGroup:
    from dialects.openai.routes import make_blueprint

    return make_blueprint(prefix)


DIALECT = Dialect(
    name="openai",
    prefix="",
    api_root="/v1",
    blueprint=_blueprint,
    render_error=render_error,
    error_schema={
        "type": "object",
        "required": ["error"],
        "properties": {
            "error": {
                "type": "object",
                "required": ["message", "type"],
                "properties": {
                    "message": {"type": "string"},
                    "type": {"type": "string"},
                    "param": {"type": ["string", "null"]},
                    "code": {"type": ["string", "null"]},
                },
            }
        },
    },
    operations=(
        Op(
            "post",
            "/v1/chat/completions",
            "Chat completion (SSE with stream: true)",
            "dialects.openai.schema:ChatRequest",
            "dialects.openai.schema:ChatCompletion",
            "text/event-stream",
        ),
        Op("get", "/v1/models", "List models"),
        Op("get", "/v1/models/{model}", "One model"),
        Op("post", "/v1/embeddings", "Embeddings", "dialects.openai.schema:EmbeddingRequest"),
    ),
)
