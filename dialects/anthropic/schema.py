"""Anthropic Messages request bodies as msgspec structs.

Unknown fields are tolerated (clients send new ones before we know them); the Anthropic-only ones we know
(`context_management`, `container`, tool `defer_loading` ...) are declared so that the codec can name them
as dropped (unified.fields); content blocks are a tagged union on `type`, so a malformed block is a 400 that
names its position."""

from __future__ import annotations

from typing import Any, Literal

import msgspec

CacheControl = dict[str, Any]


# ---------------------------------------------------------------------------------------------- sources


class Base64Source(msgspec.Struct, tag_field="type", tag="base64"):
    media_type: str
    data: str


class URLSource(msgspec.Struct, tag_field="type", tag="url"):
    url: str


class FileSource(msgspec.Struct, tag_field="type", tag="file"):
    file_id: str


class TextSource(msgspec.Struct, tag_field="type", tag="text"):
    data: str
    media_type: str = "text/plain"


class ContentSource(msgspec.Struct, tag_field="type", tag="content"):
    content: str | list[dict[str, Any]]


ImageSource = Base64Source | URLSource | FileSource
DocumentSource = Base64Source | URLSource | FileSource | TextSource | ContentSource


# ---------------------------------------------------------------------------------------------- blocks


class TextBlock(msgspec.Struct, tag_field="type", tag="text"):
    text: str
    cache_control: CacheControl | None = None
    citations: Any = None


class ImageBlock(msgspec.Struct, tag_field="type", tag="image"):
    source: ImageSource
    cache_control: CacheControl | None = None


class DocumentBlock(msgspec.Struct, tag_field="type", tag="document"):
    source: DocumentSource
    title: str | None = None
    context: str | None = None
    citations: Any = None
    cache_control: CacheControl | None = None


class ToolUseBlock(msgspec.Struct, tag_field="type", tag="tool_use"):
    id: str
    name: str
    input: Any = None
    cache_control: CacheControl | None = None


class ToolResultBlock(msgspec.Struct, tag_field="type", tag="tool_result"):
    tool_use_id: str
    content: str | list[TextBlock | ImageBlock | DocumentBlock | SearchResultBlock | ToolReferenceBlock] | None = None
    is_error: bool | None = None
    cache_control: CacheControl | None = None


class ThinkingBlock(msgspec.Struct, tag_field="type", tag="thinking"):
    thinking: str
    signature: str | None = None


class RedactedThinkingBlock(msgspec.Struct, tag_field="type", tag="redacted_thinking"):
    data: str


class ServerToolUseBlock(msgspec.Struct, tag_field="type", tag="server_tool_use"):
    """Server tools (web search ...) run inside Anthropic; their history blocks are accepted and dropped."""

    id: str = ""
    name: str = ""
    input: Any = None


class WebSearchResultBlock(msgspec.Struct, tag_field="type", tag="web_search_tool_result"):
    tool_use_id: str = ""
    content: Any = None


class SearchResultBlock(msgspec.Struct, tag_field="type", tag="search_result"):
    """A search result a client's own tool found (text blocks with a source); other APIs get its text."""

    source: str = ""
    title: str = ""
    content: list[TextBlock] = []
    citations: Any = None
    cache_control: CacheControl | None = None


class CompactionBlock(msgspec.Struct, tag_field="type", tag="compaction"):
    """(beta) The summary that stands for the compacted turns before it; other APIs get the summary text."""

    content: str | None = None
    encrypted_content: Any = None
    signature: Any = None
    tool_changes: Any = None
    cache_control: CacheControl | None = None


class _ServerHistory(msgspec.Struct, tag_field="type"):
    """Blocks of a server tool's run inside Anthropic (results, uploads): history no other API can replay."""

    tool_use_id: str = ""
    content: Any = None
    cache_control: CacheControl | None = None


class WebFetchResultBlock(_ServerHistory, tag="web_fetch_tool_result"):
    pass


class ToolSearchResultBlock(_ServerHistory, tag="tool_search_tool_result"):
    pass


class CodeExecutionResultBlock(_ServerHistory, tag="code_execution_tool_result"):
    pass


class BashExecutionResultBlock(_ServerHistory, tag="bash_code_execution_tool_result"):
    pass


class EditorExecutionResultBlock(_ServerHistory, tag="text_editor_code_execution_tool_result"):
    pass


class MCPToolResultBlock(_ServerHistory, tag="mcp_tool_result"):
    pass


