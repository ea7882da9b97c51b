"""Ephemeral client secrets (``ek_…``) for browsers and phones, in OpenAI's two shapes
(openai-realtime.md §7): GA ``POST /v1/realtime/client_secrets`` and beta ``POST /v1/realtime/sessions``.

A secret is bound to one model and a session configuration, applied before ``session.created``, and
opens exactly one session: livegate's own reconnects to Gemini never need the client to come back,
so there is no second use to allow (unlike Gemini's single-use tokens: ai-shifu/ai-shifu#2744).
Minting is pure; the store keeps the hash and claims it atomically.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from typing import Any

from livegate.errors import ClientError
from livegate.realtime.session import Session

__all__ = ["NATIVE_KEY", "SECRET_PREFIX", "Minted", "SecretRecord", "mint"]

SECRET_PREFIX = "ek_"
GA_TTL_S = (10, 7200, 600)  # min, max, default (§7.2)
BETA_TTL_S = (10, 7200, 60)  # beta keys expired after one minute (§7.1)
DEFAULT_MODEL = "gpt-realtime"
NATIVE_KEY = "gemini_setup"  # a native front's token (gemini.tokens) holds its Gemini setup under this


@dataclass(frozen=True)
class SecretRecord:
    id: str  # SHA-256 of the secret
    key_id: str | None  # the virtual key that minted it (its limits and its bill), None for the master key
    model: str
    session: str  # the bound session, JSON in the dialect of ``beta``
    beta: bool
    expires_at: float
    used: bool = False

    def bound(self) -> dict[str, Any]:
        return dict(json.loads(self.session))

    @property
    def native(self) -> bool:
        """A token of the native front (gemini.tokens): its bound session is a Gemini setup."""
        return NATIVE_KEY in self.bound()


@dataclass(frozen=True)
class Minted:
    secret: str
    model: str
    session: dict[str, Any]  # as received, validated
    beta: bool
    expires_at: float
    body: dict[str, Any]  # the HTTP response


def _invalid(message: str, param: str, code: str = "invalid_value") -> ClientError:
    return ClientError(message, code=code, param=param)


def _ttl(expires_after: Any, bounds: tuple[int, int, int], param: str) -> int:
    low, high, default = bounds
    if expires_after is None:
        return default
    if not isinstance(expires_after, dict):
        raise _invalid(f"Invalid type for '{param}': expected an object.", param, "invalid_type")
    anchor = expires_after.get("anchor", "created_at")
    if anchor != "created_at":
        raise _invalid(f"Invalid value: '{anchor}'. Supported values are: 'created_at'.", f"{param}.anchor")
    seconds = expires_after.get("seconds", default)
    if isinstance(seconds, bool) or not isinstance(seconds, int) or not low <= seconds <= high:
        raise _invalid(f"Invalid '{param}.seconds': expected an integer from {low} to {high}.", f"{param}.seconds")
    return seconds


def mint(body: Any, *, beta: bool, now: float, session_id: str) -> Minted:
    """Validate a mint request and shape the response; raises ClientError for a 400."""
    if not isinstance(body, dict):
        raise _invalid("The body must be a JSON object.", "body", "invalid_type")
    if beta:
        session = {k: v for k, v in body.items() if k != "client_secret"}
        client_secret = body.get("client_secret") or {}
        if not isinstance(client_secret, dict):
            raise _invalid("Invalid type for 'client_secret': expected an object.", "client_secret", "invalid_type")
        ttl = _ttl(client_secret.get("expires_after"), BETA_TTL_S, "client_secret.expires_after")
    else:
        for key in body:
            if key not in ("expires_after", "session"):
                raise _invalid(f"Unknown parameter: '{key}'.", key, "unknown_parameter")
        session = body.get("session", {"type": "realtime"})
        if not isinstance(session, dict):
            raise _invalid("Invalid type for 'session': expected an object.", "session", "invalid_type")
        ttl = _ttl(body.get("expires_after"), GA_TTL_S, "expires_after")
    model = session.get("model", DEFAULT_MODEL)
    if not isinstance(model, str) or not model:
        raise _invalid("Invalid 'session.model': expected a model name.", "session.model", "invalid_type")
    rendered = Session(model, session_id, now)
    rendered.update(session, beta=beta)  # the same checks a session.update gets
    secret = SECRET_PREFIX + secrets.token_urlsafe(24)
    expires_at = int(now) + ttl
    if beta:
        response = rendered.render(beta=True) | {"client_secret": {"value": secret, "expires_at": expires_at}}
    else:
        response = {"value": secret, "expires_at": expires_at, "session": rendered.render(beta=False)}
    return Minted(secret, model, session, beta, float(expires_at), response)
