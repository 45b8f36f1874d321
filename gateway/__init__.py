"""llm-link: one gateway between LLM clients (OpenAI, Anthropic, Ollama APIs) and any provider."""

__version__ = "0.1.0"
