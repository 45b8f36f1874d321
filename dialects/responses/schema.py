"""OpenAI Responses API request bodies as msgspec structs.

Items and parts are flat structs keyed by `type` rather than tagged unions: the easy message form has no
`type` at all, and clients send item types we only pass over (hosted tool calls), so the codec dispatches
on `type` itself. Unknown fields are tolerated, as the real API's clients add new ones often."""

from __future__ import annotations

from typing import Any

import msgspec


class ContentPart(msgspec.Struct, omit_defaults=True):
    """input_text / output_text / refusal / input_image / input_file / summary_text / reasoning_text."""

    type: str
    text: str | None = None
    refusal: str | None = None
    image_url: str | None = None
    file_id: str | None = None
    detail: str | None = None
    file_data: str | None = None
    file_url: str | None = None
    filename: str | None = None


class InputItem(msgspec.Struct, omit_defaults=True):
    """Any input item: message (with or without `type`), function_call(_output), custom_tool_call(_output),
    reasoning, and the rest (item_reference, hosted tool calls, compaction) which the codec refuses or skips."""

    type: str = "message"
    role: str | None = None
    content: str | list[ContentPart] | None = None
    id: str | None = None
    status: str | None = None
    call_id: str | None = None
    name: str | None = None
    namespace: str | None = None
    arguments: str | None = None
    input: str | None = None
    output: str | list[ContentPart] | None = None
    summary: list[ContentPart] | None = None
    encrypted_content: str | None = None


class ToolDef(msgspec.Struct, omit_defaults=True):
    """function {name, description, parameters, strict}; custom {name, description, format};
    namespace {name, description, tools}; anything else is a hosted tool, kept whole from `raw`."""

    type: str
    name: str | None = None
    description: str | None = None
    parameters: dict[str, Any] | None = None
    strict: bool | None = None
    format: dict[str, Any] | None = None
    tools: list[ToolDef] | None = None


class ToolChoiceObject(msgspec.Struct, omit_defaults=True):
    type: str
    name: str | None = None
    mode: str | None = None
    tools: list[dict[str, Any]] | None = None


class ReasoningConfig(msgspec.Struct, omit_defaults=True):
    effort: str | None = None
    summary: str | None = None
    generate_summary: str | None = None  # the older name of `summary`


class TextFormat(msgspec.Struct, omit_defaults=True):
    type: str = "text"
    name: str | None = None
    schema: dict[str, Any] | None = None
    strict: bool | None = None
    description: str | None = None


class TextConfig(msgspec.Struct, omit_defaults=True):
    format: TextFormat | None = None
    verbosity: str | None = None


class ResponsesRequest(msgspec.Struct, omit_defaults=True):
    model: str
    input: str | list[InputItem] | None = None
    instructions: str | None = None
    tools: list[msgspec.Raw] | None = None  # decoded per tool: hosted ones are kept whole for a Responses upstream
    tool_choice: str | ToolChoiceObject | None = None
    parallel_tool_calls: bool | None = None
    max_output_tokens: int | None = None
    max_tool_calls: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    reasoning: ReasoningConfig | None = None
    text: TextConfig | None = None
    metadata: dict[str, str] | None = None
    store: bool | None = None
    stream: bool | None = None
    prompt_cache_key: str | None = None
    prompt_cache_retention: str | None = None
    include: list[str] | None = None
    previous_response_id: str | None = None
    conversation: str | dict[str, Any] | None = None
    background: bool | None = None
    user: str | None = None
    safety_identifier: str | None = None
    service_tier: str | None = None
    truncation: str | None = None
    top_logprobs: int | None = None


class InputTokensRequest(msgspec.Struct, omit_defaults=True):
    """POST /v1/responses/input_tokens: the create body's input side; `model` may be absent."""

    model: str | None = None
    input: str | list[InputItem] | None = None
    instructions: str | None = None
    tools: list[msgspec.Raw] | None = None
    tool_choice: str | ToolChoiceObject | None = None
    parallel_tool_calls: bool | None = None
    reasoning: ReasoningConfig | None = None
    text: TextConfig | None = None
    previous_response_id: str | None = None
    conversation: str | dict[str, Any] | None = None
