"""Assistant thinking sent back to OpenAI-compatible upstreams as `reasoning_content` (`options.reasoning_content`).

Thinking models on some compatible APIs must see their own reasoning again in a tool loop: DeepSeek answers
400 ("The reasoning_content in the thinking mode must be passed back to the API") when an assistant turn
that called tools comes back without it, Moonshot Kimi the same ("reasoning_content is missing in assistant
tool call message"); GLM and Qwen keep reasoning across tool calls when given it. Other servers either do not
know the field (api.openai.com) or read a different one (vLLM reads `reasoning`), so elsewhere it is dropped.

`echo` follows DeepSeek's documented rule, which covers the others: between two user messages in which the
model called a tool, every assistant message carries its reasoning; the stretch after the last user message
(the tool loop in progress) always does. Reasoning of earlier turns without tool calls is left out (DeepSeek
and Qwen ignore it). An assistant message whose thinking the client did not send back has none to echo.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from unified.types import Message, ThinkingPart, ToolCallPart, ToolResultPart

MODES = ("echo", "drop")
# Hosts whose thinking models need (or use) their reasoning back on tool turns.
ECHO_HOSTS = (
    "api.deepseek.com",
    "api.moonshot.ai",
    "api.moonshot.cn",
    "api.kimi.com",
    "open.bigmodel.cn",
    "api.z.ai",
)


def default_mode(base_url: str) -> str:
    """`echo` for a provider at a host known to want reasoning back (DeepSeek, Moonshot/Kimi, Zhipu GLM,
    DashScope), else `drop`."""
    host = (urlsplit(base_url).hostname or "").lower()
    if any(host == h or host.endswith("." + h) for h in ECHO_HOSTS):
        return "echo"
    if host.endswith(".aliyuncs.com") and "dashscope" in host:
        return "echo"
    return "drop"


def resolve(mode: str | None, legacy: bool | None, base_url: str, type_default: str | None = None) -> str:
    """The effective mode: the option, else the deprecated `send_reasoning_content` (true = echo, false =
    drop), else the provider type's default, else the host's."""
    if mode is not None:
        return mode
    if legacy is not None:
        return "echo" if legacy else "drop"
    return type_default or default_mode(base_url)


def _user_turn(m: Message) -> bool:
    """A user message as the upstream sees it: one that is more than tool results."""
    return m.role == "user" and any(not isinstance(p, ToolResultPart) for p in m.content)


def echoed(messages: list[Message]) -> set[int]:
    """Indices of the assistant messages whose thinking goes back under `echo`."""
    out: set[int] = set()
    stretch: list[int] = []
    called = False
    for i, m in enumerate(messages):
        if _user_turn(m):
            if called:
                out.update(stretch)
            stretch, called = [], False
        elif m.role == "assistant":
            stretch.append(i)
            called = called or any(isinstance(p, ToolCallPart) for p in m.content)
    out.update(stretch)  # the turn still in progress
    return out


def thinking_text(m: Message) -> str:
    return "".join(p.text for p in m.content if isinstance(p, ThinkingPart))
