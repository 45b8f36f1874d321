"""The Anthropic Messages dialect (clients: the anthropic SDKs, Claude Code)."""

from dialects.anthropic.errors import render_error
from dialects.anthropic.routes import make_blueprint

__all__ = ["make_blueprint", "render_error"]
