"""The Ollama native dialect (clients: Zed, Open WebUI, ollama-python, anything that speaks /api/chat)."""

from dialects.ollama.errors import render_error
from dialects.ollama.routes import make_blueprint

__all__ = ["make_blueprint", "render_error"]
