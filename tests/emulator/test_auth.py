"""The OAuth token endpoint and ephemeral tokens, as plain functions."""

from __future__ import annotations

import time

import google.auth.crypt
import google.auth.jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from livegate.emulator.auth import JWT_BEARER, create_auth_token, oauth_token
from livegate.emulator.state import EmulatorConfig, EmulatorState

EMAIL = "sa@p.iam.gserviceaccount.com"


def keypair() -> tuple[str, bytes]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode()
    public = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    return private, public


def assertion(private: str, **claims: object) -> str:
    now = int(time.time())
    payload = {"iss": EMAIL, "aud": "http://x/token", "scope": "https://www.googleapis.com/auth/cloud-platform", "iat": now, "exp": now + 3600}
    payload.update(claims)
    signer = google.auth.crypt.RSASigner.from_string(private)
    return google.auth.jwt.encode(signer, payload).decode()


def test_a_signed_assertion_of_a_known_account_gets_a_token_that_the_live_api_accepts() -> None:
    private, public = keypair()
    state = EmulatorState(EmulatorConfig())
    state.service_accounts[EMAIL] = public
    status, body = oauth_token(state, {"grant_type": JWT_BEARER, "assertion": assertion(private)}, time.time())
    assert status == 200 and body["token_type"] == "Bearer" and body["expires_in"] == 3600
    assert state.access_token_valid(body["access_token"], time.time())
    assert not state.access_token_valid(body["access_token"], time.time() + 3601)


def test_a_forged_signature_or_unknown_account_is_refused() -> None:
    private, public = keypair()
    other, _ = keypair()
    state = EmulatorState(EmulatorConfig())
    state.service_accounts[EMAIL] = public
    status, body = oauth_token(state, {"grant_type": JWT_BEARER, "assertion": assertion(other)}, time.time())
    assert (status, body["error"]) == (400, "invalid_grant")
    status, body = oauth_token(state, {"grant_type": JWT_BEARER, "assertion": assertion(private, iss="x@y")}, time.time())
    assert body["error_description"] == "Invalid grant: account not found: x@y"


def test_assertions_need_a_scope_and_a_future_expiry() -> None:
    private, _ = keypair()
    state = EmulatorState(EmulatorConfig())
    assert oauth_token(state, {"grant_type": JWT_BEARER, "assertion": assertion(private, scope="")}, time.time())[1]["error"] == "invalid_scope"
    assert oauth_token(state, {"grant_type": JWT_BEARER, "assertion": "x.y.z"}, time.time())[1]["error"] == "invalid_grant"


def test_refresh_token_grant_for_application_default_credentials() -> None:
    state = EmulatorState(EmulatorConfig())
    ok = oauth_token(state, {"grant_type": "refresh_token", "refresh_token": "r", "client_id": "c", "client_secret": "s"}, 0)
    assert ok[0] == 200
    assert oauth_token(state, {"grant_type": "refresh_token"}, 0)[1]["error"] == "invalid_request"
    assert oauth_token(state, {"grant_type": "password"}, 0)[1]["error"] == "unsupported_grant_type"


def test_ephemeral_tokens_take_the_rest_shape_and_enforce_limits() -> None:
    state = EmulatorState(EmulatorConfig(api_key="real"))
    now = 1_800_000_000.0
    status, body = create_auth_token(state, "real", {"uses": 2, "expireTime": "2027-01-15T08:00:00Z"}, now)
    assert status == 200
    assert body == {"name": "auth_tokens/auth-token-000001", "uses": 2, "expireTime": "2027-01-15T08:00:00Z", "newSessionExpireTime": "2027-01-15T08:01:00Z"}
    assert create_auth_token(state, "wrong", {}, now)[0] == 400
    assert "at most 20 hours" in create_auth_token(state, "real", {"expire_time": "2030-01-01T00:00:00Z"}, now)[1]["error"]["message"]
    assert create_auth_token(state, "real", {"uses": -1}, now)[0] == 400


def test_locked_setup_and_field_mask_are_kept() -> None:
    state = EmulatorState(EmulatorConfig())
    body = {
        "uses": 1,
        "bidiGenerateContentSetup": {"model": "models/m", "generationConfig": {"temperature": 0.7}},
        "fieldMask": "model,generationConfig.temperature",
    }
    status, reply = create_auth_token(state, "k", body, 0)
    token = state.ephemeral_tokens[reply["name"]]
    assert status == 200 and token.field_mask == ("model", "generationConfig.temperature")
    assert token.locked_setup == {"model": "models/m", "generationConfig": {"temperature": 0.7}}
