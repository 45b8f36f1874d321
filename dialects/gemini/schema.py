"""Gemini `generateContent` request bodies as msgspec structs (Google's REST reference, v1beta).

Google's JSON parser takes every field under its camelCase name and its proto (snake_case) name, and the
official SDKs send both (google-genai for Python sends `parameters_json_schema`, `mime_type` inside
otherwise camelCase bodies), so each field we read exists in both spellings; `pick` takes whichever came.
Fields we do not translate are ignored, so new client fields never break a request."""

from __future__ import annotations

from typing import Any, TypeVar

import msgspec

T = TypeVar("T")


def pick(camel: T | None, snake: T | None) -> T | None:
    return camel if camel is not None else snake


# ---------------------------------------------------------------------------------------------- content


class Blob(msgspec.Struct):
    data: str = ""
    mimeType: str | None = None
    mime_type: str | None = None


class FileData(msgspec.Struct):
    fileUri: str | None = None
    file_uri: str | None = None
    mimeType: str | None = None
    mime_type: str | None = None


class FunctionCall(msgspec.Struct):
    name: str
    id: str | None = None
    args: dict[str, Any] | None = None


class FunctionResponsePart(msgspec.Struct):
    inlineData: Blob | None = None
    inline_data: Blob | None = None


class FunctionResponse(msgspec.Struct):
    name: str
    id: str | None = None
    response: dict[str, Any] | None = None
    parts: list[FunctionResponsePart] | None = None


class Part(msgspec.Struct):
    text: str | None = None
    thought: bool | None = None
    thoughtSignature: str | None = None
    thought_signature: str | None = None
    inlineData: Blob | None = None
    inline_data: Blob | None = None
    fileData: FileData | None = None
    file_data: FileData | None = None
    functionCall: FunctionCall | None = None
    function_call: FunctionCall | None = None
    functionResponse: FunctionResponse | None = None
    function_response: FunctionResponse | None = None


class Content(msgspec.Struct):
    parts: list[Part] = []
    role: str | None = None


# ---------------------------------------------------------------------------------------------- tools


class FunctionDeclaration(msgspec.Struct):
    name: str
    description: str | None = None
    parameters: dict[str, Any] | None = None
    parametersJsonSchema: dict[str, Any] | None = None
    parameters_json_schema: dict[str, Any] | None = None


# Tools Google runs itself; they reach Gemini upstreams only (codec.HOSTED_TOOLS).
Hosted = dict[str, Any] | None


class Tool(msgspec.Struct):
    functionDeclarations: list[FunctionDeclaration] | None = None
    function_declarations: list[FunctionDeclaration] | None = None
    googleSearch: Hosted = None
    google_search: Hosted = None
    googleSearchRetrieval: Hosted = None
    google_search_retrieval: Hosted = None
    codeExecution: Hosted = None
    code_execution: Hosted = None
    urlContext: Hosted = None
    url_context: Hosted = None
    googleMaps: Hosted = None
    google_maps: Hosted = None
    fileSearch: Hosted = None
    file_search: Hosted = None
    computerUse: Hosted = None
    computer_use: Hosted = None


class FunctionCallingConfig(msgspec.Struct):
    mode: str | None = None
    allowedFunctionNames: list[str] | None = None
    allowed_function_names: list[str] | None = None


class ToolConfig(msgspec.Struct):
    functionCallingConfig: FunctionCallingConfig | None = None
    function_calling_config: FunctionCallingConfig | None = None


# ---------------------------------------------------------------------------------------------- config


class ThinkingConfig(msgspec.Struct):
    includeThoughts: bool | None = None
    include_thoughts: bool | None = None
    thinkingBudget: int | None = None
    thinking_budget: int | None = None
    thinkingLevel: str | None = None
    thinking_level: str | None = None


class GenerationConfig(msgspec.Struct):
    stopSequences: list[str] | None = None
    stop_sequences: list[str] | None = None
    responseMimeType: str | None = None
    response_mime_type: str | None = None
    responseSchema: dict[str, Any] | None = None
    response_schema: dict[str, Any] | None = None
    responseJsonSchema: dict[str, Any] | None = None
    response_json_schema: dict[str, Any] | None = None
    candidateCount: int | None = None
    candidate_count: int | None = None
    maxOutputTokens: int | None = None
    max_output_tokens: int | None = None
    temperature: float | None = None
    topP: float | None = None
    top_p: float | None = None
    topK: float | None = None
    top_k: float | None = None
    seed: int | None = None
    presencePenalty: float | None = None
    presence_penalty: float | None = None
    frequencyPenalty: float | None = None
    frequency_penalty: float | None = None
    thinkingConfig: ThinkingConfig | None = None
    thinking_config: ThinkingConfig | None = None


class SafetySetting(msgspec.Struct):
    category: str
    threshold: str | None = None
    method: str | None = None


class GenerateContentRequest(msgspec.Struct):
    contents: list[Content] = []
    systemInstruction: Content | None = None
    system_instruction: Content | None = None
    tools: list[Tool] | None = None
    toolConfig: ToolConfig | None = None
    tool_config: ToolConfig | None = None
    safetySettings: list[SafetySetting] | None = None
    safety_settings: list[SafetySetting] | None = None
    generationConfig: GenerationConfig | None = None
    generation_config: GenerationConfig | None = None
    cachedContent: str | None = None
    cached_content: str | None = None
    model: str | None = None


class CountTokensRequest(msgspec.Struct):
    contents: list[Content] | None = None
    generateContentRequest: GenerateContentRequest | None = None
    generate_content_request: GenerateContentRequest | None = None


class EmbedContentRequest(msgspec.Struct):
    content: Content
    model: str | None = None
    taskType: str | None = None
    task_type: str | None = None
    title: str | None = None
    outputDimensionality: int | None = None
    output_dimensionality: int | None = None


class BatchEmbedContentsRequest(msgspec.Struct):
    requests: list[EmbedContentRequest]
