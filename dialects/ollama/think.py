"""Reasoning written inline as <think>...</think> text (DeepSeek-R1, Qwen3 on Ollama) split from the answer,
whether it arrives whole or cut across stream chunks."""

from __future__ import annotations


class ThinkSplitter:
    """Some upstreams put reasoning inline as `<think>…</think>` at the start of the text. This moves it to
    Ollama's `thinking` field, chunk by chunk (tags may be cut across chunks), and keeps every character of
    the answer, whitespace included."""

    __slots__ = ("buf", "state")

    def __init__(self) -> None:
        self.state = 0  # 0 = undecided, 1 = inside <think>, 2 = plain text
        self.buf = ""

    def feed(self, text: str) -> list[tuple[bool, str]]:
        if self.state == 2:
            return [(False, text)]
        self.buf += text
        if self.state == 0:
            head = self.buf.lstrip()
            if not head or (len(head) < 7 and "<think>".startswith(head)):
                return []
            if not head.startswith("<think>"):
                self.state = 2
                out, self.buf = self.buf, ""
                return [(False, out)]
            self.state = 1
            self.buf = head[7:]
        end = self.buf.find("</think>")
        if end >= 0:
            thinking, rest = self.buf[:end], self.buf[end + 8 :]
            self.state, self.buf = 2, ""
            parts = [(True, thinking)] if thinking else []
            return [*parts, (False, rest)] if rest else parts
        keep = 0
        for n in range(min(7, len(self.buf)), 0, -1):  # a partial closing tag stays buffered
            if "</think>".startswith(self.buf[-n:]):
                keep = n
                break
        ready, self.buf = self.buf[: len(self.buf) - keep], self.buf[len(self.buf) - keep :]
        return [(True, ready)] if ready else []

    def flush(self) -> list[tuple[bool, str]]:
        out, self.buf = self.buf, ""
        if not out:
            return []
        return [(self.state == 1, out)]


def split_think(text: str) -> tuple[str, str]:
    s = ThinkSplitter()
    pieces = s.feed(text) + s.flush()
    return "".join(t for th, t in pieces if th), "".join(t for th, t in pieces if not th)
