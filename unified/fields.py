"""Names of client request fields that not every upstream can carry: the `field` label of
`llm_link_dropped_fields_total`. A dialect's decoder lists the ones a request carried in
`Request.droppable`; a provider adapter lists the ones it sends on in `Provider.carries`; the core counts the
rest once the target is chosen (gateway.dropped). A fixed vocabulary: a client's own string never becomes a
name, so the label set stays bounded.
"""

from __future__ import annotations

# Anthropic Messages fields with no counterpart on other APIs (and none the translated lane can send on to
# an Anthropic upstream, which gets no client beta headers there).
CONTEXT_MANAGEMENT = "context_management"
CACHE_SCOPE = "cache_control.scope"
THINKING_DISPLAY = "thinking.display"
TASK_BUDGET = "output_config.task_budget"
ANTHROPIC_TOP = ("container", "mcp_servers", "inference_geo", "service_tier", "speed")
TOOLS_DEFER_LOADING = "tools.defer_loading"
TOOLS_INPUT_EXAMPLES = "tools.input_examples"
TOOLS_EAGER_STREAMING = "tools.eager_input_streaming"
TOOLS_ALLOWED_CALLERS = "tools.allowed_callers"
MESSAGE_OUTPUT_CONFIG = "messages.output_config"  # per-turn effort on a mid-conversation system message
TOOL_ADDITION = "messages.tool_addition"
TOOL_REMOVAL = "messages.tool_removal"
TOOL_REFERENCE = "tool_result.tool_reference"  # a deferred tool a client-side tool search found
# Anthropic server tools (`web_search_20250305` ...), by family; anything else is "tools.server".
SERVER_TOOLS = {
    "web_search": "tools.web_search",
    "web_fetch": "tools.web_fetch",
    "code_execution": "tools.code_execution",
    "bash": "tools.bash",
    "text_editor": "tools.text_editor",
    "memory": "tools.memory",
    "tool_search": "tools.tool_search",
    "computer": "tools.computer",
    "advisor": "tools.advisor",
    "mcp": "tools.mcp",
}
SERVER_TOOL = "tools.server"

# Tool `strict` (schema-exact arguments): OpenAI-type and Anthropic upstreams take it.
TOOLS_STRICT = "tools.strict"
# A custom (freeform) tool's grammar: only an `api: responses` upstream holds the model to it; elsewhere the
# tool is a function of one string and the grammar only a description.
TOOLS_CUSTOM = "tools.custom"

# OpenAI Chat Completions fields only OpenAI-compatible upstreams take (sent on as Request.extra, under
# these names) — and `n` > 1, which the translated lane answers with one choice whatever the upstream.
OPENAI_CHAT = (
    "logit_bias",
    "logprobs",
    "top_logprobs",
    "prediction",
    "web_search_options",
    "modalities",
    "audio",
    "service_tier",
    "store",
    "metadata",
    "prompt_cache_key",
    "prompt_cache_retention",
    "verbosity",
)
N = "n"
VERBOSITY = "verbosity"  # chat `verbosity`, Responses `text.verbosity`

# Responses fields only an `api: responses` upstream takes. The ones Chat Completions has too
# (`prompt_cache_key`, `prompt_cache_retention`, `service_tier`, `top_logprobs`, `verbosity`) share the
# OPENAI_CHAT names, so OpenAI-type upstreams carry them from either dialect. A Responses request's
# `metadata` is not chat's: api.openai.com refuses chat `metadata` without `store: true`, and the gateway does
# not turn on storage at OpenAI for a client, so it has a name of its own.
RESPONSES_METADATA = "responses.metadata"
RESPONSES_ONLY = ("include", "truncation", "max_tool_calls", RESPONSES_METADATA)

# Responses hosted tools (run by OpenAI's servers): `tools.<type>` for these types, else "tools.other".
RESPONSES_HOSTED = frozenset(
    {
        "web_search",
        "web_search_preview",
        "web_search_preview_2025_03_11",
        "web_search_2025_08_26",
        "file_search",
        "computer_use_preview",
        "computer_use",
        "code_interpreter",
        "image_generation",
        "mcp",
        "local_shell",
        "shell",
        "apply_patch",
        "tool_search",
    }
)
RESPONSES_HOSTED_FIELDS = frozenset({"tools.other", *("tools." + t for t in RESPONSES_HOSTED)})

# Ollama settings only Ollama upstreams take (the `ollama:` extras).
OLLAMA_OPTIONS = ("num_ctx", "num_keep", "typical_p", "repeat_last_n", "min_p", "repeat_penalty")
OLLAMA_ONLY = frozenset({"keep_alive", *("options." + k for k in OLLAMA_OPTIONS)})

# Gemini settings and hosted tools only Gemini upstreams take (the `gemini:` extras).
GEMINI_HOSTED = (
    "googleSearch",
    "googleSearchRetrieval",
    "codeExecution",
    "urlContext",
    "googleMaps",
    "fileSearch",
    "computerUse",
)
GEMINI_ONLY = frozenset({"safetySettings", "cachedContent", *("tools." + t for t in GEMINI_HOSTED)})
