"""The unified request, response and stream-event types every dialect and provider translate to and from.

A leaf module: it imports nothing of ours, so dialects and providers can depend on it without depending on
each other. Shapes follow the richest of the three APIs; a field a target cannot express is dropped by
that target's codec, never here.
"""

from __future__ import annotations

from typing import Any, Literal

import msgspec

Role = Literal["system", "user", "assistant"]
# Unified stop reasons; dialect codecs map them to finish_reason / stop_reason / done_reason.
StopReason = Literal["stop", "length", "tool_calls", "content_filter", "stop_sequence"]


# ---------------------------------------------------------------------------------------------- content


class TextPart(msgspec.Struct, tag="text", omit_defaults=True):
    text: str
    cache_control: dict[str, Any] | None = None  # Anthropic prompt-cache breakpoint, kept for Anthropic targets


class ImagePart(msgspec.Struct, tag="image", omit_defaults=True):
    """An image either inline (base64 `data` + `media_type`) or by `url`."""

    data: str | None = None
    media_type: str | None = None
    url: str | None = None
    cache_control: dict[str, Any] | None = None  # Anthropic prompt-cache breakpoint, kept for Anthropic targets


class ThinkingPart(msgspec.Struct, tag="thinking", omit_defaults=True):
    text: str
    signature: str | None = None  # Anthropic's replay signature; None when the source had none
    redacted: str | None = None  # Anthropic redacted_thinking payload
    # OpenAI Responses `encrypted_content` of a reasoning item (opaque); only a Responses upstream takes it.
    encrypted: str | None = None


class ToolCallPart(msgspec.Struct, tag="tool_call", omit_defaults=True):
    """A call the assistant made. `arguments` is the raw JSON text (OpenAI's form): it may be invalid
    JSON when a model misbehaves, so it is parsed only where a target needs an object."""

    id: str
    name: str
    arguments: str = "{}"
    cache_control: dict[str, Any] | None = None  # Anthropic prompt-cache breakpoint, kept for Anthropic targets


def arguments_object(arguments: str) -> dict[str, Any]:
    """A call's argument text as the JSON object Anthropic and Ollama want; never fails: empty text is {},
    invalid JSON from a misbehaving model is kept as {"_raw": text}, a non-object as {"_value": ...}."""
    if not arguments or not arguments.strip():
        return {}
    try:
        value = msgspec.json.decode(arguments)
    except msgspec.DecodeError:
        return {"_raw": arguments}
    return value if isinstance(value, dict) else {"_value": value}


class ToolResultPart(msgspec.Struct, tag="tool_result", omit_defaults=True):
    tool_call_id: str
    content: list[TextPart | ImagePart] = []
    is_error: bool = False
    name: str | None = None  # the tool's name when the source dialect says it (Ollama's tool_name)
    cache_control: dict[str, Any] | None = None  # Anthropic prompt-cache breakpoint, kept for Anthropic targets


class DocumentPart(msgspec.Struct, tag="document", omit_defaults=True):
    """A file (PDF or text) given inline; only some targets accept it."""

    data: str
    media_type: str
    title: str | None = None
    cache_control: dict[str, Any] | None = None  # Anthropic prompt-cache breakpoint, kept for Anthropic targets


Part = TextPart | ImagePart | ThinkingPart | ToolCallPart | ToolResultPart | DocumentPart


class Message(msgspec.Struct, omit_defaults=True):
    """One turn. Tool results travel as ToolResultPart inside a `user` message; `system` messages may
    appear anywhere (OpenAI allows that), targets that cannot place them hoist them."""

    role: Role
    content: list[Part]


# ---------------------------------------------------------------------------------------------- request


class Tool(msgspec.Struct, omit_defaults=True):
    """A function the model may call.

    A Responses `custom` (freeform) tool travels as a function whose `parameters` take one string `input`,
    with its original `format` in `custom`; its calls' arguments are the JSON object {"input": text}
    everywhere in the unified types, so any upstream can run it and a Responses upstream can restore it.
    A tool from a Responses `namespace` group has `namespace` set and the name `<namespace>__<name>`."""

    name: str
    description: str | None = None
    parameters: dict[str, Any] | None = None  # JSON schema of the arguments object
    strict: bool | None = None
    cache_control: dict[str, Any] | None = None  # Anthropic prompt-cache breakpoint, kept for Anthropic targets
    custom: dict[str, Any] | None = None  # a Responses custom tool's `format` ({"type": "text"} at least)
    namespace: str | None = None


class ToolChoice(msgspec.Struct, omit_defaults=True):
    mode: Literal["auto", "none", "required", "tool"] = "auto"
    name: str | None = None  # with mode == "tool"
    parallel: bool | None = None  # False = at most one call per turn


