"""The Ollama native dialect (clients: Zed, Open WebUI, ollama-python, anything that speaks /api/chat)."""

from __future__ import annotations

from sanic import Blueprint

from dialects.descriptor import Dialect, Op
from dialects.ollama.errors import render_error


def _blueprint(prefix: str) -> Blueprint:
    from dialects.ollama.routes import make_blueprint

    return make_blueprint(prefix)


DIALECT = Dialect(
    name="ollama",
    prefix="/ollama",
    api_root="/api",
    blueprint=_blueprint,
    render_error=render_error,
    error_schema={"type": "object", "required": ["error"], "properties": {"error": {"type": "string"}}},
    operations=(
        Op(
            "post",
            "/api/chat",
            "Chat (NDJSON unless stream: false)",
            "dialects.ollama.schema:ChatRequest",
            None,
            "application/x-ndjson",
        ),
        Op(
            "post",
            "/api/generate",
            "Generate (NDJSON unless stream: false)",
            "dialects.ollama.schema:GenerateRequest",
            None,
            "application/x-ndjson",
        ),
        Op("get", "/api/tags", "List models"),
        Op("post", "/api/show", "Model details", "dialects.ollama.schema:ShowRequest"),
        Op("get", "/api/show/{model}", "Model details"),
        Op("get", "/api/version", "Version"),
        Op("get", "/api/ps", "Loaded models"),
        Op("post", "/api/embed", "Embeddings", "dialects.ollama.schema:EmbedRequest"),
        Op("post", "/api/embeddings", "Embeddings (legacy)", "dialects.ollama.schema:EmbeddingsRequest"),
    ),
)