class MCPToolUseBlock(_ServerHistory, tag="mcp_tool_use"):
    pass


class ContainerUploadBlock(_ServerHistory, tag="container_upload"):
    pass


SERVER_HISTORY = (ServerToolUseBlock, WebSearchResultBlock, _ServerHistory)


class ToolReferenceBlock(msgspec.Struct, tag_field="type", tag="tool_reference"):
    """In a tool_result (tool search): a deferred tool the search found. Only Anthropic loads tools so."""

    tool_name: str = ""
    cache_control: CacheControl | None = None


class ToolAdditionBlock(msgspec.Struct, tag_field="type", tag="tool_addition"):
    """In a mid-conversation system message (beta): offer a tool from here on. Only Anthropic does this."""

    tool: Any = None
    cache_control: CacheControl | None = None


class ToolRemovalBlock(msgspec.Struct, tag_field="type", tag="tool_removal"):
    tool: Any = None
    cache_control: CacheControl | None = None


ContentBlock = (
    TextBlock
    | ImageBlock
    | DocumentBlock
    | ToolUseBlock
    | ToolResultBlock
    | ThinkingBlock
    | RedactedThinkingBlock
    | ServerToolUseBlock
    | WebSearchResultBlock
    | ToolAdditionBlock
    | ToolRemovalBlock
    | SearchResultBlock
    | CompactionBlock
    | WebFetchResultBlock
    | ToolSearchResultBlock
    | CodeExecutionResultBlock
    | BashExecutionResultBlock
    | EditorExecutionResultBlock
    | MCPToolResultBlock
    | MCPToolUseBlock
    | ContainerUploadBlock
)


class MessageParam(msgspec.Struct):
    # "system": a mid-conversation system message (GA, right after a user turn); `clear_at` and
    # `output_config` are beta fields of those, and one with only `output_config` may have no content.
    role: Literal["user", "assistant", "system"]
    content: str | list[ContentBlock] | None = None
    clear_at: Literal["next_user_message", "never"] | None = None
    output_config: Any = None


# ---------------------------------------------------------------------------------------------- tools


class ToolDef(msgspec.Struct):
    name: str
    description: str | None = None
    input_schema: dict[str, Any] | None = None
    # Server / built-in tools carry a versioned type (web_search_20250305, bash_20250124 ...).
    type: str | None = None
    cache_control: CacheControl | None = None
    strict: bool | None = None
    # Tool search, examples, streaming and programmatic calling: only Anthropic has them (counted as dropped).
    defer_loading: bool | None = None
    input_examples: Any = None
    eager_input_streaming: bool | None = None
    allowed_callers: Any = None


class ToolChoiceParam(msgspec.Struct):
    type: Literal["auto", "any", "tool", "none"]
    name: str | None = None
    disable_parallel_tool_use: bool | None = None


class ThinkingParam(msgspec.Struct):
    type: Literal["enabled", "disabled", "adaptive"]
    budget_tokens: int | None = None
    display: str | None = None


class Metadata(msgspec.Struct):
    user_id: str | None = None


class OutputFormat(msgspec.Struct):
    type: str
    schema: dict[str, Any] | None = None


class OutputConfig(msgspec.Struct):
    effort: str | None = None
    format: OutputFormat | None = None
    task_budget: Any = None  # beta


class MessagesRequest(msgspec.Struct):
    model: str
    max_tokens: int
    messages: list[MessageParam]
    system: str | list[TextBlock] | None = None
    stop_sequences: list[str] | None = None
    temperature: float | None = None
    top_p: float | None = None
    top_k: int | None = None
    stream: bool | None = False
    metadata: Metadata | None = None
    tools: list[ToolDef] | None = None
    tool_choice: ToolChoiceParam | None = None
    thinking: ThinkingParam | None = None
    output_config: OutputConfig | None = None
    service_tier: str | None = None
    # Fields only Anthropic has: accepted, and counted as dropped on the translated lane (unified.fields).
    cache_control: CacheControl | None = None  # automatic caching: a breakpoint on the last block
    context_management: Any = None
    container: Any = None
    mcp_servers: Any = None
    inference_geo: Any = None
    speed: Any = None


class CountTokensRequest(msgspec.Struct):
    model: str
    messages: list[MessageParam]
    system: str | list[TextBlock] | None = None
    tools: list[ToolDef] | None = None
    tool_choice: ToolChoiceParam | None = None
    thinking: ThinkingParam | None = None
    output_config: OutputConfig | None = None