class ResponseFormat(msgspec.Struct, omit_defaults=True):
    type: Literal["text", "json_object", "json_schema"] = "text"
    schema: dict[str, Any] | None = None
    name: str | None = None
    strict: bool | None = None


class Reasoning(msgspec.Struct, omit_defaults=True):
    """Thinking control. `enabled` False means explicitly off; effort and budget are hints a target
    converts between (low/medium/high <-> token budgets)."""

    enabled: bool = True
    effort: str | None = None
    budget_tokens: int | None = None
    summary: str | None = None  # Responses `reasoning.summary` (auto / concise / detailed)


class Request(msgspec.Struct, omit_defaults=True):
    model: str  # the name the client asked for
    messages: list[Message]
    stream: bool = False
    tools: list[Tool] | None = None
    tool_choice: ToolChoice | None = None
    max_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    top_k: int | None = None
    seed: int | None = None
    presence_penalty: float | None = None
    frequency_penalty: float | None = None
    stop: list[str] | None = None
    n: int | None = None
    response_format: ResponseFormat | None = None
    reasoning: Reasoning | None = None
    user: str | None = None
    # Responses hosted tools (web_search, file_search, ...) as the client sent them: only an upstream that
    # runs them (Provider.hosted_tools) uses them; elsewhere they are dropped and counted. A tool_choice
    # forcing one is ToolChoice(mode="tool", name=<the hosted tool's type>).
    hosted_tools: list[dict[str, Any]] | None = None
    # Client fields this request carried that not every upstream can take (unified.fields names, never the
    # client's strings); the core counts those the answering provider does not carry (Provider.carries).
    droppable: tuple[str, ...] = ()
    # Provider-specific body fields the client sent on purpose (OpenAI SDK extra_body, Ollama options
    # without a unified counterpart); a provider of the matching kind may forward them.
    extra: dict[str, Any] | None = None


# ---------------------------------------------------------------------------------------------- response


class Usage(msgspec.Struct, omit_defaults=False):
    input_tokens: int = 0  # whole prompt, cached tokens included (OpenAI's convention)
    output_tokens: int = 0  # reasoning tokens included
    cache_read_tokens: int = 0
    cache_creation_tokens: int = 0
    reasoning_tokens: int = 0


class Response(msgspec.Struct, omit_defaults=True):
    id: str
    model: str  # upstream model name as reported
    content: list[Part]
    stop_reason: StopReason = "stop"
    stop_sequence: str | None = None
    usage: Usage = msgspec.field(default_factory=Usage)


# ---------------------------------------------------------------------------------------------- stream
#
# A provider's stream is: Start, then any mix of deltas, then exactly one Finish (or an exception).
# Guarantees dialects rely on: a tool call's ToolCallStart precedes its ToolCallDelta events, and calls
# do not interleave (once call k+1 started, call k gets no more deltas); indexes count tool calls from 0.


class Start(msgspec.Struct, tag="start"):
    id: str
    model: str
    input_tokens: int = 0  # known up front only for some upstreams (Anthropic)


class TextDelta(msgspec.Struct, tag="text"):
    text: str


class ThinkingDelta(msgspec.Struct, tag="thinking"):
    text: str = ""
    signature: str | None = None
    redacted: str | None = None  # a whole Anthropic redacted_thinking block (opaque payload)
    encrypted: str | None = None  # a Responses reasoning item's encrypted_content (opaque, whole)


class ToolCallStart(msgspec.Struct, tag="tool_call_start"):
    index: int
    id: str
    name: str


class ToolCallDelta(msgspec.Struct, tag="tool_call_delta"):
    index: int
    arguments: str


class Finish(msgspec.Struct, tag="finish"):
    stop_reason: StopReason = "stop"
    usage: Usage = msgspec.field(default_factory=Usage)
    stop_sequence: str | None = None


class Flush(msgspec.Struct, tag="flush"):
    """A hint, not content: the upstream has nothing more buffered right now, so what the dialect has
    encoded so far should be written out. Lets a burst of upstream events reach the client in one write."""


FLUSH = Flush()


class StreamError(msgspec.Struct, tag="error"):
    """A failure after the stream began; dialects end the client's stream with their own error event."""

    message: str
    kind: str = "api_error"
    status: int = 502


Event = Start | TextDelta | ThinkingDelta | ToolCallStart | ToolCallDelta | Finish | StreamError | Flush


# ---------------------------------------------------------------------------------------------- embeddings


class EmbedRequest(msgspec.Struct, omit_defaults=True):
    model: str
    inputs: list[str]
    dimensions: int | None = None


class EmbedResponse(msgspec.Struct):
    model: str
    vectors: list[list[float]]
    input_tokens: int = 0
