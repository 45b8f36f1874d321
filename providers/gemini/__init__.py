"""Google's Generative Language API (Gemini): `generateContent`, `streamGenerateContent?alt=sse`,
`countTokens`, `batchEmbedContents` and the model list, under `/v1beta`, keyed by `x-goog-api-key`.

Translation rules: system messages become `systemInstruction`; turns alternate `user` / `model`, tool
results go as `functionResponse` parts (with the call's name, which Gemini requires) in a user turn;
tools as `functionDeclarations` with `parametersJsonSchema`. Gemini 3 models must get each function
call's `thoughtSignature` back on later turns: it rides inside the call id this provider hands out
(`<id>__thought__<signature>`, in id-safe characters), so any client that returns ids returns it; a
call that comes back without one gets Google's documented validator-skip sentinel.

`provider` (settings, calls, response and stream reading), `request` (unified -> generateContent body,
call ids that carry thought signatures), `wire` (response structs)."""

from providers.gemini.provider import GeminiOptions, GeminiProvider

__all__ = ["GeminiOptions", "GeminiProvider"]
