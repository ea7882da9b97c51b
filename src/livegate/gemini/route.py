"""Where a session's upstream is: backend, model, and for Vertex the project and location
(gemini-live.md §1, §2). Pure data; the credentials live with the I/O in ``gateway.upstream``."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from livegate.gemini.models import Flavour, ModelInfo, model_info

__all__ = ["UpstreamRoute"]


@dataclass(frozen=True, slots=True)
class UpstreamRoute:
    flavour: Flavour
    model_id: str
    project: str | None = None
    location: str | None = None
    api_version: str = ""
    compression: bool = True  # ask for context window compression, so sessions outlive 15 minutes
    fallbacks: tuple[str, ...] = ()  # Vertex locations to try, in order, when this one refuses the model

    def next_location(self) -> UpstreamRoute | None:
        if not self.fallbacks:
            return None
        return dataclasses.replace(self, location=self.fallbacks[0], fallbacks=self.fallbacks[1:])

    @property
    def info(self) -> ModelInfo:
        return model_info(self.model_id)

    @property
    def model_name(self) -> str:
        """``setup.model`` as the backend wants it."""
        if self.flavour is Flavour.AI_STUDIO:
            return self.model_id if self.model_id.startswith("models/") else f"models/{self.model_id}"
        resource = f"publishers/google/models/{self.model_id}"
        if self.project and self.location:
            return f"projects/{self.project}/locations/{self.location}/{resource}"
        return resource

    @property
    def version(self) -> str:
        if self.api_version:
            return self.api_version
        return "v1beta" if self.flavour is Flavour.AI_STUDIO else "v1"

    @property
    def path(self) -> str:
        if self.flavour is Flavour.AI_STUDIO:
            return f"/ws/google.ai.generativelanguage.{self.version}.GenerativeService.BidiGenerateContent"
        return f"/ws/google.cloud.aiplatform.{self.version}.LlmBidiService/BidiGenerateContent"
