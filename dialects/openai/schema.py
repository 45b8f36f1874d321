"""OpenAI Chat Completions and Embeddings request bodies as msgspec structs.
Unknown fields are tolerated, as compatible servers do; content parts are a tagged union on `type`."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec


class TextContent(msgspec.Struct, tag_field="type", tag="text"):
    text: str


class ImageURL(msgspec.Struct):
    url: str
    detail: str | None = None


class ImageContent(msgspec.Struct, tag_field="type", tag="image_url"):
    image_url: ImageURL | str  # some clients (and Ollama's /v1) send the URL bare


class AudioContent(msgspec.Struct, tag_field="type", tag="input_audio"):
    input_audio: dict[str, Any]


class FileData(msgspec.Struct):
    file_data: str | None = None
    file_id: str | None = None
    filename: str | None = None


class FileContent(msgspec.Struct, tag_field="type", tag="file"):
    file: FileData


class RefusalContent(msgspec.Struct, tag_field="type", tag="refusal"):
    refusal: str


ContentPart = TextContent | ImageContent | AudioContent | FileContent | RefusalContent


class FunctionCall(msgspec.Struct):
    name: str
    arguments: str | dict[str, Any] = ""


class CustomCall(msgspec.Struct):
    name: str
    input: str = ""


class ToolCall(msgspec.Struct):
    id: str
    function: FunctionCall | None = None
    type: str = "function"
    custom: CustomCall | None = None  # type "custom": a call of a freeform tool


class ChatMessage(msgspec.Struct):
    role: Literal["system", "developer", "user", "assistant", "tool", "function"]
    content: str | list[ContentPart] | None = None
    name: str | None = None
    tool_calls: list[ToolCall] | None = None
    tool_call_id: str | None = None
    reasoning_content: str | None = None
    reasoning: str | None = None
    refusal: str | None = None
    function_call: FunctionCall | None = None  # deprecated `functions` API: the assistant's one call


class FunctionDef(msgspec.Struct):
    name: str
    description: str | None = None
    parameters: dict[str, Any] | None = None
    strict: bool | None = None


class CustomDef(msgspec.Struct):
    name: str
    description: str | None = None
    # {"type": "text"} or {"type": "grammar", "grammar": {"definition": ..., "syntax": "lark" | "regex"}}
    format: dict[str, Any] | None = None


class ToolDef(msgspec.Struct):
    function: FunctionDef | None = None
    type: Literal["function", "custom"] = "function"
    custom: CustomDef | None = None


class NamedFunction(msgspec.Struct):
    name: str


class ToolChoiceFunction(msgspec.Struct):
    type: str
    function: NamedFunction | None = None
    custom: NamedFunction | None = None
    allowed_tools: dict[str, Any] | None = None


class JSONSchemaFormat(msgspec.Struct):
    name: str = "response"
    schema: dict[str, Any] | None = None
    description: str | None = None
    strict: bool | None = None


class ResponseFormat(msgspec.Struct):
    type: Literal["text", "json_object", "json_schema"]
    json_schema: JSONSchemaFormat | None = None


class StreamOptions(msgspec.Struct):
    include_usage: bool = False
    include_obfuscation: bool | None = None


class ChatRequest(msgspec.Struct):
    model: str
    messages: list[ChatMessage]
    stream: bool | None = False
    stream_options: StreamOptions | None = None
    max_tokens: int | None = None
    max_completion_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    n: int | None = None
    stop: str | list[str] | None = None
    seed: int | None = None
    presence_penalty: float | None = None
    frequency_penalty: float | None = None
    user: str | None = None
    prompt_cache_key: str | None = None  # read for `affinity: session`, and an OpenAI-only field (below)
    response_format: ResponseFormat | None = None
    tools: list[ToolDef] | None = None
    tool_choice: str | ToolChoiceFunction | None = None
    parallel_tool_calls: bool | None = None
    reasoning_effort: str | None = None
    safety_identifier: str | None = None
    # Deprecated, still accepted by the API: one function call per answer, answered as `function_call`.
    functions: list[FunctionDef] | None = None
    function_call: str | NamedFunction | None = None
    # OpenAI's own fields no other API has (unified.fields.OPENAI_CHAT): sent on to OpenAI-type upstreams,
    # counted as dropped elsewhere.
    logit_bias: dict[str, Any] | None = None
    logprobs: bool | None = None
    top_logprobs: int | None = None
    prediction: Any = None
    web_search_options: Any = None
    modalities: list[str] | None = None
    audio: Any = None
    service_tier: str | None = None
    store: bool | None = None
    metadata: dict[str, Any] | None = None
    prompt_cache_retention: str | None = None
    verbosity: str | None = None
    # Extras compatible servers read (sent through the SDK's extra_body); forwarded as-is.
    top_k: int | None = None
    enable_thinking: bool | None = None
    thinking_budget: int | None = None
    repetition_penalty: float | None = None
    min_p: float | None = None
    enable_search: bool | None = None
    do_sample: bool | None = None


class EmbeddingRequest(msgspec.Struct):
    model: str
    input: str | list[str | int | list[int]]
    encoding_format: Literal["float", "base64"] = "float"
    dimensions: Annotated[int, msgspec.Meta(ge=1, le=65536)] | None = None
    user: str | None = None


# ---------------------------------------------------------------------------------------------- responses


class ResponseFunction(msgspec.Struct):
    name: str
    arguments: str


class ResponseToolCall(msgspec.Struct, tag_field="type", tag="function"):
    id: str
    function: ResponseFunction


class ResponseCustom(msgspec.Struct):
    name: str
    input: str


class ResponseCustomCall(msgspec.Struct, tag_field="type", tag="custom"):
    id: str
    custom: ResponseCustom


class ResponseMessage(msgspec.Struct):
    content: str | None
    role: str = "assistant"
    refusal: None = None
    tool_calls: list[ResponseToolCall | ResponseCustomCall] | None = None
    reasoning_content: str | None = None


class FunctionCallMessage(ResponseMessage):
    """The answer to a client that offered `functions` (the deprecated API) rather than `tools`."""

    function_call: ResponseFunction | None = None


class Choice(msgspec.Struct):
    message: ResponseMessage
    finish_reason: str
    index: int = 0
    logprobs: None = None


class PromptDetails(msgspec.Struct):
    cached_tokens: int = 0


class CompletionDetails(msgspec.Struct):
    reasoning_tokens: int = 0


class ResponseUsage(msgspec.Struct):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    prompt_tokens_details: PromptDetails
    completion_tokens_details: CompletionDetails


class ChatCompletion(msgspec.Struct):
    id: str
    created: int
    model: str
    choices: list[Choice]
    usage: ResponseUsage
    object: str = "chat.completion"
    system_fingerprint: str = "fp_llm_link"
