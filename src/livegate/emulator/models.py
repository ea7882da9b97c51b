"""How the emulated service checks ``setup.model`` (gemini-live.md §2, §7)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from livegate.emulator.wire import INVALID_ARGUMENT, POLICY_VIOLATION
from livegate.errors import GeminiClientError
from livegate.gemini.models import CATALOGUE, Flavour, ModelInfo, ToolOrder

__all__ = ["CATALOGUE", "Flavour", "ModelInfo", "ResolvedModel", "ToolOrder", "resolve_model"]

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
