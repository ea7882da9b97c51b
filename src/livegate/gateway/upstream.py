"""Reaching Gemini Live for a deployment: the URL, the credentials, the WebSocket.

AI Studio takes its API key in ``x-goog-api-key`` (never in the query, so it stays out of logs).
Vertex AI takes an OAuth2 access token from google-auth (a service account, user credentials, or
application default credentials), refreshed before it expires, plus ``x-goog-user-project`` when
the credentials carry a quota project (gemini-live.md §1).
"""

from __future__ import annotations

import asyncio
import dataclasses
import ssl as ssl_module
import time
from collections.abc import Callable
from typing import Any

import google.auth
import google.auth.credentials
import google.auth.exceptions
import google.auth.transport.requests
import picows
from google.auth import aws, identity_pool
from google.oauth2 import credentials as user_credentials
from google.oauth2 import service_account
from picows import WSListener, WSTransport

from livegate.config import Deployment
from livegate.errors import ConfigError, UpstreamError
from livegate.gateway.sockets import PICOWS_LOG, READ_BUFFER_BYTES
from livegate.gemini.models import Flavour

__all__ = ["TokenSource", "UpstreamConnector", "upstream_url"]

SCOPES = ["https://www.googleapis.com/auth/cloud-platform"]
REFRESH_MARGIN_S = 300  # refresh five minutes before expiry, well ahead of any live setup
STUDIO_HOST = "wss://generativelanguage.googleapis.com"
MAX_UPSTREAM_FRAME = 16 * 1024 * 1024
HANDSHAKE_TIMEOUT_S = 10.0


def upstream_url(deployment: Deployment, location: str | None = None) -> str:
    route = deployment.route if location is None else dataclasses.replace(deployment.route, location=location)
    if deployment.api_base:
        base = deployment.api_base.rstrip("/")
        base = "ws" + base[4:] if base.startswith("http") else base
    elif route.flavour is Flavour.AI_STUDIO:
        base = STUDIO_HOST
    else:
        location = route.location or "global"
        if location == "global" or route.project is None:
            base = "wss://aiplatform.googleapis.com"  # global and express mode (gemini-live.md §1.2)
        elif location in ("us", "eu"):
            base = f"wss://aiplatform.{location}.rep.googleapis.com"
        else:
            base = f"wss://{location}-aiplatform.googleapis.com"
    return base + route.path


class TokenSource:
    """OAuth2 access tokens for one Vertex deployment, refreshed ahead of expiry, one refresh at a time."""

    def __init__(self, credentials: Any) -> None:  # a google.auth.credentials.Credentials
        self.credentials = credentials
        self._lock = asyncio.Lock()

    @classmethod
    def for_deployment(cls, deployment: Deployment) -> TokenSource:
        info = deployment.vertex_credentials
        credentials: Any
        try:
            if info is None:
                credentials, _ = google.auth.default(scopes=SCOPES)
            else:
                credentials = _load(info)
                quota = info.get("quota_project_id")
                if quota and not getattr(credentials, "quota_project_id", None):
                    # google-auth reads quota_project_id from user credentials only; key files carry it too.
                    credentials = credentials.with_quota_project(quota)
        except (google.auth.exceptions.GoogleAuthError, ValueError, KeyError) as exc:
            raise ConfigError(f"{deployment.model_name}: vertex credentials: {exc}") from None
        return cls(credentials)

    @property
    def quota_project(self) -> str | None:
        project = getattr(self.credentials, "quota_project_id", None)
        return project if isinstance(project, str) else None

    def _fresh(self) -> bool:
        creds = self.credentials
        if not creds.token:
            return False
        expiry = creds.expiry
        return expiry is None or expiry.timestamp() - time.time() > REFRESH_MARGIN_S

    async def token(self) -> str:
        if not self._fresh():
            async with self._lock:
                if not self._fresh():
                    request = google.auth.transport.requests.Request()
                    try:
                        await asyncio.to_thread(self.credentials.refresh, request)
                    except google.auth.exceptions.GoogleAuthError as exc:
                        raise UpstreamError(1011, f"cannot get a Google access token: {exc}") from None
        return str(self.credentials.token)


def _load(info: dict[str, Any]) -> Any:  # google-auth's loaders are untyped
    """Credentials of the declared type, with google-auth's loader for that type."""
    kind = info.get("type")
    if kind == "service_account":
        return service_account.Credentials.from_service_account_info(info, scopes=SCOPES)
    if kind == "authorized_user":
        return user_credentials.Credentials.from_authorized_user_info(info, scopes=SCOPES)
    source = info.get("credential_source") or {}
    if str(source.get("environment_id", "")).startswith("aws"):
        return aws.Credentials.from_info(info, scopes=SCOPES)
    return identity_pool.Credentials.from_info(info, scopes=SCOPES)


class UpstreamConnector:
    """Opens Gemini Live WebSockets for one deployment, on picows (gateway/sockets.py says why)."""

    def __init__(self, deployment: Deployment, ssl: ssl_module.SSLContext | None = None, *, ping_s: float = 60.0) -> None:
        self.deployment = deployment
        self.ping_s = ping_s
        self.url = upstream_url(deployment)
        self.ssl = ssl
        self.tokens = (
            TokenSource.for_deployment(deployment)
            if deployment.route.flavour is Flavour.VERTEX and not deployment.api_key
            else None
        )

    async def headers(self) -> dict[str, str]:
        if self.tokens is None:
            return {"x-goog-api-key": self.deployment.api_key or ""}
        headers = {"Authorization": f"Bearer {await self.tokens.token()}"}
        if self.tokens.quota_project:
            headers["x-goog-user-project"] = self.tokens.quota_project
        return headers

    async def connect(self, location: str | None, listener: Callable[[], WSListener]) -> WSTransport:
        headers = await self.headers()
        url = upstream_url(self.deployment, location) if location is not None else self.url
        try:
            transport, _ = await picows.ws_connect(
                listener,
                url,
                ssl_context=self.ssl,
                extra_headers=headers,
                max_frame_size=MAX_UPSTREAM_FRAME,
                websocket_handshake_timeout=HANDSHAKE_TIMEOUT_S,
                logger_name=PICOWS_LOG,
                # Gemini answers pings late (8 to 30 s seen): half the interval is given for the pong.
                enable_auto_ping=True,
                auto_ping_idle_timeout=self.ping_s,
                auto_ping_reply_timeout=self.ping_s / 2,
                max_redirects=0,
                read_buffer_init_size=READ_BUFFER_BYTES,
            )
        except picows.WSHandshakeError as exc:
            status = exc.response.status if exc.response is not None else None
            raise UpstreamError(1011, f"Gemini Live refused the connection: HTTP {int(status) if status else 'response invalid'}") from None
        except (TimeoutError, picows.WSError, OSError) as exc:
            raise UpstreamError(1011, f"cannot reach Gemini Live at {url}: {type(exc).__name__}: {exc}") from None
        return transport
