"""The Live models the emulator serves, after gemini-live.md §10, and how model names are checked (§2)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum

from livegate.emulator.wire import INVALID_ARGUMENT, POLICY_VIOLATION
from livegate.errors import GeminiClientError

__all__ = ["CATALOGUE", "Flavour", "ModelInfo", "ToolOrder", "resolve_model"]


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

_VERTEX_NAME = re.compile(r"(?:projects/([^/]+)/locations/([^/]+)/)?publishers/google/models/([^/]+)")


@dataclass(frozen=True, slots=True)
class ResolvedModel:
    info: ModelInfo
    name: str  # as the client sent it
    location: str | None


def resolve_model(
    name: str,
    flavour: Flavour,
    api_version: str,
    catalogue: dict[str, ModelInfo],
) -> ResolvedModel:
    """Check ``setup.model`` as the real backend does, returning the model or the close it causes."""
    if flavour is Flavour.AI_STUDIO:
        if not name.startswith("models/"):
            raise GeminiClientError(
                INVALID_ARGUMENT, "* BidiGenerateContentRequest.setup.model: unexpected model name format"
            )
        model_id = name.removeprefix("models/")
        info = catalogue.get(model_id)
        if info is None or Flavour.AI_STUDIO not in info.backends:
            raise GeminiClientError(
                POLICY_VIOLATION,
                f"{name} is not found for API version {api_version}, or is not supported for "
                "bidiGenerateContent. Call ListModels to see the list of available models and their supported methods.",
            )
        return ResolvedModel(info, name, None)
    match = _VERTEX_NAME.fullmatch(name)
    if match is None:
        raise GeminiClientError(INVALID_ARGUMENT, f"Invalid resource field value in the request: model {name}")
    location = match.group(2)
    info = catalogue.get(match.group(3))
    if (
        info is None
        or Flavour.VERTEX not in info.backends
        or (location is not None and info.vertex_locations is not None and location not in info.vertex_locations)
    ):
        raise GeminiClientError(
            POLICY_VIOLATION,
            f"Publisher model `{name}` was not found or your project does not have access to it. Please ensure you are "
            "using a valid model version.",
        )
    return ResolvedModel(info, name, location)
