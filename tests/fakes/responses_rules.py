"""What the real OpenAI Responses API refuses, for the fake in responses_upstream.py: unknown parameters,
chat-style fields, wrong content-part types per role, malformed items, unpaired function calls and outputs,
reasoning items it cannot verify, non-strict schemas under the default `strict: true`, a forced tool that
is not offered. Each check raises Invalid with the API's own message and `param`."""

from __future__ import annotations

from typing import Any

ENCRYPTED_PREFIX = "gAAAAfake-"  # our "encrypted" reasoning content; anything else cannot be verified

KNOWN_PARAMS = {
    "background",
    "context_management",
    "conversation",
    "include",
    "input",
    "instructions",
    "max_output_tokens",
    "max_tool_calls",
    "metadata",
    "model",
    "parallel_tool_calls",
    "previous_response_id",
    "prompt",
    "prompt_cache_key",
    "prompt_cache_retention",
    "reasoning",
    "safety_identifier",
    "service_tier",
    "store",
    "stream",
    "stream_options",
    "temperature",
    "text",
    "tool_choice",
    "tools",
    "top_logprobs",
    "top_p",
    "truncation",
    "user",
    "client_metadata",
}
INCLUDABLE = {
    "reasoning.encrypted_content",
    "message.output_text.logprobs",
    "message.input_image.image_url",
    "computer_call_output.output.image_url",
    "file_search_call.results",
    "web_search_call.action.sources",
    "web_search_call.results",
    "code_interpreter_call.outputs",
}
HOSTED_TOOLS = {
    "web_search",
    "web_search_preview",
    "file_search",
    "local_shell",
    "shell",
    "apply_patch",
    "code_interpreter",
    "image_generation",
    "mcp",
    "computer_use_preview",
    "tool_search",
}
_USER_PARTS = {"input_text", "input_image", "input_file"}
_ASSISTANT_PARTS = {"output_text", "refusal"}
_ID_PREFIX = {"message": "msg", "function_call": "fc", "reasoning": "rs", "custom_tool_call": "ctc"}


