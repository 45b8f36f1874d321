"""Responses request -> unified request: instructions, input items (messages, tool calls and their outputs,
reasoning), tools, tool_choice, reasoning, text.format."""

from __future__ import annotations

import base64
import binascii
import logging
from typing import Any

import msgspec

from dialects.responses import schema as wire
from dialects.responses.tools import ToolMap, custom_arguments, flat_name, tool_choice_in, tools_in
from unified import fields
from unified.errors import invalid
from unified.media import image_from_url
from unified.types import (
    DocumentPart,
    ImagePart,
    Message,
    Part,
    Reasoning,
    Request,
    ResponseFormat,
    TextPart,
    ThinkingPart,
    ToolCallPart,
    ToolResultPart,
)

log = logging.getLogger("llm_link")

# Our own reasoning envelope: an upstream's thinking text and replay signature (Anthropic) carried in a
# reasoning item's `encrypted_content`, so a stateless client (Codex) hands them back on the next turn.
ENVELOPE = "llmlink.r1."
_envelope_decoder = msgspec.json.Decoder(dict[str, str])
# Input items that record hosted tool calls: no other upstream can replay them, so they are skipped.
_SKIPPED = frozenset(
    {
        "compaction",
        "compaction_trigger",
        "web_search_call",
        "file_search_call",
        "computer_call",
        "computer_call_output",
        "image_generation_call",
        "code_interpreter_call",
        "local_shell_call",
        "local_shell_call_output",
        "shell_call",
        "shell_call_output",
        "apply_patch_call",
        "apply_patch_call_output",
        "mcp_list_tools",
        "mcp_call",
        "mcp_approval_request",
        "mcp_approval_response",
        "tool_search_call",
        "tool_search_output",
    }
)


def seal(part: ThinkingPart) -> str | None:
    """The encrypted_content for a reasoning item: the upstream's own blob, or our envelope when the
    upstream needs its signature back; None when there is nothing to replay."""
    if part.encrypted:
        return part.encrypted
    if not part.signature and not part.redacted:
        return None
    fields = {"t": part.text}
    if part.signature:
        fields["s"] = part.signature
    if part.redacted:
        fields["r"] = part.redacted
    return ENVELOPE + base64.urlsafe_b64encode(msgspec.json.encode(fields)).decode()


def _unseal(blob: str, text: str) -> ThinkingPart:
    if blob.startswith(ENVELOPE):
        try:
            fields = _envelope_decoder.decode(base64.urlsafe_b64decode(blob[len(ENVELOPE) :]))
            return ThinkingPart(text=fields.get("t", text), signature=fields.get("s"), redacted=fields.get("r"))
        except (binascii.Error, ValueError, msgspec.DecodeError):
            pass  # not ours after all: pass it on as an opaque blob
    return ThinkingPart(text=text, encrypted=blob)


def _content(content: str | list[wire.ContentPart] | None, where: str, role: str) -> list[Part]:
    if content is None:
        return []
    if isinstance(content, str):
        return [TextPart(text=content)] if content else []
    out: list[Part] = []
    for i, p in enumerate(content):
        at = f"{where}[{i}]"
        kind = p.type
        if kind in ("input_text", "output_text", "text", "summary_text", "reasoning_text"):
            if p.text:
                out.append(TextPart(text=p.text))
        elif kind == "refusal":
            if p.refusal:
                out.append(TextPart(text=p.refusal))
        elif kind == "input_image" and role != "assistant":
            if not p.image_url:
                raise invalid(f"{at}.image_url: required (file_id images need the Files API, not served here)", at)
            out.append(image_from_url(p.image_url, f"{at}.image_url"))
        elif kind == "input_file" and role != "assistant":
            data = p.file_data
            if not data:
                raise invalid(f"{at}: only inline file_data is supported (no file_id / file_url)", at)
            mime = "application/pdf"
            if data.startswith("data:"):
                header, _, data = data.partition(",")
                mime = header[5:].split(";", 1)[0] or mime
            out.append(DocumentPart(data=data, media_type=mime, title=p.filename))
        else:
            raise invalid(f"{at}.type: {kind!r} is not supported in a {role} message", f"{at}.type")
    return out


def _result_content(output: str | list[wire.ContentPart] | None, where: str) -> list[TextPart | ImagePart]:
    parts = _content(output, where, "user")
    out: list[TextPart | ImagePart] = []
    for p in parts:
        if isinstance(p, TextPart | ImagePart):
            out.append(p)
        else:  # a file in a tool output: no target takes documents inside tool results
            raise invalid(f"{where}: files are not supported in tool outputs", where)
    return out


