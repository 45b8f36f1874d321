"""The scripted agent turn the fakes play for model `script` (Codex CLI, gemini-cli and Claude Code end-to-end
tests): the first turn calls the client's shell tool to run the command the user wrote in backticks (or
Claude Code's Read tool on the file path in backticks); once the tool's output comes
back, the answer quotes it. So a test sees the tool really ran on the client and its output made the round
trip through the gateway. Every fake upstream uses this one plan, in its own wire format."""

from __future__ import annotations

import json
import re
from typing import Any

SCRIPT_MODEL = "script"
ANSWER_PREFIX = "The command printed: "
_COMMAND = re.compile(r"`([^`]+)`")


def command_in(text: str) -> str:
    """The last `command` in the text: the prompt comes after any context a client puts first."""
    found = _COMMAND.findall(text)
    return found[-1] if found else "echo hello"


def shell_call(tool_names: list[str], user_text: str) -> tuple[str, dict[str, Any]]:
    """(tool name, arguments) for running the user's command with whichever shell tool the client offers;
    Codex's tool set differs by version and model, so the known shapes are tried in turn."""
    cmd = command_in(user_text)
    if "Read" in tool_names:  # Claude Code: its prompt names a file in backticks, the Read tool opens it
        return "Read", {"file_path": cmd}
    for name, args in (
        ("exec_command", {"cmd": cmd}),
        ("shell_command", {"command": cmd}),
        ("shell", {"command": ["bash", "-lc", cmd]}),
        ("run_shell_command", {"command": cmd}),  # gemini-cli
    ):
        if name in tool_names:
            return name, args
    return (tool_names[0] if tool_names else "shell"), {"command": cmd}


def tool_names(tools: list[dict[str, Any]]) -> list[str]:
    """Function names from chat-style ({"function": {"name"}}) or flat ({"name"}) tool lists."""
    return [str((t.get("function") or t).get("name")) for t in tools]


def shell_call_json(tool_names: list[str], user_text: str) -> tuple[str, str]:
    name, args = shell_call(tool_names, user_text)
    return name, json.dumps(args)


def answer(tool_output: str) -> str:
    return ANSWER_PREFIX + tool_output.strip()[:2000]
