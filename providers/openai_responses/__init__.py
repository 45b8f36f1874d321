"""The `openai` provider with `api: responses`: the upstream's `/responses` instead of
`/chat/completions`, so models that need the Responses API are reachable from every dialect."""

from providers.openai_responses.provider import OpenAIResponsesProvider

__all__ = ["OpenAIResponsesProvider"]
