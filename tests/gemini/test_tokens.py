"""Ephemeral token requests in Google's shape (gemini-live.md §9), without sockets: any body is a
token or a ClientError, never anything else; the defaults and bounds are Google's."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from livegate.errors import ClientError
from livegate.gemini.tokens import TOKEN_PREFIX, mint_token, presented_token

NOW = 1_800_000_000.0

NAMES = st.sampled_from(["uses", "expireTime", "newSessionExpireTime", "bidiGenerateContentSetup", "fieldMask", "model", "setup", "x"])


def nested(inner: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.lists(inner, max_size=3) | st.dictionaries(NAMES, inner, max_size=4)


bodies = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30), nested, max_leaves=10)


@settings(max_examples=400, deadline=None)
@given(bodies)
def test_any_body_is_a_token_or_a_client_error(body: Any) -> None:
    try:
        token = mint_token(body, NOW)
    except ClientError:
        return
    assert NOW < token.start_by <= token.expires_at <= NOW + 20 * 3600
    assert presented_token(token.name) == token.secret and token.body["name"] == token.name


def test_googles_defaults_and_what_is_locked() -> None:
    token = mint_token({"bidiGenerateContentSetup": {"model": "models/m", "generationConfig": {"temperature": 0.7}}}, NOW)
    assert (token.expires_at, token.start_by) == (NOW + 1800, NOW + 60)  # 30 minutes, 60 seconds
    assert token.model == "models/m" and token.setup == {"generationConfig": {"temperature": 0.7}}
    assert token.body["expireTime"] == "2027-01-15T08:30:00Z"
    later = mint_token({"expireTime": "2027-01-15T10:00:00+00:00", "newSessionExpireTime": "2027-01-15T09:00:00Z"}, NOW)
    assert (later.expires_at, later.start_by) == (NOW + 7200, NOW + 3600)
    for bad in ({"uses": 0}, {"uses": True}, {"expireTime": "2027-01-15T10:00:00"}, {"newSessionExpireTime": NOW}, {"other": 1}):
        with pytest.raises(ClientError):
            mint_token(bad, NOW)
    assert presented_token("auth_tokens/sk-livegate-x") is None and presented_token(None) is None
    assert presented_token(TOKEN_PREFIX + "ek_abc") == "ek_abc"