def _assistant(messages: list[Message]) -> list[Part]:
    """The open assistant turn to add to: reasoning, text and calls of one turn share one message."""
    if messages and messages[-1].role == "assistant":
        return messages[-1].content
    msg = Message(role="assistant", content=[])
    messages.append(msg)
    return msg.content


def _results(messages: list[Message]) -> list[Part]:
    last = messages[-1] if messages else None
    if last is not None and last.role == "user" and last.content and isinstance(last.content[-1], ToolResultPart):
        return last.content
    msg = Message(role="user", content=[])
    messages.append(msg)
    return msg.content


NO_ITEMS = (
    "this gateway keeps no items (no `responses.store`); send the items themselves (clients that default to "
    "references, like the Vercel AI SDK, take `store: false`)"
)


def references(items: str | list[wire.InputItem] | None) -> list[str]:
    """Ids of the stored items the input refers to (`item_reference`), to fetch before decoding."""
    if items is None or isinstance(items, str):
        return []
    return [item.id for item in items if item.type == "item_reference" and item.id]


def items_in(
    items: str | list[wire.InputItem] | None,
    messages: list[Message],
    refs: dict[str, wire.InputItem] | None = None,
) -> None:
    """Input items into `messages`; `refs` holds the stored items that `item_reference`s name."""
    if items is None:
        return
    if isinstance(items, str):
        messages.append(Message(role="user", content=[TextPart(text=items)]))
        return
    skipped_calls: set[str] = set()
    for i, item in enumerate(items):
        where = f"input[{i}]"
        if item.type == "item_reference":
            found = refs.get(item.id or "") if refs is not None else None
            if found is None:
                detail = NO_ITEMS if refs is None else "no stored item has this id (or it expired)"
                raise invalid(f"{where}: item_reference {(item.id or '')[:100]!r}: {detail}", where)
            item = found
        kind = item.type
        if kind == "message":
            role = item.role
            if role in ("system", "developer"):
                messages.append(Message(role="system", content=_content(item.content, f"{where}.content", "system")))
            elif role == "user":
                messages.append(Message(role="user", content=_content(item.content, f"{where}.content", "user")))
            elif role == "assistant":
                _assistant(messages).extend(_content(item.content, f"{where}.content", "assistant"))
            else:
                raise invalid(f"{where}.role: expected user, assistant, system or developer", f"{where}.role")
        elif kind == "function_call":
            if not item.call_id or not item.name:
                raise invalid(f"{where}: function_call needs call_id and name", where)
            name = flat_name(item.namespace, item.name)
            _assistant(messages).append(ToolCallPart(id=item.call_id, name=name, arguments=item.arguments or "{}"))
        elif kind == "custom_tool_call":
            if not item.call_id or not item.name:
                raise invalid(f"{where}: custom_tool_call needs call_id and name", where)
            name = flat_name(item.namespace, item.name)
            _assistant(messages).append(
                ToolCallPart(id=item.call_id, name=name, arguments=custom_arguments(item.input or ""))
            )
        elif kind in ("function_call_output", "custom_tool_call_output"):
            if not item.call_id:
                raise invalid(f"{where}.call_id: required", f"{where}.call_id")
            if item.call_id in skipped_calls:
                continue
            content = _result_content(item.output, f"{where}.output")
            _results(messages).append(ToolResultPart(tool_call_id=item.call_id, content=content))
        elif kind == "reasoning":
            text = "\n\n".join(p.text for p in (item.summary or []) if p.text)
            if not text and isinstance(item.content, list):
                text = "".join(p.text for p in item.content if p.text)
            part = _unseal(item.encrypted_content, text) if item.encrypted_content else ThinkingPart(text=text)
            if part.text or part.signature or part.redacted or part.encrypted:
                _assistant(messages).append(part)
        elif kind in _SKIPPED:
            if item.call_id:
                skipped_calls.add(item.call_id)
            log.debug("responses: skipped a %s input item", kind)
        else:
            raise invalid(f"{where}.type: unknown input item type {kind!r}", f"{where}.type")


ENCRYPTED_INCLUDE = "reasoning.encrypted_content"  # `include` value: reasoning the next turn sends back
# Fields Chat Completions has too, under the same names: extras any OpenAI-type upstream sends on (and
# counted as dropped elsewhere). `text.verbosity` is chat's `verbosity`; `top_logprobs` needs `logprobs` there.
_SHARED = ("prompt_cache_key", "prompt_cache_retention", "service_tier", "top_logprobs")
# Fields only a Responses upstream takes, passed as "responses:<field>" extras (other providers skip them).
# `metadata` too: chat's needs `store: true` at OpenAI (unified.fields.RESPONSES_METADATA).
_OWN = ("include", "truncation", "max_tool_calls", "metadata")
# Values that ask for nothing (the API's defaults): not sent on, not counted.
_ASK_NOTHING = {"service_tier": ("auto", "default"), "truncation": ("disabled",)}