class Invalid(Exception):
    def __init__(self, message: str, param: str | None = None, code: str | None = None, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        self.code = code
        self.status = status


def validate(body: Any) -> None:
    if not isinstance(body, dict):
        raise Invalid("Invalid type for request body: expected an object.")
    for key in body:
        if key not in KNOWN_PARAMS:
            raise Invalid(f"Unknown parameter: '{key}'.", key, "unknown_parameter")
    if not isinstance(body.get("model"), str) or not body["model"]:
        raise Invalid("Missing required parameter: 'model'.", "model", "missing_required_parameter")
    mot = body.get("max_output_tokens")
    if mot is not None and (not isinstance(mot, int) or mot < 16):
        raise Invalid(
            f"Invalid 'max_output_tokens': integer below minimum value. Expected a value >= 16, but got {mot} instead.",
            "max_output_tokens",
            "integer_below_min_value",
        )
    temperature = body.get("temperature")
    if temperature is not None and not (isinstance(temperature, int | float) and 0 <= temperature <= 2):
        raise Invalid("Invalid 'temperature': decimal above maximum value.", "temperature", "decimal_above_max_value")
    for inc in body.get("include") or []:
        if inc not in INCLUDABLE:
            raise Invalid(f"Invalid value: '{inc}'.", "include", "invalid_value")
    _check_input(body.get("input"), body.get("store", True) is not False)
    names = _check_tools(body.get("tools"))
    _check_tool_choice(body.get("tool_choice"), names)
    fmt = (body.get("text") or {}).get("format")
    if isinstance(fmt, dict) and fmt.get("type") == "json_schema":
        if not fmt.get("name"):
            raise Invalid("Missing required parameter: 'text.format.name'.", "text.format.name")
        if not isinstance(fmt.get("schema"), dict):
            raise Invalid("Missing required parameter: 'text.format.schema'.", "text.format.schema")


def _check_input(items: Any, stored: bool) -> None:
    if items is None:
        return  # a prompt or previous_response_id may stand in
    if isinstance(items, str):
        return
    if not isinstance(items, list):
        raise Invalid("Invalid type for 'input': expected one of a string or array of input items.", "input")
    calls: dict[str, int] = {}
    answered: set[str] = set()
    for i, item in enumerate(items):
        where = f"input[{i}]"
        if not isinstance(item, dict):
            raise Invalid(f"Invalid type for '{where}': expected an object.", where)
        kind = item.get("type", "message" if "role" in item else None)
        prefix = _ID_PREFIX.get(str(kind))
        if prefix and "id" in item and not str(item["id"]).startswith(prefix):
            raise Invalid(
                f"Invalid '{where}.id': '{item['id']}'. Expected an ID that begins with '{prefix}'.", f"{where}.id"
            )
        if kind == "message":
            _check_message(item, where)
        elif kind in ("function_call", "custom_tool_call"):
            field = "arguments" if kind == "function_call" else "input"
            for key in ("call_id", "name", field):
                if not isinstance(item.get(key), str):
                    raise Invalid(f"Missing required parameter: '{where}.{key}'.", f"{where}.{key}")
            calls[item["call_id"]] = i
        elif kind in ("function_call_output", "custom_tool_call_output"):
            call_id = item.get("call_id")
            if not isinstance(call_id, str):
                raise Invalid(f"Missing required parameter: '{where}.call_id'.", f"{where}.call_id")
            if call_id not in calls:
                raise Invalid(f"No tool call found for function call output with call_id {call_id}.", "input")
            output = item.get("output")
            if not isinstance(output, str | list):
                raise Invalid(f"Missing required parameter: '{where}.output'.", f"{where}.output")
            answered.add(call_id)
        elif kind == "reasoning":
            if not isinstance(item.get("summary"), list):
                raise Invalid(f"Missing required parameter: '{where}.summary'.", f"{where}.summary")
            enc = item.get("encrypted_content")
            if enc is None and not stored:
                raise Invalid(
                    f"Item with id '{item.get('id')}' not found. Items are not persisted when `store` is set to "
                    "false. Try again with `store` set to true, or remove this item from your input.",
                    "input",
                )
            if enc is not None and not str(enc).startswith(ENCRYPTED_PREFIX):
                raise Invalid(
                    f"The encrypted content for item {item.get('id')} could not be verified.",
                    None,
                    "invalid_encrypted_content",
                )
        elif kind in ("item_reference", "compaction", "local_shell_call", "local_shell_call_output"):
            pass
        else:
            raise Invalid(f"Invalid value: '{kind}'.", f"{where}.type", "invalid_value")
    for call_id in calls:
        if call_id not in answered:
            raise Invalid(f"No tool output found for function call {call_id}.", "input")


def _check_message(item: dict[str, Any], where: str) -> None:
    role = item.get("role")
    if role not in ("user", "assistant", "system", "developer"):
        raise Invalid(
            f"Invalid value: '{role}'. Supported values are: 'assistant', 'system', 'developer', and 'user'.",
            f"{where}.role",
        )
    content = item.get("content")
    if isinstance(content, str):
        return
    if not isinstance(content, list):
        raise Invalid(f"Missing required parameter: '{where}.content'.", f"{where}.content")
    allowed = _ASSISTANT_PARTS if role == "assistant" else _USER_PARTS
    for j, part in enumerate(content):
        kind = part.get("type") if isinstance(part, dict) else None
        if kind not in allowed:
            shown = " and ".join(f"'{a}'" for a in sorted(allowed))
            raise Invalid(
                f"Invalid value: '{kind}'. Supported values are: {shown}.",
                f"{where}.content[{j}].type",
                "invalid_value",
            )
        if kind in ("input_text", "output_text") and not isinstance(part.get("text"), str):
            raise Invalid(f"Missing required parameter: '{where}.content[{j}].text'.", f"{where}.content[{j}].text")
        if kind == "input_image" and not (part.get("image_url") or part.get("file_id")):
            raise Invalid(f"Missing required parameter: '{where}.content[{j}].image_url'.")


def _check_tools(tools: Any, where: str = "tools") -> set[str]:
    names: set[str] = set()
    if tools is None:
        return names
    if not isinstance(tools, list):
        raise Invalid(f"Invalid type for '{where}': expected an array.", where)
    for i, tool in enumerate(tools):
        at = f"{where}[{i}]"
        kind = tool.get("type") if isinstance(tool, dict) else None
        if kind == "function":
            if not isinstance(tool.get("name"), str) or not tool["name"]:
                raise Invalid(f"Missing required parameter: '{at}.name'.", f"{at}.name")
            if "function" in tool:  # the chat form, nested
                raise Invalid(f"Unknown parameter: '{at}.function'.", f"{at}.function", "unknown_parameter")
            if tool.get("strict", True) is not False:
                _check_strict_schema(tool.get("parameters") or {}, tool["name"])
            names.add(tool["name"])
        elif kind == "custom":
            if not isinstance(tool.get("name"), str):
                raise Invalid(f"Missing required parameter: '{at}.name'.", f"{at}.name")
            names.add(tool["name"])
        elif kind == "namespace":
            names |= _check_tools(tool.get("tools"), f"{at}.tools")
        elif kind not in HOSTED_TOOLS:
            raise Invalid(f"Invalid value: '{kind}'.", f"{at}.type", "invalid_value")
    return names


def _check_strict_schema(schema: dict[str, Any], name: str, path: str = "()") -> None:
    """Strict mode (the Responses default) wants every object closed and every property required."""
    if schema.get("type") == "object":
        if schema.get("additionalProperties") is not False:
            raise Invalid(
                f"Invalid schema for function '{name}': In context={path}, 'additionalProperties' is required "
                "to be supplied and to be false.",
                "tools",
                "invalid_function_parameters",
            )
        props = schema.get("properties") or {}
        missing = [p for p in props if p not in (schema.get("required") or [])]
        if missing:
            raise Invalid(
                f"Invalid schema for function '{name}': In context={path}, 'required' is required to be supplied "
                f"and to be an array including every key in properties. Missing '{missing[0]}'.",
                "tools",
                "invalid_function_parameters",
            )
        for key, sub in props.items():
            if isinstance(sub, dict):
                _check_strict_schema(sub, name, f"('properties', '{key}')")
    items = schema.get("items")
    if isinstance(items, dict):
        _check_strict_schema(items, name, f"{path}, 'items'")


def _check_tool_choice(choice: Any, names: set[str]) -> None:
    if choice is None or choice in ("auto", "none", "required"):
        return
    if isinstance(choice, dict):
        if choice.get("type") in ("function", "custom"):
            if choice.get("name") not in names:
                raise Invalid(
                    f"Tool choice '{choice.get('type')}' not found in 'tools' parameter.",
                    "tool_choice",
                    "invalid_value",
                )
        return
    raise Invalid(f"Invalid value: '{choice}'.", "tool_choice", "invalid_value")
