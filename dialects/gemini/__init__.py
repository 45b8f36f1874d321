"""The Gemini API dialect (clients: gemini-cli via GOOGLE_GEMINI_BASE_URL, the google-genai SDKs)."""

from __future__ import annotations

from sanic import Blueprint

from dialects.descriptor import Dialect, Op
from dialects.gemini.errors import render_error


def _blueprint(prefix: str) -> Blueprint:
    from dialects.gemini.routes import make_blueprint

    return make_blueprint(prefix)


_MODEL = "/v1beta/models/{model}"

DIALECT = Dialect(
    name="gemini",
    prefix="/gemini",
    # Everything under the prefix is Google's API: /v1beta (gemini-cli, the JS SDK) and /v1 (newer Python SDKs).
    api_root="",
    blueprint=_blueprint,
    render_error=render_error,
    error_schema={
        "type": "object",
        "required": ["error"],
        "properties": {
            "error": {
                "type": "object",
                "required": ["code", "message", "status"],
                "properties": {
                    "code": {"type": "integer"},
                    "message": {"type": "string"},
                    "status": {"type": "string"},
                },
            }
        },
    },
    operations=(
        Op(
            "post",
            _MODEL + ":generateContent",
            "Generate content",
            "dialects.gemini.schema:GenerateContentRequest",
        ),
        Op(
            "post",
            _MODEL + ":streamGenerateContent",
            "Generate content, streamed (SSE with alt=sse)",
            "dialects.gemini.schema:GenerateContentRequest",
            None,
            "text/event-stream",
        ),
        Op("post", _MODEL + ":countTokens", "Count tokens", "dialects.gemini.schema:CountTokensRequest"),
        Op("post", _MODEL + ":embedContent", "Embed one content", "dialects.gemini.schema:EmbedContentRequest"),
        Op(
            "post",
            _MODEL + ":batchEmbedContents",
            "Embed several contents",
            "dialects.gemini.schema:BatchEmbedContentsRequest",
        ),
        Op("get", "/v1beta/models", "List models"),
        Op("get", _MODEL, "One model"),
    ),
    # gemini-cli and the SDKs send x-goog-api-key; REST examples put the key in the query string.
    key_headers=("x-goog-api-key", "?key", "authorization"),
)
