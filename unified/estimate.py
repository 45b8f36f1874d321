"""A token estimate for upstreams that cannot count: ceil(chars / 4) over every text, thinking text, tool
call, tool result and tool definition (name, description, JSON schema), plus a flat count per image or
document that each API documents differently (the caller passes its own)."""

from __future__ import annotations

import math

import msgspec

from unified.types import DocumentPart, Request, TextPart, ThinkingPart, ToolCallPart, ToolResultPart

_encode = msgspec.json.Encoder().encode


def estimate_tokens(req: Request, media_tokens: int, text_documents: bool = False) -> int:
    """`text_documents`: a base64 `text/*` document counts by its characters instead of as media."""
    chars = 0
    media = 0
    for m in req.messages:
        for p in m.content:
            if isinstance(p, TextPart | ThinkingPart):
                chars += len(p.text)
            elif isinstance(p, ToolCallPart):
                chars += len(p.name) + len(p.arguments)
            elif isinstance(p, ToolResultPart):
                for c in p.content:
                    if isinstance(c, TextPart):
                        chars += len(c.text)
                    else:
                        media += 1
            elif text_documents and isinstance(p, DocumentPart) and p.media_type.startswith("text/"):
                chars += len(p.data) * 3 // 4  # base64 of the text
            else:
                media += 1
    for t in req.tools or []:
        chars += len(t.name) + len(t.description or "") + len(_encode(t.parameters or {}))
    return math.ceil(chars / 4) + media_tokens * media
