"""The Ollama native dialect (clients: Zed, Open WebUI, ollama-python, anything that speaks /api/chat)."""

from dialects.ollama.errors import render_error
from dialects.ollama.routes import make_blueprint

# Paths under the dialect's prefix where its API lives: errors raised before an endpoint (unknown route,
# body too large) on these paths are rendered in this dialect's shape.
API_ROOT = "/api"

__all__ = ["API_ROOT", "make_blueprint", "render_error"]
