"""Minting ephemeral keys without sockets: the two request shapes, their defaults and their refusals
(openai-realtime.md §7)."""

from __future__ import annotations

import pytest

from livegate.errors import ClientError
from livegate.secrets import mint


def test_ga_shape_defaults_to_ten_minutes_and_renders_the_full_session() -> None:
    minted = mint({"session": {"type": "realtime", "model": "m", "instructions": "hi"}}, beta=False, now=1000.4, session_id="sess_1")
    assert minted.secret.startswith("ek_") and len(minted.secret) > 30
    assert minted.expires_at == 1600
    assert minted.body["value"] == minted.secret and minted.body["expires_at"] == 1600
    assert minted.body["session"]["instructions"] == "hi"
    assert minted.body["session"]["object"] == "realtime.session" and minted.body["session"]["id"] == "sess_1"
    assert minted.model == "m"


def test_beta_shape_defaults_to_one_minute_and_puts_the_secret_in_client_secret() -> None:
    minted = mint({"model": "m", "modalities": ["text"], "voice": "verse"}, beta=True, now=1000, session_id="sess_1")
    assert minted.expires_at == 1060
    assert minted.body["client_secret"] == {"value": minted.secret, "expires_at": 1060}
    assert minted.body["modalities"] == ["text"] and minted.body["voice"] == "verse"
    ttl = mint({"model": "m", "client_secret": {"expires_after": {"anchor": "created_at", "seconds": 3600}}}, beta=True, now=0, session_id="s")
    assert ttl.expires_at == 3600


def test_the_model_defaults_like_openais() -> None:
    assert mint({}, beta=False, now=0, session_id="s").model == "gpt-realtime"


@pytest.mark.parametrize(
    ("body", "beta", "param"),
    [
        ({"expires_after": {"seconds": 9}}, False, "expires_after.seconds"),
        ({"expires_after": {"seconds": 7201}}, False, "expires_after.seconds"),
        ({"expires_after": {"anchor": "now"}}, False, "expires_after.anchor"),
        ({"ttl": 5}, False, "ttl"),
        ({"session": {"type": "realtime", "voices": "x"}}, False, "session.voices"),
        ({"session": []}, False, "session"),
        ({"temperature": 9}, True, "session.temperature"),
        ({"client_secret": "x"}, True, "client_secret"),
        ({"model": 3}, True, "session.model"),
        ([], True, "body"),
    ],
)
def test_bad_requests_name_the_parameter(body: object, beta: bool, param: str) -> None:
    with pytest.raises(ClientError) as error:
        mint(body, beta=beta, now=0, session_id="s")
    assert error.value.param == param
