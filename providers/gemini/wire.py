"""What the Generative Language API answers, as msgspec structs (read side of the gemini provider).
Only the fields the provider reads; the rest of Google's response is skipped while decoding."""

from __future__ import annotations

from typing import Any

import msgspec


class FunctionCall(msgspec.Struct):
    name: str = ""
    id: str | None = None
    args: dict[str, Any] | None = None


class Part(msgspec.Struct):
    text: str | None = None
    thought: bool | None = None
    thoughtSignature: str | None = None
    functionCall: FunctionCall | None = None


class Content(msgspec.Struct):
    parts: list[Part] = []
    role: str | None = None


class Candidate(msgspec.Struct):
    content: Content | None = None
    finishReason: str | None = None


class UsageMetadata(msgspec.Struct):
    promptTokenCount: int | None = None
    candidatesTokenCount: int | None = None
    cachedContentTokenCount: int | None = None
    thoughtsTokenCount: int | None = None
    toolUsePromptTokenCount: int | None = None
    totalTokenCount: int | None = None


class PromptFeedback(msgspec.Struct):
    blockReason: str | None = None


class Status(msgspec.Struct):
    code: int | None = None
    message: str | None = None
    status: str | None = None


class GenerateResponse(msgspec.Struct):
    candidates: list[Candidate] = []
    usageMetadata: UsageMetadata | None = None
    promptFeedback: PromptFeedback | None = None
    modelVersion: str | None = None
    responseId: str | None = None
    error: Status | None = None  # an error reported inside a stream


class CountResponse(msgspec.Struct):
    totalTokens: int


class Embedding(msgspec.Struct):
    values: list[float]


class BatchEmbedResponse(msgspec.Struct):
    embeddings: list[Embedding]


class Model(msgspec.Struct):
    name: str
    inputTokenLimit: int | None = None
    supportedGenerationMethods: list[str] = []


class ModelList(msgspec.Struct):
    models: list[Model] = []
    nextPageToken: str | None = None
