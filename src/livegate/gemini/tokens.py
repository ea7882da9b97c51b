"""Ephemeral tokens in Google's shape for the native front (issue 15; gemini-live.md §9):
``POST /v1alpha/auth_tokens`` mints ``auth_tokens/ek_…``, which opens one session on the
``BidiGenerateContentConstrained`` path, bound to a model and, when the request locks it, a setup.

Pure: the request is validated and the token's record shaped here; the gateway checks the caller's
key and stores the hash (keys.Accounts.issue_secret), as for OpenAI's client secrets. A livegate
token opens exactly one session: livegate's own reconnects resume without the client, so a second use
is never needed.
"""

from __future__ import annotations

import datetime
import secrets
from dataclasses import dataclass
from typing import Any

from livegate.errors import ClientError
from livegate.secrets import NATIVE_KEY, SECRET_PREFIX

__all__ = ["NATIVE_KEY", "TOKEN_PREFIX", "NativeToken", "mint_token", "presented_token"]

TOKEN_PREFIX = "auth_tokens/"
EXPIRE_S = (30 * 60, 20 * 3600)  # default, most: messages are refused after it (§9)
NEW_SESSION_S = (60, 20 * 3600)  # default, most: the session must start before it
FIELDS = frozenset({"uses", "expireTime", "newSessionExpireTime", "bidiGenerateContentSetup", "fieldMask"})


@dataclass(frozen=True)
class NativeToken:
    secret: str  # what the store hashes: ``ek_…``
    model: str | None  # the model the setup names, as the client wrote it; None: any the key may use
    setup: dict[str, Any]  # the locked setup fields, model excluded
    expires_at: float  # the session ends then
    start_by: float  # the session must be opened before this
    body: dict[str, Any]  # the HTTP response

    @property
    def name(self) -> str:
        return TOKEN_PREFIX + self.secret


def _invalid(message: str) -> ClientError:
    return ClientError(message, code="invalid_argument")


def _time(value: Any, name: str, now: float, bounds: tuple[int, int]) -> float:
    default, most = bounds
    if value is None:
        return now + default
    if not isinstance(value, str):
        raise _invalid(f"Invalid value at '{name}': expected an RFC 3339 timestamp.")
    try:
        parsed = datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise _invalid(f"Invalid value at '{name}' ({value!r}): expected an RFC 3339 timestamp.") from None
    if parsed.tzinfo is None:
        raise _invalid(f"Invalid value at '{name}' ({value!r}): the timestamp needs a time zone.")
    at = parsed.timestamp()
    if not now < at <= now + most:
        raise _invalid(f"'{name}' must be in the future and at most {most // 3600} hours away.")
    return at


def _rfc3339(at: float) -> str:
    return datetime.datetime.fromtimestamp(at, datetime.UTC).isoformat().replace("+00:00", "Z")


def mint_token(body: Any, now: float) -> NativeToken:
    """A token request as the SDK sends it (§9); raises ClientError for a 400."""
    if not isinstance(body, dict):
        raise _invalid("The request body must be a JSON object.")
    unknown = sorted(set(body) - FIELDS)
    if unknown:
        raise _invalid(f"Invalid JSON payload received. Unknown name {unknown[0]!r}.")
    uses = body.get("uses", 1)
    if uses != 1 or isinstance(uses, bool):
        raise _invalid("livegate issues single-use tokens: 'uses' must be 1 (its reconnects never need the token again).")
    expires_at = _time(body.get("expireTime"), "expireTime", now, EXPIRE_S)
    start_by = min(_time(body.get("newSessionExpireTime"), "newSessionExpireTime", now, NEW_SESSION_S), expires_at)
    setup = body.get("bidiGenerateContentSetup")
    if setup is not None and not isinstance(setup, dict):
        raise _invalid("Invalid value at 'bidiGenerateContentSetup': expected an object.")
    if setup and "setup" in setup:
        setup = setup["setup"]  # the SDK sends the setup's fields; some callers send {"setup": …}
        if not isinstance(setup, dict):
            raise _invalid("Invalid value at 'bidiGenerateContentSetup.setup': expected an object.")
    setup = dict(setup) if setup else {}
    model = setup.pop("model", None)
    if model is not None and (not isinstance(model, str) or not model):
        raise _invalid("Invalid value at 'bidiGenerateContentSetup.model': expected a model name.")
    secret = SECRET_PREFIX + secrets.token_urlsafe(24)
    response = {"name": TOKEN_PREFIX + secret, "uses": 1, "expireTime": _rfc3339(expires_at), "newSessionExpireTime": _rfc3339(start_by)}
    return NativeToken(secret, model, setup, expires_at, start_by, response)


def presented_token(value: str | None) -> str | None:
    """The ``ek_…`` secret of ``auth_tokens/ek_…`` as the SDK and the docs present it (§9), else None."""
    if value and value.startswith(TOKEN_PREFIX) and value[len(TOKEN_PREFIX) :].startswith(SECRET_PREFIX):
        return value[len(TOKEN_PREFIX) :]
    return None
