"""The OpenAI Chat Completions dialect (clients: the openai SDKs, Codex CLI, most tools)."""

from dialects.openai.errors import render_error
from dialects.openai.routes import make_blueprint

__all__ = ["make_blueprint", "render_error"]
