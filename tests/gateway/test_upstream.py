"""Where the gateway dials for each deployment (gemini-live.md §1)."""

from __future__ import annotations

import pytest

from livegate.config import Deployment
from livegate.gateway.upstream import upstream_url
from livegate.gemini.models import Flavour
from livegate.gemini.route import UpstreamRoute

VERTEX_PATH = "/ws/google.cloud.aiplatform.v1.LlmBidiService/BidiGenerateContent"


@pytest.mark.parametrize(
    ("route", "api_base", "url"),
    [
        (UpstreamRoute(Flavour.AI_STUDIO, "gemini-3.8-live"), None,
         "wss://generativelanguage.googleapis.com/ws/google.ai.generativelanguage.v1beta.GenerativeService.BidiGenerateContent"),
        (UpstreamRoute(Flavour.VERTEX, "m", project="p", location="us-central1"), None, "wss://us-central1-aiplatform.googleapis.com" + VERTEX_PATH),
        (UpstreamRoute(Flavour.VERTEX, "m", project="p", location="global"), None, "wss://aiplatform.googleapis.com" + VERTEX_PATH),
        (UpstreamRoute(Flavour.VERTEX, "m", project="p", location="eu"), None, "wss://aiplatform.eu.rep.googleapis.com" + VERTEX_PATH),
        (UpstreamRoute(Flavour.VERTEX, "m", location="us-central1"), None, "wss://aiplatform.googleapis.com" + VERTEX_PATH),
        (UpstreamRoute(Flavour.VERTEX, "m", project="p", location="us-east4"), "https://proxy.internal:8443/", "wss://proxy.internal:8443" + VERTEX_PATH),
        (UpstreamRoute(Flavour.AI_STUDIO, "x", api_version="v1alpha"), "http://127.0.0.1:4001",
         "ws://127.0.0.1:4001/ws/google.ai.generativelanguage.v1alpha.GenerativeService.BidiGenerateContent"),
    ],
)  # fmt: skip
def test_upstream_urls(route: UpstreamRoute, api_base: str | None, url: str) -> None:
    assert upstream_url(Deployment("m", route, api_key="k", api_base=api_base)) == url


def test_express_mode_model_has_no_project_prefix() -> None:
    assert UpstreamRoute(Flavour.VERTEX, "gemini-3.8-live").model_name == "publishers/google/models/gemini-3.8-live"
