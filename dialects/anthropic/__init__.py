"""The Anthropic Messages dialect (clients: the anthropic SDKs, Claude Code)."""

from dialects.anthropic.errors import render_error
from dialects.anthropic.routes import make_blueprint

# Paths under the dialect's prefix where its API lives: errors raised before an endpoint (unknown route,
# body too large) on these paths are rendered in this dialect's shape.
API_ROOT = "/v1"

__all__ = ["API_ROOT", "make_blueprint", "render_error"]
