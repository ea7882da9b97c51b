"""Which backend a request is for, and which credentials it carries (gemini-live.md §1)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from livegate.emulator.models import Flavour

__all__ = ["Credentials", "Route", "credentials_from", "route_for_path"]

_STUDIO = re.compile(
    r"/ws/google\.ai\.generativelanguage\.(v1|v1beta|v1alpha)\.GenerativeService\."
    r"(BidiGenerateContent|BidiGenerateContentConstrained)"
)
_VERTEX = re.compile(r"/ws/google\.cloud\.aiplatform\.(v1|v1beta1)\.LlmBidiService/BidiGenerateContent")
_SLASHES = re.compile(r"/{2,}")


@dataclass(frozen=True, slots=True)
class Route:
    flavour: Flavour
    api_version: str
    constrained: bool = False


def route_for_path(path: str) -> Route | None:
    # The SDK dials "//ws/..." (a base URL with a trailing slash): repeated slashes collapse.
    path = _SLASHES.sub("/", path)
    if match := _STUDIO.fullmatch(path):
        return Route(Flavour.AI_STUDIO, match.group(1), match.group(2).endswith("Constrained"))
    if match := _VERTEX.fullmatch(path):
        return Route(Flavour.VERTEX, match.group(1))
    return None


@dataclass(frozen=True, slots=True)
class Credentials:
    api_key: str | None = None
    bearer: str | None = None
    ephemeral: str | None = None  # "auth_tokens/..."
    user_project: str | None = None


def credentials_from(headers: Mapping[str, str], query: Mapping[str, str]) -> Credentials:
    """Every place the real service reads a credential from (gemini-live.md §1.1, §1.2, §9)."""
    key = headers.get("x-goog-api-key") or query.get("key")
    auth = headers.get("authorization", "")
    scheme, _, value = auth.partition(" ")
    bearer = value.strip() if scheme.lower() == "bearer" else None
    ephemeral = query.get("access_token") or (value.strip() if scheme.lower() == "token" else None)
    if ephemeral is None and key and key.startswith("auth_tokens/"):
        ephemeral, key = key, None
    if key and key.startswith("auth_tokens/"):
        key = None
    return Credentials(key or None, bearer or None, ephemeral or None, headers.get("x-goog-user-project"))
