"""Errors in OpenAI's shape: the Responses API is OpenAI's, its clients parse the same error body."""

from dialects.openai.errors import error_object, render_error

__all__ = ["error_object", "render_error"]
