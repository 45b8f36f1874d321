"""Inbound APIs. Each dialect package offers `make_blueprint(prefix)`, `render_error(err)` and `API_ROOT`;
the app finds them through DIALECTS, so adding a dialect is one package and one line."""

DIALECTS: dict[str, str] = {
    "openai": "dialects.openai",
    "anthropic": "dialects.anthropic",
    "ollama": "dialects.ollama",
}
