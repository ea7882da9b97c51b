"""Token accounting at realistic rates, and ``usageMetadata`` as each backend names it.

Gemini Live bills the whole context as prompt on every turn, which is why long conversations cost
more than the per-token price suggests (seed 004); the emulator counts the same way.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

from livegate.emulator.messages import Setup
from livegate.emulator.models import Flavour
from livegate.emulator.state import HistoryEntry

__all__ = ["count_tokens", "prompt_tokens", "target_tokens", "text_tokens", "usage_metadata"]

AUDIO_IN_TOKENS_PER_S = 32
AUDIO_OUT_TOKENS_PER_S = 25
IMAGE_TOKENS = 258  # one video frame or image at the default media resolution (gemini-live.md §8)
FUNCTION_OVERHEAD_TOKENS = 8


def text_tokens(text: str) -> int:
    return math.ceil(len(text) / 4)


def count_tokens(entry: HistoryEntry) -> None:
    """What ``entry`` weighs in every later prompt, by modality."""
    tokens: dict[str, int] = {}
    if entry.audio_seconds:
        rate = AUDIO_IN_TOKENS_PER_S if entry.role == "user" else AUDIO_OUT_TOKENS_PER_S
        tokens["AUDIO"] = math.ceil(entry.audio_seconds * rate)
    elif entry.text:
        tokens["TEXT"] = text_tokens(entry.text)
    if entry.images:
        tokens["IMAGE"] = IMAGE_TOKENS * entry.images
    if entry.video_frames:
        tokens["VIDEO"] = IMAGE_TOKENS * entry.video_frames
    entry.tokens = tokens


def prompt_tokens(setup: Setup, history: Iterable[HistoryEntry]) -> dict[str, int]:
    totals = {"TEXT": text_tokens(setup.system_instruction)}
    for decl in setup.functions:
        totals["TEXT"] += text_tokens(decl.name + decl.description) + FUNCTION_OVERHEAD_TOKENS
    for entry in history:
        for modality, count in entry.tokens.items():
            totals[modality] = totals.get(modality, 0) + count
    return totals


def target_tokens(raw_setup: dict[str, Any], trigger: int) -> int:
    """``slidingWindow.targetTokens``, defaulting to half the trigger (gemini-live.md §4.3)."""
    window = (raw_setup.get("contextWindowCompression") or {}).get("slidingWindow") or {}
    target = window.get("targetTokens")
    try:
        return int(target) if target is not None else trigger // 2
    except (TypeError, ValueError):
        return trigger // 2


def usage_metadata(prompt: dict[str, int], response: dict[str, int], thoughts: int, flavour: Flavour) -> dict[str, Any]:
    """``usageMetadata`` in the field names of the backend (gemini-live.md §5.3); zeros omitted."""
    output = "responseToken" if flavour is Flavour.AI_STUDIO else "candidatesToken"
    prompt_total, response_total = sum(prompt.values()), sum(response.values())
    usage: dict[str, Any] = {
        "promptTokenCount": prompt_total,
        f"{output}Count": response_total,
        "thoughtsTokenCount": thoughts,
        "totalTokenCount": prompt_total + response_total + thoughts,
        "promptTokensDetails": [{"modality": m, "tokenCount": n} for m, n in sorted(prompt.items()) if n],
        f"{output}sDetails": [{"modality": m, "tokenCount": n} for m, n in sorted(response.items()) if n],
    }
    if flavour is Flavour.VERTEX:
        usage["trafficType"] = "ON_DEMAND"
    return {k: v for k, v in usage.items() if v}
