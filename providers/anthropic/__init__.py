"""Anthropic Messages upstream: `provider` (settings, calls), `request` (unified -> Messages body),
`stream` (SSE events -> unified), `wire` (response structs)."""

from providers.anthropic.provider import AnthropicOptions, AnthropicProvider

__all__ = ["AnthropicOptions", "AnthropicProvider"]
