"""Gemini `contents` (user/model turns of parts) -> unified messages: inline and file data, function calls
and their responses paired by id or, without ids, by name and order."""

from __future__ import annotations

import msgspec

from dialects.gemini import schema as wire
from dialects.gemini.schema import pick
from unified.errors import invalid
from unified.types import (
    DocumentPart,
    ImagePart,
    Message,
    Part,
    TextPart,
    ThinkingPart,
    ToolCallPart,
    ToolResultPart,
)

_encode = msgspec.json.encode

_ROLES = {"user": "user", "model": "assistant", "function": "user", "tool": "user", None: "user", "": "user"}
# Keys under which a tool's answer is commonly wrapped (`{"output": "..."}` from gemini-cli, `{"result": ...}`
# from the SDKs' automatic function calling): unwrapped to plain text for targets that take text results.
_RESULT_KEYS = ("output", "result", "content", "text")


def standard_base64(data: str) -> str:
    """Google takes bytes in either base64 alphabet and the Python SDK sends the URL-safe one; every other
    API wants the standard one, padded."""
    if "-" in data or "_" in data:
        data = data.replace("-", "+").replace("_", "/")
    if len(data) % 4:
        data += "=" * (-len(data) % 4)
    return data


def _blob_part(blob: wire.Blob, where: str) -> Part:
    mime = (pick(blob.mimeType, blob.mime_type) or "").lower()
    if not blob.data:
        raise invalid(f"{where}.data: Field required", f"{where}.data")
    data = standard_base64(blob.data)
    if mime.startswith("image/"):
        return ImagePart(data=data, media_type=mime)
    if mime == "application/pdf" or mime.startswith("text/"):
        return DocumentPart(data=data, media_type=mime)
    raise invalid(
        f"{where}.mimeType: {mime or 'a missing MIME type'} is not supported by this gateway (images, PDF and text only)",
        f"{where}.mimeType",
    )


def _file_part(fd: wire.FileData, where: str) -> Part:
    uri = pick(fd.fileUri, fd.file_uri)
    mime = (pick(fd.mimeType, fd.mime_type) or "").lower()
    if not uri:
        raise invalid(f"{where}.fileUri: Field required", f"{where}.fileUri")
    if mime and not mime.startswith("image/"):
        raise invalid(f"{where}: only image files can be referenced by URI through this gateway", where)
    return ImagePart(url=uri, media_type=mime or None)


def _result(fr: wire.FunctionResponse, call_id: str, where: str) -> ToolResultPart:
    response = fr.response or {}
    text: str
    is_error = False
    if len(response) == 1:
        ((key, value),) = response.items()
        if key == "error":
            is_error = True
        if isinstance(value, str) and (key in _RESULT_KEYS or key == "error"):
            text = value
        else:
            text = _encode(value if key == "error" else response).decode()
    else:
        text = _encode(response).decode() if response else ""
    content: list[TextPart | ImagePart] = [TextPart(text=text)] if text else []
    for j, p in enumerate(fr.parts or []):
        blob = pick(p.inlineData, p.inline_data)
        if blob is not None:
            part = _blob_part(blob, f"{where}.parts[{j}].inlineData")
            if isinstance(part, ImagePart):
                content.append(part)
    return ToolResultPart(tool_call_id=call_id, content=content, is_error=is_error, name=fr.name)


class _Pairing:
    """Tool-call ids across the turns of one request: given, or made up and matched by name."""

    def __init__(self) -> None:
        self.open: list[tuple[str, str]] = []  # (name, id) of calls not answered yet, oldest first
        self.made = 0

    def call(self, fc: wire.FunctionCall) -> str:
        call_id = fc.id
        if not call_id:
            self.made += 1
            call_id = f"call_gemini_{self.made}"
        self.open.append((fc.name, call_id))
        return call_id

    def answer(self, fr: wire.FunctionResponse) -> str:
        for i, (name, call_id) in enumerate(self.open):
            if (fr.id and call_id == fr.id) or (not fr.id and name == fr.name):
                del self.open[i]
                return call_id
        if fr.id:
            return fr.id
        self.made += 1
        return f"call_gemini_{self.made}"


def _parts(content: wire.Content, where: str, role: str, pairing: _Pairing) -> list[Part]:
    out: list[Part] = []
    for j, p in enumerate(content.parts):
        at = f"{where}.parts[{j}]"
        fc = pick(p.functionCall, p.function_call)
        fr = pick(p.functionResponse, p.function_response)
        blob = pick(p.inlineData, p.inline_data)
        fd = pick(p.fileData, p.file_data)
        if fc is not None:
            if role != "assistant":
                raise invalid(f"{at}.functionCall: function calls belong in `model` turns", f"{at}.functionCall")
            out.append(ToolCallPart(id=pairing.call(fc), name=fc.name, arguments=_encode(fc.args or {}).decode()))
        elif fr is not None:
            out.append(_result(fr, pairing.answer(fr), at + ".functionResponse"))
        elif blob is not None:
            out.append(_blob_part(blob, at + ".inlineData"))
        elif fd is not None:
            out.append(_file_part(fd, at + ".fileData"))
        elif p.thought:
            if role == "assistant":
                sig = pick(p.thoughtSignature, p.thought_signature)
                last = out[-1] if out else None
                if isinstance(last, ThinkingPart) and last.signature is None and not last.redacted:
                    # A streamed thought comes back as several parts, its signature on the last one:
                    # one block again, so an upstream that checks signatures sees text and signature together.
                    out[-1] = ThinkingPart(text=last.text + (p.text or ""), signature=sig)
                else:
                    out.append(ThinkingPart(text=p.text or "", signature=sig))
        elif p.text:
            out.append(TextPart(text=p.text))
        # executableCode, codeExecutionResult, videoMetadata ...: produced and consumed inside Google only
    return out


def messages_of(body: wire.GenerateContentRequest) -> list[Message]:
    out: list[Message] = []
    system = pick(body.systemInstruction, body.system_instruction)
    if system is not None:
        texts: list[Part] = [TextPart(text=p.text) for p in system.parts if p.text and not p.thought]
        if texts:
            out.append(Message(role="system", content=texts))
    pairing = _Pairing()
    for i, c in enumerate(body.contents):
        where = f"contents[{i}]"
        role = _ROLES.get(c.role)
        if role is None:
            raise invalid(f"{where}.role: Please use a valid role: user, model.", f"{where}.role")
        parts = _parts(c, where, role, pairing)
        if parts:
            out.append(Message(role=role, content=parts))  # type: ignore[arg-type]
    return out
