"""What Ollama clients learn about models: /api/tags entries and /api/show.

Editors size their context from `model_info["<arch>.context_length"]` and enable tools / images / thinking
from `capabilities` (Zed falls back to 4096 tokens and no tools without them). Per model these come from the
config (`context_length`, `capabilities`, `family`), else from what the provider reports, else defaults:
DEFAULT_CONTEXT_LENGTH tokens and ["completion", "tools"]."""

from __future__ import annotations

import hashlib
import re
import time
from typing import Any

from unified.provider import ModelInfo

DEFAULT_CONTEXT_LENGTH = 128_000  # what today's hosted models offer at least; set `context_length` per model
DEFAULT_CAPABILITIES = ("completion", "tools")
_FAMILY = re.compile(r"[a-z]+")


def tagged(name: str) -> str:
    """Ollama names carry a tag: `llama3.2` is listed as `llama3.2:latest`."""
    base = name.rsplit("/", 1)[-1]
    return name if ":" in base else name + ":latest"


def family_of(name: str, info: ModelInfo) -> str:
    if info.family:
        return info.family
    base = name.rsplit("/", 1)[-1].split(":", 1)[0].lower()
    m = _FAMILY.match(base)
    return m.group(0) if m else "llama"


def capabilities_of(info: ModelInfo) -> list[str]:
    caps = list(info.capabilities) if info.capabilities else list(DEFAULT_CAPABILITIES)
    if "completion" not in caps and "embedding" not in caps:
        caps.insert(0, "completion")
    return caps


def rfc3339(ts: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


def details(name: str, info: ModelInfo) -> dict[str, Any]:
    fam = family_of(name, info)
    return {
        "parent_model": "",
        "format": "gguf",
        "family": fam,
        "families": [fam],
        "parameter_size": info.parameter_size or "",
        "quantization_level": info.quantization_level or "",
    }


def tag_entry(name: str, info: ModelInfo, started: float) -> dict[str, Any]:
    shown = tagged(name)
    d = details(name, info)
    d["context_length"] = info.context_length or DEFAULT_CONTEXT_LENGTH
    return {
        "name": shown,
        "model": shown,
        "modified_at": rfc3339(info.created or started),
        "size": info.size,
        "digest": info.digest or hashlib.sha256(shown.encode()).hexdigest(),
        "details": d,
        "capabilities": capabilities_of(info),
    }


def show_body(name: str, info: ModelInfo, started: float) -> dict[str, Any]:
    fam = family_of(name, info)
    context = info.context_length or DEFAULT_CONTEXT_LENGTH
    return {
        "modelfile": f"# Served by llm-link\nFROM {tagged(name)}\n",
        "parameters": "",
        "template": "{{ .Prompt }}",
        "details": details(name, info),
        "model_info": {
            "general.architecture": fam,
            "general.basename": name,
            "general.parameter_count": 0,
            f"{fam}.context_length": context,
        },
        "capabilities": capabilities_of(info),
        "modified_at": rfc3339(info.created or started),
    }


def merge(configured: ModelInfo | None, reported: ModelInfo | None, name: str) -> ModelInfo:
    """Config wins field by field over what the provider reported."""
    if configured is None and reported is None:
        return ModelInfo(id=name)
    if configured is None:
        return reported  # type: ignore[return-value]
    if reported is None:
        return configured
    return ModelInfo(
        id=name,
        created=configured.created or reported.created,
        size=configured.size or reported.size,
        digest=configured.digest or reported.digest,
        family=configured.family or reported.family,
        parameter_size=configured.parameter_size or reported.parameter_size,
        quantization_level=configured.quantization_level or reported.quantization_level,
        context_length=configured.context_length or reported.context_length,
        capabilities=configured.capabilities or reported.capabilities,
    )
