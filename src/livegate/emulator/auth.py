"""The emulator's REST endpoints for credentials, as plain functions of a request body.

- ``POST /token``: Google's OAuth 2.0 token endpoint, enough for google-auth's real flows: a
  service account's signed JWT assertion (RFC 7523), checked against the account's public key when
  the emulator knows it, and an authorized user's refresh token (application default credentials).
- ``POST /v1alpha/auth_tokens``: ephemeral tokens for the Gemini Developer API (gemini-live.md §9).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import google.auth.exceptions
import google.auth.jwt

from livegate.emulator.state import EmulatorState, EphemeralToken
from livegate.emulator.wire import camel, normalize
from livegate.errors import GeminiClientError

__all__ = ["create_auth_token", "oauth_token", "rfc3339"]

JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
MAX_TOKEN_LIFETIME_S = 20 * 3600
DEFAULT_EXPIRE_S = 30 * 60
DEFAULT_NEW_SESSION_S = 60


def _jwt_decode(assertion: str, public_key: str | None) -> dict[str, Any]:
    # google-auth checks the RS256 signature, iat and exp when given the key; untyped upstream.
    claims = google.auth.jwt.decode(assertion, certs=public_key, verify=public_key is not None)  # type: ignore[no-untyped-call]
    return dict(claims)


def _oauth_error(error: str, description: str) -> tuple[int, dict[str, Any]]:
    return 400, {"error": error, "error_description": description}


def oauth_token(state: EmulatorState, form: Mapping[str, str], now: float) -> tuple[int, dict[str, Any]]:
    grant = form.get("grant_type", "")
    if grant == JWT_BEARER:
        assertion = form.get("assertion", "")
        try:
            claims = _jwt_decode(assertion, None)
        except (ValueError, google.auth.exceptions.GoogleAuthError):
            return _oauth_error("invalid_grant", "Invalid JWT: cannot decode the assertion.")
        issuer = claims.get("iss", "")
        key = state.service_accounts.get(issuer)
        if key is None and state.service_accounts:
            return _oauth_error("invalid_grant", f"Invalid grant: account not found: {issuer}")
        try:
            if key is not None:
                _jwt_decode(assertion, key.decode())
        except (ValueError, google.auth.exceptions.GoogleAuthError) as exc:
            return _oauth_error("invalid_grant", f"Invalid JWT Signature. {exc}")
        if not claims.get("scope") and not claims.get("target_audience"):
            return _oauth_error("invalid_scope", "Invalid OAuth scope or ID token audience provided.")
        if not isinstance(claims.get("exp"), int) or claims["exp"] <= now:
            return _oauth_error("invalid_grant", "Invalid JWT: Token must be a short-lived token and in a reasonable timeframe.")
    elif grant == "refresh_token":
        if not form.get("refresh_token") or not form.get("client_id"):
            return _oauth_error("invalid_request", "Missing required parameter: refresh_token or client_id")
        if state.refresh_tokens and form["refresh_token"] not in state.refresh_tokens:
            return _oauth_error("invalid_grant", "Token has been expired or revoked.")
    else:
        return _oauth_error("unsupported_grant_type", f"Invalid grant_type: {grant}")
    token, lifetime = state.issue_access_token(now)
    return 200, {"access_token": token, "expires_in": lifetime, "token_type": "Bearer"}


def _rest_error(status: int, message: str, reason: str = "INVALID_ARGUMENT") -> tuple[int, dict[str, Any]]:
    return status, {"error": {"code": status, "message": message, "status": reason}}


def rfc3339(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).isoformat().replace("+00:00", "Z")


def _time(value: Any, default: float, now: float, field: str) -> float:
    if value is None:
        return default
    try:
        moment = datetime.fromisoformat(str(value)).timestamp()
    except ValueError:
        raise ValueError(f"Invalid value at '{field}' (type.googleapis.com/google.protobuf.Timestamp), {value!r}") from None
    if moment > now + MAX_TOKEN_LIFETIME_S:
        raise ValueError(f"{field} must be at most 20 hours in the future.")
    return moment


def create_auth_token(
    state: EmulatorState, api_key: str | None, body: Any, now: float
) -> tuple[int, dict[str, Any]]:
    """``POST /v1alpha/auth_tokens`` with the caller's real API key."""
    key_ok = bool(api_key) and (state.config.api_key is None or api_key == state.config.api_key)
    if not key_ok:
        return _rest_error(400, "API key not valid. Please pass a valid API key.")
    if not isinstance(body, dict):
        return _rest_error(400, "Invalid JSON payload received.")
    body = {k.replace("_", "").lower(): v for k, v in body.items()}
    uses = body.get("uses", 1)
    if not isinstance(uses, int) or isinstance(uses, bool) or uses < 0:
        return _rest_error(400, f"Invalid value at 'uses' (TYPE_INT32), {uses!r}")
    try:
        expire = _time(body.get("expiretime"), now + DEFAULT_EXPIRE_S, now, "expire_time")
        new_session = _time(body.get("newsessionexpiretime"), now + DEFAULT_NEW_SESSION_S, now, "new_session_expire_time")
        locked = body.get("bidigeneratecontentsetup")
        if locked is not None:
            locked = normalize(locked, "setup", ["bidi_generate_content_setup"], strict=True, vertex=False)
    except ValueError as exc:
        return _rest_error(400, str(exc))
    except GeminiClientError as exc:
        return _rest_error(400, exc.reason)
    mask = body.get("fieldmask")
    fields = tuple(_camel_path(p) for p in mask.split(",") if p) if isinstance(mask, str) else None
    name = "auth_tokens/" + state.ids("auth-token")
    state.ephemeral_tokens[name] = EphemeralToken(name, uses, expire, new_session, locked, fields if locked is not None else None)
    return 200, {"name": name, "uses": uses, "expireTime": rfc3339(expire), "newSessionExpireTime": rfc3339(new_session)}


def _camel_path(path: str) -> str:
    return ".".join(camel(part) for part in path.strip().split("."))
