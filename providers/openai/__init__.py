"""OpenAI Chat Completions upstream: `provider` (settings, calls), `request` (unified -> body),
`stream` (SSE chunks -> unified), `wire` (response structs)."""

from providers.openai.provider import OpenAIProvider
from providers.openai.request import OpenAIOptions

__all__ = ["OpenAIOptions", "OpenAIProvider"]
