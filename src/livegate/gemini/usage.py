"""Gemini ``usageMetadata`` (either backend's field names, gemini-live.md §5.3) as the OpenAI
Realtime ``usage`` object, with every key present (openai-realtime.md §4.5)."""

from __future__ import annotations

from typing import Any

__all__ = ["EMPTY_USAGE", "openai_usage"]


def _by_modality(details: Any) -> dict[str, int]:
    out: dict[str, int] = {}
    if not isinstance(details, list):
        return out
    for entry in details:
        if isinstance(entry, dict):
            modality = str(entry.get("modality", "MODALITY_UNSPECIFIED"))
            out[modality] = out.get(modality, 0) + _int(entry.get("tokenCount"))
    return out


def _int(value: Any) -> int:
    try:
        return int(value or 0)
    except (TypeError, ValueError):
        return 0


def openai_usage(metadata: dict[str, Any]) -> dict[str, Any]:
    prompt = _int(metadata.get("promptTokenCount")) + _int(metadata.get("toolUsePromptTokenCount"))
    # AI Studio says "response", Vertex "candidates"; thoughts are billed as output.
    output = _int(metadata.get("responseTokenCount", metadata.get("candidatesTokenCount")))
    thoughts = _int(metadata.get("thoughtsTokenCount"))
    cached = _int(metadata.get("cachedContentTokenCount"))
    prompt_details = _by_modality(metadata.get("promptTokensDetails"))
    for modality, count in _by_modality(metadata.get("toolUsePromptTokensDetails")).items():
        prompt_details[modality] = prompt_details.get(modality, 0) + count
    output_details = _by_modality(metadata.get("responseTokensDetails", metadata.get("candidatesTokensDetails")))
    cache_details = _by_modality(metadata.get("cacheTokensDetails"))
    input_audio = prompt_details.get("AUDIO", 0)
    input_image = prompt_details.get("IMAGE", 0) + prompt_details.get("VIDEO", 0)
    output_audio = output_details.get("AUDIO", 0)
    return {
        "total_tokens": prompt + output + thoughts,
        "input_tokens": prompt,
        "output_tokens": output + thoughts,
        "input_token_details": {
            "text_tokens": prompt - input_audio - input_image if prompt_details else prompt,
            "audio_tokens": input_audio,
            "image_tokens": input_image,
            "cached_tokens": cached,
            "cached_tokens_details": {
                "text_tokens": cache_details.get("TEXT", 0),
                "audio_tokens": cache_details.get("AUDIO", 0),
                "image_tokens": cache_details.get("IMAGE", 0) + cache_details.get("VIDEO", 0),
            },
        },
        "output_token_details": {"text_tokens": output + thoughts - output_audio, "audio_tokens": output_audio},
    }


EMPTY_USAGE = openai_usage({})
