"""The gateway on real sockets: ``/v1/realtime`` and ``/realtime`` for OpenAI Realtime clients, and
Google's own Gemini Live paths for Gemini Live clients (gemini.front).

Everything that can refuse a connection is decided before the upgrade, with an HTTP status and an
OpenAI-style JSON error body: the key, the model (lessons-from-peers.md (d) 11). The upstream is
not awaited before the upgrade (openai-realtime.md §1.5: clients give the handshake 10 s).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import itertools
import logging
import os
import ssl
import time
from collections.abc import Callable
from importlib import resources
from typing import Any

import aiohttp
import orjson
from aiohttp import web
from picows import WSTransport
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from livegate.accounting import Price
from livegate.config import Deployment, GatewayConfig, database_url, redis_url
from livegate.errors import ClientError, HandshakeError
from livegate.gateway.calls import WebRtcCall
from livegate.gateway.edge import EdgeRunner
from livegate.gateway.ice import ICE
from livegate.gateway.ledger import Ledger
from livegate.gateway.metrics import Metrics
from livegate.gateway.pump import CLOSE_WAIT_S, ClientListener, Messages, Pump, Settled
from livegate.gateway.sockets import hand_over
from livegate.gateway.upstream import UpstreamConnector
from livegate.gemini.front import NativeSession, model_id
from livegate.gemini.models import CATALOGUE
from livegate.gemini.tokens import mint_token, presented_token
from livegate.keys import Accounts, Grant
from livegate.leases import Leases, LeaseStoreError
from livegate.logs import SESSION_ID
from livegate.realtime.call import Call
from livegate.realtime.session import Session
from livegate.realtime.translator import StartUpstream, Translator
from livegate.secrets import NATIVE_KEY, SECRET_PREFIX, mint
from livegate.sites import bound_port
from livegate.store import UsageRecord, open_store

__all__ = ["Gateway", "session_ids"]

log = logging.getLogger("livegate")

INSECURE_KEY_PROTOCOL = "openai-insecure-api-key."
PLAYGROUND_FILES = {
    "index.html": "text/html",
    "playground.js": "text/javascript",
    "capture-worklet.js": "text/javascript",
    "playground.css": "text/css",
}
BETA_PROTOCOL = "openai-beta.realtime-v1"
KEY_CHECK_S = 5.0  # how often the keys of live sessions are checked again
CLIENT_PING_S = 20.0  # keepalive pings to clients (openai-realtime.md §1.5: clients ping every 20 s too)


def session_ids() -> Callable[[str], str]:
    """Ids as OpenAI writes them, prefix + "_" + 21 alphanumerics (§4.3): a random stem per
    connection and a counter, so an id costs no system call on the audio path."""
    stem = os.urandom(6).hex()
    counter = itertools.count(1)
    return lambda prefix: f"{prefix}_{stem}{next(counter):09x}"


# Google's own paths (gemini-live.md §2), in every API version the SDKs dial: google-genai asks for
# v1 when its base_url is set, v1beta or v1alpha otherwise, and v1beta1 on Vertex AI.
NATIVE_PATHS = (
    "/ws/google.ai.generativelanguage.v1.GenerativeService.BidiGenerateContent",
    "/ws/google.ai.generativelanguage.v1beta.GenerativeService.BidiGenerateContent",
    "/ws/google.ai.generativelanguage.v1alpha.GenerativeService.BidiGenerateContent",
    "/ws/google.cloud.aiplatform.v1beta1.LlmBidiService/BidiGenerateContent",
    "/ws/google.cloud.aiplatform.v1.LlmBidiService/BidiGenerateContent",
)
# Ephemeral tokens open sessions on these (gemini-live.md §9).
CONSTRAINED_PATHS = tuple(
    f"/ws/google.ai.generativelanguage.{version}.GenerativeService.BidiGenerateContentConstrained" for version in ("v1alpha", "v1beta", "v1")
)
GOOGLE_STATUS = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED", 404: "NOT_FOUND", 429: "RESOURCE_EXHAUSTED", 503: "UNAVAILABLE"}


def _google_error(status: int, message: str) -> web.Response:
    """A refusal in Google's JSON error shape (google.rpc.Status), as the native front's clients read it."""
    body = {"error": {"code": status, "message": message, "status": GOOGLE_STATUS.get(status, "UNKNOWN")}}
    return web.json_response(body, status=status)


def _error(status: int, message: str, code: str, error_type: str = "invalid_request_error", param: str | None = None) -> web.Response:
    body = {"error": {"message": message, "type": error_type, "code": code, "param": param}}
    return web.json_response(body, status=status)


class Gateway:
    def __init__(
        self,
        config: GatewayConfig,
        *,
        host: str = "127.0.0.1",
        port: int = 4000,
        master_key: str | None = None,
        upstream_ssl: ssl.SSLContext | None = None,
        reuse_port: bool = False,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.config = config
        self.host = host
        self.port = port
        self.master_key = master_key if master_key is not None else config.master_key
        self.upstream_ssl = upstream_ssl
        self.reuse_port = reuse_port  # several worker processes on one port (SO_REUSEPORT)
        self.ssl_context = ssl_context  # https:// and wss:// on the same port (issue 14)
        self.app = web.Application()
        for prefix in ("/v1", ""):
            self.app.router.add_get(f"{prefix}/realtime", self._realtime)
            self.app.router.add_post(f"{prefix}/realtime/client_secrets", self._client_secret)
            self.app.router.add_post(f"{prefix}/realtime/sessions", self._beta_session)
            self.app.router.add_post(f"{prefix}/realtime/calls", self._call)
            self.app.router.add_post(f"{prefix}/realtime", self._beta_call)
            self.app.router.add_post(f"{prefix}/realtime/calls/{{call_id}}/hangup", self._hangup)
        for path in NATIVE_PATHS:
            self.app.router.add_get(path, self._native)
        for path in CONSTRAINED_PATHS:
            self.app.router.add_get(path, self._native_constrained)
        for version in ("v1alpha", "v1beta", "v1"):
            self.app.router.add_post(f"/{version}/auth_tokens", self._native_token)
        self.app.router.add_get("/v1/models", self._models)
        self.app.router.add_get("/playground", self._playground_redirect)
        self.app.router.add_get("/playground/", self._playground)
        self.app.router.add_get("/playground/{name}", self._playground)
        self.app.router.add_get("/health", self._health)
        self.app.router.add_get("/ready", self._ready)
        self.app.router.add_get("/metrics", self._metrics)
        self._runner: web.AppRunner | None = None
        self.ledger: Ledger | None = None
        self._connectors: dict[str, UpstreamConnector] = {}
        self._pumps: dict[Pump, tuple[Grant, str]] = {}  # live sessions: their grant and lease
        self._calls: dict[str, tuple[WebRtcCall, Grant]] = {}  # live WebRTC calls by id, with their grant
        self._transports: dict[Pump, str] = {}  # live sessions' transports, for the metrics
        self.metrics = Metrics(lambda: [(p.traffic, p.translator.reconnects, p.translator.errors) for p in self._pumps])
        self.metrics.sessions_open.set_function(lambda: len(self._pumps))
        self.accounts: Accounts | None = None
        self._watch: asyncio.Task[None] | None = None
        self._renew: asyncio.Task[None] | None = None
        self._drained = asyncio.Event()  # set whenever no session is live
        self._sessions: set[asyncio.Task[None]] = set()
        self._site: web.TCPSite | None = None
        self.accepting = True

    @property
    def url(self) -> str:
        return f"{'http' if self.ssl_context is None else 'https'}://{self.host}:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"{'ws' if self.ssl_context is None else 'wss'}://{self.host}:{self.port}/v1"

    async def start(self) -> None:
        prices: dict[str, Price | None] = {d.route.model_id: d.price for d in self.config.deployments.values() if d.price is not None}
        shared = redis_url(self.config)
        leases = Leases(shared, self.config.limits.lease_s) if shared else None
        self.accounts = Accounts(await open_store(database_url(self.config)), master_key=self.master_key, prices=prices, leases=leases)
        self._watch = asyncio.create_task(self._watch_keys())
        self._renew = asyncio.create_task(self._renew_leases()) if leases is not None else None
        self.ledger = Ledger(self.accounts)
        # Credentials are loaded now, so a bad key file stops the start instead of the first call.
        for name, deployment in self.config.deployments.items():
            if name != "*":
                self._connectors[name] = self._new_connector(deployment)
        # A malformed request gets a fixed 400, and aiohttp's logs never quote a request (issue 13).
        self._runner = EdgeRunner(self.app, handle_signals=False, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(
            self._runner, self.host, self.port, ssl_context=self.ssl_context, reuse_address=True, reuse_port=self.reuse_port or None
        )
        await site.start()
        self._site = site
        self.port = bound_port(site)

    async def stop(self, grace_s: float = 0.0) -> None:
        """Stop accepting; give live sessions ``grace_s`` to finish; close the rest with 1001 and a
        final error event saying why (issue 7)."""
        self.accepting = False
        if self._site is not None:
            server = self._site._server
            if server is not None:
                server.close()  # the listening socket only: live connections go on
        if self._pumps and grace_s > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._drained.wait(), grace_s)
        for pump in list(self._pumps):
            pump.shut_down()
        if self._sessions:
            # Each session's task ends when its client has gone (after the close frame, or CLOSE_WAIT_S
            # without the client's answer), once its usage is written.
            await asyncio.wait(set(self._sessions), timeout=2 * CLOSE_WAIT_S)
        for task in (self._watch, self._renew):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self.ledger is not None:
            await self.ledger.close()
            self.ledger = None
        if self.accounts is not None:
            await self.accounts.store.close()
            if self.accounts.leases is not None:
                await self.accounts.leases.close()
            self.accounts = None

    async def __aenter__(self) -> Gateway:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def _connector(self, deployment: Deployment) -> UpstreamConnector:
        # The names a wildcard serves share its connector (its URL and credentials): one per name was
        # a connector, a deployment and, on Vertex, credentials of their own for every name a client
        # made up, kept for the life of the process (issue 13).
        name = deployment.model_name if deployment.model_name in self.config.deployments else "*"
        connector = self._connectors.get(name)
        if connector is None:
            connector = self._new_connector(self.config.deployments[name])
            self._connectors[name] = connector
        return connector

    def _new_connector(self, deployment: Deployment) -> UpstreamConnector:
        return UpstreamConnector(deployment, self.upstream_ssl, ping_s=self.config.limits.upstream_ping_s)

    # ---- handshake ---------------------------------------------------------------------------

    @staticmethod
    def _presented_key(request: web.Request, offered: list[str]) -> str | None:
        auth = request.headers.get("Authorization", "")
        key = auth[7:].strip() if auth[:7].lower() == "bearer " else request.headers.get("api-key")
        for protocol in offered:
            if protocol.startswith(INSECURE_KEY_PROTOCOL):
                key = key or protocol[len(INSECURE_KEY_PROTOCOL) :]
        return key or None

    async def _realtime(self, request: web.Request) -> web.StreamResponse:
        offered = [p.strip() for p in request.headers.get("Sec-WebSocket-Protocol", "").split(",") if p.strip()]
        if not self.accepting:
            return _error(503, "livegate is shutting down.", "server_shutting_down", "server_error")
        assert self.accounts is not None
        if "call_id" in request.query and "model" not in request.query:
            return await self._sideband(request, offered)
        try:
            model = request.query.get("model")
            if not model:
                raise HandshakeError(400, "Missing required parameter: 'model'.", code="missing_required_parameter")
            grant = await self.accounts.authorize(self._presented_key(request, offered), model, time.time())
            deployment = self.config.deployment(model)
            if deployment is None:
                raise HandshakeError(404, f"The model '{model}' does not exist or you do not have access to it.", code="model_not_found")
        except HandshakeError as exc:
            return self._refuse(exc)
        if not web.WebSocketResponse().can_prepare(request).ok:
            return _error(400, "Expected a WebSocket upgrade.", "invalid_request")
        try:
            lease = await self.accounts.claim(grant, time.time())
        except HandshakeError as exc:
            return self._refuse(exc)
        beta = "realtime=v1" in request.headers.get("OpenAI-Beta", "") or BETA_PROTOCOL in offered
        limits = self.config.limits
        translator = Translator(
            route=deployment.route,
            model=model,
            beta=beta,
            ids=session_ids(),
            now=time.time(),
            max_frame_bytes=limits.max_frame_bytes,
            idle_timeout_s=limits.idle_timeout_s,
            max_session_s=limits.max_session_s,
            bound=(grant.secret.bound(), grant.secret.beta) if grant.secret is not None else None,
            respond_to_user_items=self.config.respond(deployment),
        )
        session_id = translator.session_id
        SESSION_ID.set(session_id)  # on every log line of this session, including its tasks'
        log.info(
            "session started: model %s -> %s (%s)%s, key %s",
            model, deployment.route.model_id, deployment.route.flavour.value, " beta" if beta else "",
            grant.key.prefix if grant.key else ("ephemeral" if grant.secret else "master"),
        )  # fmt: skip
        account = self._accountant(grant, session_id, lambda: model, lambda: deployment.route.model_id, lambda *end: pump.end(*end))
        pump = Pump(
            translator, self._connector(deployment), write_timeout_s=limits.client_write_timeout_s, on_response=account,
            observe_latency=self.metrics.latency.observe, max_message_bytes=4 * limits.max_frame_bytes,
        )  # fmt: skip
        # Browsers need a selected subprotocol; never the one carrying the key (openai-realtime.md §1.5).
        # Frames past the configured limit get an error event (the translator); past four times it,
        # the socket closes with 1009 before buffering more.
        if not hand_over(
            request, ClientListener(pump), protocol="realtime" if "realtime" in offered else None,
            max_frame_bytes=4 * limits.max_frame_bytes, ping_s=CLIENT_PING_S,
        ):  # fmt: skip
            await self.accounts.release(grant, lease)
            return web.Response(status=400)  # nobody is there to read it
        self.metrics.sessions.inc()
        self._pumps[pump] = (grant, lease)
        self._drained.clear()
        # The session lives in a task of its own: aiohttp's handler and request are let go now.
        self._opened(pump, "websocket")
        task = asyncio.create_task(self._session(pump, grant, lease, model))
        self._sessions.add(task)
        task.add_done_callback(self._sessions.discard)
        # aiohttp no longer holds the connection (gateway/sockets.py): this response goes nowhere.
        return web.Response()

    # ---- WebRTC calls (issue 16) ------------------------------------------------------------

    async def _call(self, request: web.Request) -> web.StreamResponse:
        return await self._open_call(request, beta=False)

    async def _beta_call(self, request: web.Request) -> web.StreamResponse:
        return await self._open_call(request, beta=True)

    async def _open_call(self, request: web.Request, *, beta: bool) -> web.StreamResponse:
        """``POST /v1/realtime/calls`` (GA) or ``POST /v1/realtime?model=`` (beta): an SDP offer, alone
        (application/sdp) or with a GA session (multipart: ``sdp`` and ``session`` parts), answered
        with 201, the SDP answer and the call's Location (openai-realtime.md §8)."""
        if not self.accepting:
            return _error(503, "livegate is shutting down.", "server_shutting_down", "server_error")
        assert self.accounts is not None
        key = self._presented_key(request, [])
        now = time.time()
        try:
            if not (key or "").startswith(SECRET_PREFIX):
                await self.accounts.identify(key, now)  # OpenAI checks the key before the body
            offer, session = await self._offer(request)
            model = session.pop("model", None) if session is not None else None
            model = model or request.query.get("model")
            grant = await self.accounts.authorize(key, model, now)
            if grant.secret is not None:
                model, beta = grant.secret.model, grant.secret.beta
            model = model or "gpt-realtime"
            if not isinstance(model, str):
                raise ClientError("Invalid type for 'session.model': expected a string.", code="invalid_type", param="session.model")
            deployment = self.config.deployment(model)
            if deployment is None:
                raise HandshakeError(404, f"The model '{model}' does not exist or you do not have access to it.", code="model_not_found")
            bound = (grant.secret.bound(), grant.secret.beta) if grant.secret is not None else None
            if session is not None:
                Session(model, "sess", now).update(session, beta=False)  # refused here as a session.update would be
                bound = (session, False)
            lease = await self.accounts.claim(grant, now)
        except ClientError as exc:
            return _error(400, exc.message, exc.code, exc.error_type, exc.param)
        except HandshakeError as exc:
            return self._refuse(exc)
        limits = self.config.limits
        ids = session_ids()
        translator = Translator(
            route=deployment.route, model=model, beta=beta, ids=ids, now=now, max_frame_bytes=limits.max_frame_bytes,
            idle_timeout_s=limits.idle_timeout_s, max_session_s=limits.max_session_s, bound=bound,
            respond_to_user_items=self.config.respond(deployment),
        )  # fmt: skip
        core = Call(translator)
        call_id = ids("rtc")
        SESSION_ID.set(translator.session_id)
        account = self._accountant(grant, translator.session_id, lambda: model, lambda: deployment.route.model_id, lambda *end: pump.end(*end))
        pump = Pump(
            core, self._connector(deployment), write_timeout_s=limits.client_write_timeout_s, on_response=account,
            observe_latency=self.metrics.latency.observe, max_message_bytes=4 * limits.max_frame_bytes,
        )  # fmt: skip
        ICE.set(self.config.ice)  # in this request's context only: the call's ICE agent is made below
        call = WebRtcCall(call_id, core, pump)
        try:
            answer = await call.answer(offer)
        except Exception as exc:  # aiortc refuses an offer it cannot read with ValueError, or worse
            await self.accounts.release(grant, lease)
            await call.pc.close()
            return _error(400, f"The SDP offer could not be accepted: {type(exc).__name__}.", "invalid_offer", param="sdp")
        log.info("call %s started: model %s -> %s%s", call_id, model, deployment.route.model_id, " beta" if beta else "")
        self.metrics.sessions.inc()
        self._pumps[pump] = (grant, lease)
        self._opened(pump, "webrtc")
        self._calls[call_id] = (call, grant)
        self._drained.clear()
        task = asyncio.create_task(self._session(pump, grant, lease, model))
        self._sessions.add(task)
        task.add_done_callback(self._sessions.discard)
        task.add_done_callback(lambda _: self._calls.pop(call_id, None))
        return web.Response(status=201, text=answer, content_type="application/sdp", headers={"Location": f"/v1/realtime/calls/{call_id}"})

    @staticmethod
    async def _offer(request: web.Request) -> tuple[str, dict[str, Any] | None]:
        """The SDP offer and the GA session of a call's request."""
        if request.content_type == "multipart/form-data":
            offer, session = None, None
            reader = await request.multipart()
            async for part in reader:
                if not isinstance(part, aiohttp.BodyPartReader):
                    continue
                if part.name == "sdp":
                    offer = await part.text()
                elif part.name == "session":
                    try:
                        session = orjson.loads(await part.read())
                    except orjson.JSONDecodeError:
                        raise ClientError("The 'session' part is not JSON.", code="invalid_json", param="session") from None
                    if not isinstance(session, dict):
                        raise ClientError("Invalid type for 'session': expected an object.", code="invalid_type", param="session")
        elif request.content_type in ("application/sdp", "text/plain"):
            offer, session = await request.text(), None
        else:
            raise ClientError("Send the SDP offer as application/sdp, or as multipart/form-data with an 'sdp' part.", code="invalid_request_error")
        if not offer or not offer.lstrip().startswith("v=0"):
            raise ClientError("Missing required parameter: 'sdp' (an SDP offer).", code="missing_required_parameter", param="sdp")
        return offer, session

    async def _hangup(self, request: web.Request) -> web.Response:
        """``POST /v1/realtime/calls/{call_id}/hangup``, by the key the call runs on or the master key."""
        found = self._calls.get(request.match_info["call_id"])
        try:
            caller = await self._call_owner(request, found)
        except HandshakeError as exc:
            return _error(exc.status, exc.message, exc.code)
        if found is None or caller is False:
            return _error(404, f"Call not found: {request.match_info['call_id']}", "call_not_found")
        found[0].hang_up()
        return web.Response(status=200)

    async def _call_owner(self, request: web.Request, found: tuple[WebRtcCall, Grant] | None, offered: list[str] | None = None) -> bool:
        """Whether the request's key may control the call: its own key, or the master key. Ephemeral
        keys never: a sideband and a hang-up are the server's (openai-realtime.md §8)."""
        assert self.accounts is not None
        key = self._presented_key(request, offered or [])
        record = await self.accounts.identify(key, time.time())
        if found is None:
            return False
        grant = found[1]
        if record is None:
            return self.accounts.open_mode or self._is_master(key) or grant.key is None
        return grant.key is not None and grant.key.id == record.id

    def _is_master(self, key: str | None) -> bool:
        return self.master_key is not None and key == self.master_key

    async def _sideband(self, request: web.Request, offered: list[str]) -> web.StreamResponse:
        """``/v1/realtime?call_id=``: a server's WebSocket joined to a call, seeing its events and
        sending its own (openai-realtime.md §8)."""
        found = self._calls.get(request.query["call_id"])
        try:
            allowed = await self._call_owner(request, found, offered)
        except HandshakeError as exc:
            return self._refuse(exc)
        if found is None or not allowed:
            return _error(404, f"Call not found: {request.query['call_id']}", "call_not_found")
        if not web.WebSocketResponse().can_prepare(request).ok:
            return _error(400, "Expected a WebSocket upgrade.", "invalid_request")
        call = found[0]
        limits = self.config.limits
        if not hand_over(
            request, SidebandListener(call), protocol="realtime" if "realtime" in offered else None,
            max_frame_bytes=4 * limits.max_frame_bytes, ping_s=CLIENT_PING_S,
        ):  # fmt: skip
            return web.Response(status=400)
        return web.Response()

    # ---- the native Gemini Live front (issue 15) ----------------------------------------------

    @staticmethod
    def _google_key(request: web.Request) -> str | None:
        """Where Gemini Live clients put a key: ``x-goog-api-key``, ``?key=`` (AI Studio), or a bearer
        token (Vertex AI: the SDK sends its credentials' access token)."""
        auth = request.headers.get("Authorization", "")
        bearer = auth[7:].strip() if auth[:7].lower() == "bearer " else None
        return request.headers.get("x-goog-api-key") or request.query.get("key") or bearer or None

    def _native_deployment(self, requested: str) -> Deployment | None:
        """The deployment a setup names: by ``model_name``, or by the Gemini model id when exactly one
        deployment serves it; the embedded emulator's wildcard serves any name."""
        deployments = self.config.deployments
        if requested in deployments and requested != "*":
            return deployments[requested]
        serving = [d for name, d in deployments.items() if name != "*" and d.route.model_id == requested]
        if len(serving) == 1:
            return serving[0]
        return self.config.deployment(requested) if not serving and "*" in deployments else None

    async def _native_constrained(self, request: web.Request) -> web.StreamResponse:
        return await self._native(request, constrained=True)

    async def _native_token(self, request: web.Request) -> web.Response:
        """``POST /v1alpha/auth_tokens`` in Google's shape (gemini-live.md §9), for a livegate key."""
        assert self.accounts is not None
        now = time.time()
        try:
            grant = await self.accounts.authorize(self._google_key(request), None, now)
            try:
                token = mint_token(await request.json(), now)
            except ValueError:
                return _google_error(400, "Invalid JSON payload received.")
            deployment = self._native_deployment(model_id(token.model)) if token.model else None
            if token.model and deployment is None:
                return _google_error(404, f"models/{model_id(token.model)} is not found for API version v1alpha.")
            if grant.key is not None and grant.key.models and (deployment is None or deployment.model_name not in grant.key.models):
                return _google_error(403, "This API key may only issue tokens for its models: name one in bidiGenerateContentSetup.model.")
            await self.accounts.issue_token(grant, token, deployment.model_name if deployment is not None else "")
        except ClientError as exc:
            return _google_error(400, exc.message)
        except HandshakeError as exc:
            return _google_error(exc.status, exc.message)
        return web.json_response(token.body)

    async def _native(self, request: web.Request, *, constrained: bool = False) -> web.StreamResponse:
        if not self.accepting:
            return _google_error(503, "livegate is shutting down.")
        assert self.accounts is not None
        try:
            if constrained:
                # The docs put the token in ?access_token=, the SDK in "Authorization: Token" and x-goog-api-key.
                auth = request.headers.get("Authorization", "")
                offered = request.query.get("access_token") or (auth[6:].strip() if auth[:6].lower() == "token " else None) or request.headers.get("x-goog-api-key")
                secret = presented_token(offered)
                if secret is None:
                    raise HandshakeError(401, "Missing ephemeral token: send ?access_token=auth_tokens/….", code="missing_api_key")
                grant = await self.accounts.authorize(secret, None, time.time(), native=True)
            else:
                grant = await self.accounts.authorize(self._google_key(request), None, time.time())
            if not web.WebSocketResponse().can_prepare(request).ok:
                return _google_error(400, "Expected a WebSocket upgrade.")
            lease = await self.accounts.claim(grant, time.time())
        except HandshakeError as exc:
            self.metrics.refusals.labels(str(exc.status), exc.code).inc()
            return _google_error(exc.status, exc.message)
        limits = self.config.limits
        allowed = frozenset(grant.key.models) if grant.key is not None and grant.key.models else None
        locked, max_session_s = None, limits.max_session_s
        if grant.secret is not None:
            bound = grant.secret.bound()
            locked = bound[NATIVE_KEY]
            allowed = frozenset({grant.secret.model}) if grant.secret.model else allowed
            left = float(bound["expires_at"]) - time.time()  # the token's expireTime ends the session (§9)
            max_session_s = min(left, max_session_s) if max_session_s else left
        session = NativeSession(
            resolve=self._native_deployment,
            ids=session_ids(),
            now=time.time(),
            allowed_models=allowed,
            locked=locked,
            max_frame_bytes=limits.max_frame_bytes,
            idle_timeout_s=limits.idle_timeout_s,
            max_session_s=max_session_s,
        )
        SESSION_ID.set(session.session_id)
        log.info("native session started, key %s", grant.key.prefix if grant.key else "master")
        account = self._accountant(grant, session.session_id, lambda: session.model, lambda: session.upstream_model, lambda *end: pump.end(*end))

        def connector(start: StartUpstream) -> UpstreamConnector:
            assert session.deployment is not None  # a connection starts with the setup that named it
            return self._connector(session.deployment)

        pump = Pump(
            session, connector, write_timeout_s=limits.client_write_timeout_s, on_response=account,
            observe_latency=self.metrics.latency.observe, max_message_bytes=4 * limits.max_frame_bytes,
        )  # fmt: skip
        if not hand_over(request, ClientListener(pump), protocol=None, max_frame_bytes=4 * limits.max_frame_bytes, ping_s=CLIENT_PING_S):
            await self.accounts.release(grant, lease)
            return web.Response(status=400)
        self.metrics.sessions.inc()
        self._pumps[pump] = (grant, lease)
        self._drained.clear()
        self._opened(pump, "gemini-live")
        task = asyncio.create_task(self._session(pump, grant, lease, "gemini-live"))
        self._sessions.add(task)
        task.add_done_callback(self._sessions.discard)
        return web.Response()

    def _opened(self, pump: Pump, transport: str) -> None:
        self._transports[pump] = transport
        self.metrics.transport_sessions.labels(transport).inc()
        self.metrics.transport_open.labels(transport).inc()

    def _accountant(
        self, grant: Grant, session_id: str, model: Callable[[], str], upstream_model: Callable[[], str], end: Callable[[str, str, int], None]
    ) -> Callable[[Settled], None]:
        """What records a session's settled responses: priced in the ledger's next batch, counted in
        the metrics, and the session ended once it has cost more than ``max_session_cost_usd``."""
        ledger, metrics = self.ledger, self.metrics
        assert ledger is not None
        cap = self.config.max_session_cost_usd
        session_cost = 0.0

        def stored(record: UsageRecord) -> None:
            nonlocal session_cost
            upstream = record.upstream_model
            metrics.tokens.labels(upstream, "input").inc(record.usage.get("input_tokens", 0))
            metrics.tokens.labels(upstream, "output").inc(record.usage.get("output_tokens", 0))
            if record.cost_usd is None:
                metrics.unpriced.labels(upstream).inc()
                return
            metrics.cost.labels(upstream).inc(record.cost_usd)
            session_cost += record.cost_usd
            if cap is not None and session_cost > cap:
                end("session_cost_limit", f"This session has cost more than its limit of ${cap:g}.", 1008)

        def account(response: Settled) -> None:
            if response.usage is not None:
                record = UsageRecord(
                    response.id, grant.key.id if grant.key else None, model(), upstream_model(), session_id,
                    time.time(), response.status, response.usage,
                )  # fmt: skip
                ledger.add(record, stored)

        return account

    async def _session(self, pump: Pump, grant: Grant, lease: str, model: str) -> None:
        assert self.accounts is not None and self.ledger is not None
        translator = pump.translator
        session_id = translator.session_id
        started = time.time()
        try:
            await self.accounts.begin(grant, session_id, model, time.time())
            await pump.run()
        finally:
            await self.ledger.flush()  # the session's usage is counted before it is seen to end
            del self._pumps[pump]
            transport = self._transports.pop(pump, None)
            if transport is not None:
                self.metrics.transport_open.labels(transport).dec()
            self.metrics.retire(pump.traffic, translator.reconnects, translator.errors)
            traffic = pump.traffic
            log.info(
                "session ended after %.1f s: frames in %d out %d, upstream connections %d, reconnects %s, errors %s",
                time.time() - started, traffic.client_in_frames, traffic.client_out_frames, translator.upstream_connections,
                dict(translator.reconnects) or "none", dict(translator.errors) or "none",
            )  # fmt: skip
            await self.accounts.end(grant, lease, session_id, time.time())
            if not self._pumps:
                self._drained.set()

    def _refuse(self, exc: HandshakeError) -> web.Response:
        self.metrics.refusals.labels(str(exc.status), exc.code).inc()
        return _error(exc.status, exc.message, exc.code)

    # ---- ephemeral keys (openai-realtime.md §7) ----------------------------------------------

    async def _client_secret(self, request: web.Request) -> web.Response:
        return await self._mint(request, beta=False)

    async def _beta_session(self, request: web.Request) -> web.Response:
        return await self._mint(request, beta=True)

    async def _mint(self, request: web.Request, *, beta: bool) -> web.Response:
        assert self.accounts is not None
        key = self._presented_key(request, [])
        now = time.time()
        try:
            # OpenAI checks the key before the body: a bad body from an unknown caller is a 401, not a 400.
            await self.accounts.identify(key, now)
        except HandshakeError as exc:
            return _error(exc.status, exc.message, exc.code)
        try:
            body = await request.json()
        except ValueError:
            return _error(400, "We could not parse the JSON body of your request.", "invalid_json")
        try:
            minted = mint(body, beta=beta, now=now, session_id=session_ids()("sess"))
        except ClientError as exc:
            return _error(400, exc.message, exc.code, exc.error_type, exc.param)
        try:
            grant = await self.accounts.authorize(key, minted.model, now)
            if self.config.deployment(minted.model) is None:
                raise HandshakeError(404, f"The model '{minted.model}' does not exist or you do not have access to it.", code="model_not_found")
            await self.accounts.issue_secret(grant, minted)
        except HandshakeError as exc:
            return _error(exc.status, exc.message, exc.code)
        return web.json_response(minted.body)

    async def _watch_keys(self) -> None:
        """Live sessions on a key revoked or expired since they began end within KEY_CHECK_S."""
        while True:
            await asyncio.sleep(KEY_CHECK_S)
            try:
                await self._check_keys()
            except Exception as exc:  # the database went away for a moment: check again next time
                log.warning("could not re-check the keys of live sessions: %s", exc)

    async def _check_keys(self) -> None:
        # A method of its own: the loop's variables die with it, so the last session checked is not
        # held in _watch_keys's frame after it ends (issue 13).
        assert self.accounts is not None
        verdicts: dict[str, str | None] = {}  # one look-up per key, however many sessions it has
        for pump, (grant, _) in list(self._pumps.items()):
            if grant.key is not None:
                if grant.key.id not in verdicts:
                    verdicts[grant.key.id] = await self.accounts.still_valid(grant.key, time.time())
                reason = verdicts[grant.key.id]
                if reason is not None:
                    pump.end("invalid_api_key", reason, 1008)

    async def _renew_leases(self) -> None:
        """With Redis: this instance's session leases, renewed every third of their life."""
        assert self.accounts is not None and self.accounts.leases is not None
        while True:
            await asyncio.sleep(self.accounts.leases.lease_s / 3)
            try:
                await self.accounts.renew(list(self._pumps.values()))
            except LeaseStoreError as exc:
                log.warning("could not renew session leases: %s", exc)

    # ---- models and the playground -----------------------------------------------------------

    async def _models(self, request: web.Request) -> web.Response:
        """OpenAI's model list, with what livegate serves each name with (and its price) under ``livegate``."""
        assert self.accounts is not None
        try:
            key = await self.accounts.identify(self._presented_key(request, []), time.time())
        except HandshakeError as exc:
            return _error(exc.status, exc.message, exc.code)
        names = [name for name in self.config.deployments if name != "*"]
        if "*" in self.config.deployments:  # the embedded emulator: every Gemini Live model of its backend, and an alias
            flavour = self.config.deployments["*"].route.flavour
            names += ["gpt-realtime", *(m.id for m in CATALOGUE.values() if flavour in m.backends)]
        data = []
        for name in dict.fromkeys(names):
            deployment = self.config.deployment(name)
            if deployment is None or (key is not None and key.models and name not in key.models):
                continue
            price = self.accounts.price(deployment.route.model_id)
            extra = {"backend": deployment.route.flavour.value, "upstream_model": deployment.route.model_id, "price": dataclasses.asdict(price) if price else None}
            data.append({"id": name, "object": "model", "created": 0, "owned_by": "livegate", "livegate": extra})
        return web.json_response({"object": "list", "data": data})

    async def _playground_redirect(self, request: web.Request) -> web.Response:
        raise web.HTTPFound("/playground/")

    async def _playground(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info.get("name") or "index.html"
        if name not in PLAYGROUND_FILES:
            raise web.HTTPNotFound()
        body = (resources.files("livegate") / "playground" / name).read_bytes()
        # Nothing but this gateway: the page's scripts, its API and its WebSocket (issue 9).
        policy = "default-src 'self'; connect-src 'self' ws: wss:; img-src 'self' data: blob:; media-src 'self' blob:; object-src 'none'; base-uri 'none'"
        headers = {"Content-Security-Policy": policy, "Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"}
        return web.Response(body=body, content_type=PLAYGROUND_FILES[name], headers=headers)

    async def _health(self, request: web.Request) -> web.Response:
        """Liveness: the process answers."""
        return web.json_response({"status": "ok", "pid": os.getpid()})

    async def _ready(self, request: web.Request) -> web.Response:
        """Readiness: accepting sessions and the database answers (503 while draining or when it does not)."""
        if not self.accepting or self.accounts is None:
            return web.json_response({"status": "draining"}, status=503)
        try:
            async with asyncio.timeout(2):
                await self.accounts.store.ping()
        except Exception as exc:  # any driver error means not ready
            log.warning("not ready: the database does not answer: %s", exc)
            return web.json_response({"status": "database unavailable"}, status=503)
        if self.accounts.leases is not None:
            try:
                await self.accounts.leases.ping()
            except LeaseStoreError as exc:
                log.warning("not ready: Redis does not answer: %s", exc)
                return web.json_response({"status": "redis unavailable"}, status=503)
        return web.json_response({"status": "ready", "sessions": len(self._pumps)})

    async def _metrics(self, request: web.Request) -> web.Response:
        return web.Response(body=generate_latest(self.metrics.registry), headers={"Content-Type": CONTENT_TYPE_LATEST})


class SidebandListener(Messages):
    """A sideband socket's messages into its call's pump; its leaving does not end the call."""

    def __init__(self, call: WebRtcCall) -> None:
        self.call = call

    def on_ws_connected(self, transport: WSTransport) -> None:
        self.call.join(transport)

    def message(self, data: bytes) -> None:
        self.call.pump.client_message(data)

    def on_ws_disconnected(self, transport: WSTransport) -> None:
        self.call.leave(transport)