def _extras(body: wire.ResponsesRequest) -> tuple[dict[str, Any] | None, tuple[str, ...]]:
    """The client's fields only some upstreams take, as extras, and their unified.fields names for the
    dropped-fields count (values that ask for nothing are not counted)."""
    out: dict[str, Any] = {}
    names: tuple[str, ...] = ()
    for k in _SHARED:
        v = getattr(body, k)
        if v is None or v == {} or v == 0 or v in _ASK_NOTHING.get(k, ()):
            continue
        out[k] = v
        names += (k,)
    if "top_logprobs" in out:
        out["logprobs"] = True  # chat refuses top_logprobs without it
    for k in _OWN:
        v = getattr(body, k)
        if v is None:
            continue
        out[f"responses:{k}"] = v
        if k == "include":  # encrypted reasoning is the gateway's own (codec_out); other items are not
            if any(i != ENCRYPTED_INCLUDE for i in v):
                names += (k,)
        elif k == "metadata":
            if v:
                names += (fields.RESPONSES_METADATA,)
        elif v not in _ASK_NOTHING.get(k, ()):
            names += (k,)
    if body.text is not None and body.text.verbosity is not None:
        out["verbosity"] = body.text.verbosity
        if body.text.verbosity != "medium":  # the default
            names += (fields.VERBOSITY,)
    return out or None, names


def _grammar(tools: list[Any] | None) -> tuple[str, ...]:
    """`tools.custom` when a custom tool has a grammar only an `api: responses` upstream enforces."""
    if tools and any(t.custom is not None and t.custom.get("type") == "grammar" for t in tools):
        return (fields.TOOLS_CUSTOM,)
    return ()


def _hosted_fields(hosted: list[dict[str, Any]]) -> tuple[str, ...]:
    """One unified.fields name per hosted tool: `tools.<type>`, or `tools.other` for a type we do not know."""
    if not hosted:
        return ()
    return tuple(
        f"tools.{t.get('type')}" if t.get("type") in fields.RESPONSES_HOSTED else "tools.other" for t in hosted
    )


def to_unified(
    body: wire.ResponsesRequest,
    history: list[Message] | None = None,
    refs: dict[str, wire.InputItem] | None = None,
) -> tuple[Request, ToolMap, str | None]:
    """The unified request, the tool map for the answer, and a hosted tool type `tool_choice` forces."""
    if body.conversation is not None:
        raise invalid("conversation: conversations are not supported by this gateway", "conversation")
    if body.background:
        raise invalid("background: background responses are not supported by this gateway", "background")
    messages: list[Message] = []
    if body.instructions:
        messages.append(Message(role="system", content=[TextPart(text=body.instructions)]))
    if history:
        messages.extend(history)
    items_in(body.input, messages, refs)
    if not any(m.role != "system" for m in messages):
        raise invalid("input: must contain at least one item", "input")

    tmap = ToolMap()
    tools = tools_in(body.tools, tmap)
    tool_choice, forced_hosted = tool_choice_in(body.tool_choice, body.parallel_tool_calls, tmap)

    reasoning = None
    r = body.reasoning
    if r is not None and (r.effort or r.summary or r.generate_summary):
        reasoning = Reasoning(enabled=r.effort != "none", effort=r.effort, summary=r.summary or r.generate_summary)

    response_format = None
    fmt = body.text.format if body.text is not None else None
    if fmt is not None and fmt.type != "text":
        if fmt.type not in ("json_schema", "json_object"):
            raise invalid("text.format.type: expected text, json_object or json_schema", "text.format.type")
        if fmt.type == "json_schema" and fmt.schema is None:
            raise invalid("text.format.schema: required for json_schema", "text.format.schema")
        response_format = ResponseFormat(type=fmt.type, schema=fmt.schema, name=fmt.name, strict=fmt.strict)  # type: ignore[arg-type]

    if body.max_output_tokens is not None and body.max_output_tokens < 1:
        raise invalid("max_output_tokens: must be at least 1", "max_output_tokens")
    extra, droppable = _extras(body)
    req = Request(
        model=body.model,
        messages=messages,
        stream=bool(body.stream),
        tools=tools,
        tool_choice=tool_choice,
        max_tokens=body.max_output_tokens,
        temperature=body.temperature,
        top_p=body.top_p,
        response_format=response_format,
        reasoning=reasoning,
        user=body.safety_identifier or body.user,
        hosted_tools=tmap.hosted or None,
        droppable=_hosted_fields(tmap.hosted) + droppable + _grammar(tools),
        extra=extra,
    )
    return req, tmap, forced_hosted
