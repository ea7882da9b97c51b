"""The Gemini Live models and what each can do, after gemini-live.md §10 (status as of November 2026)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

__all__ = ["CATALOGUE", "DEFAULT_MODEL", "Flavour", "ModelInfo", "ToolOrder", "model_info"]

DEFAULT_MODEL = "gemini-3.8-live"  # GA since September 2026; the recommended default


class Flavour(Enum):
    AI_STUDIO = "ai_studio"
    VERTEX = "vertex"


class ToolOrder(Enum):
    """When ``turnComplete`` comes around a blocking tool call (gemini-live.md §6.4)."""

    BEFORE_RESPONSE = "before"  # 2.5 native audio and older: turnComplete right after toolCall
    AFTER_RESPONSE = "after"  # 3.1: no turnComplete until the toolResponse has been answered


@dataclass(frozen=True, slots=True)
class ModelInfo:
    id: str
    backends: frozenset[Flavour]
    native_audio: bool
    context_tokens: int = 131072
    # Vertex locations serving the model; None means every location, "global" included.
    vertex_locations: frozenset[str] | None = None
    tool_order: ToolOrder = ToolOrder.BEFORE_RESPONSE
    non_blocking_default: bool = False
    thinks: bool = True

    @property
    def results_continue_turn(self) -> bool:
        """Whether Gemini answers a tool's result in the turn that called it (gemini-live.md §6.4): a
        blocking call (the model's default; livegate declares no ``behavior``) on a model that holds
        ``turnComplete`` until the ``toolResponse``. Otherwise the result is answered by a new turn."""
        return self.tool_order is ToolOrder.AFTER_RESPONSE and not self.non_blocking_default

_BOTH = frozenset({Flavour.AI_STUDIO, Flavour.VERTEX})
_STUDIO = frozenset({Flavour.AI_STUDIO})
_VERTEX = frozenset({Flavour.VERTEX})
_LIVE_REGIONS = frozenset({"us-central1", "us-east5", "europe-west4"})

CATALOGUE: dict[str, ModelInfo] = {
    m.id: m
    for m in (
        ModelInfo("gemini-3.8-live", _BOTH, True, non_blocking_default=True, tool_order=ToolOrder.AFTER_RESPONSE),
        ModelInfo("gemini-3.8-live-extended-thinking", _STUDIO, True, non_blocking_default=True),
        ModelInfo("gemini-3.1-flash-live-preview", _STUDIO, True, tool_order=ToolOrder.AFTER_RESPONSE),
        ModelInfo("gemini-2.5-flash-native-audio-preview-12-2025", _STUDIO, True),
        ModelInfo("gemini-2.5-flash-native-audio-latest", _STUDIO, True),
        ModelInfo("gemini-2.5-flash-native-audio-preview-09-2025", _STUDIO, True),
        ModelInfo("gemini-live-2.5-flash-native-audio", _VERTEX, True, vertex_locations=_LIVE_REGIONS),
        ModelInfo("gemini-live-2.5-flash-preview-native-audio-09-2025", _VERTEX, True, context_tokens=32768),
        ModelInfo("gemini-live-2.5-flash", _VERTEX, False, context_tokens=32768, thinks=False),
        ModelInfo("gemini-2.0-flash-live-preview-04-09", _VERTEX, False, context_tokens=32768, thinks=False),
    )
}


def model_info(model_id: str) -> ModelInfo:
    """What is known of ``model_id``; an unknown id is taken for a native-audio model, which every
    current Live model is (AUDIO output works on all of them, TEXT only on half-cascade ones)."""
    known = CATALOGUE.get(model_id)
    if known is not None:
        return known
    return ModelInfo(model_id, frozenset(Flavour), native_audio=True)
