"""The emulator on real sockets: an aiohttp application around ``Connection`` and ``EmulatorState``.

The pump holds no protocol knowledge: it feeds frames and the clock to the connection, sends what
comes out, sleeps until the connection's next deadline, and answers pings (late, when told to).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import secrets
import ssl
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from aiohttp import WSMsgType, web
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from livegate.emulator.auth import create_auth_token, oauth_token
from livegate.emulator.connection import Close, Connection, Drop, SendFrame, SetPongDelay
from livegate.emulator.routes import credentials_from, route_for_path
from livegate.emulator.script import Fault
from livegate.emulator.state import EmulatorConfig, EmulatorState, Session
from livegate.sites import bound_port

__all__ = ["EmulatorServer"]

# Real audio frames are small; 16 MiB leaves room for large clientContent turns and images.
MAX_CLIENT_FRAME = 16 * 1024 * 1024


def _ids() -> Callable[[str], str]:
    counter = itertools.count(1)
    return lambda kind: f"{kind}-{next(counter)}-{secrets.token_hex(6)}"


class _Pump:
    def __init__(self, ws: web.WebSocketResponse, connection: Connection, request: web.Request) -> None:
        self.ws = ws
        self.connection = connection
        self.transport = request.transport
        self.wake = asyncio.Event()
        self.pong_delay = 0.0
        self._pongs: set[asyncio.Task[None]] = set()

    async def run(self) -> None:
        writer = asyncio.create_task(self._write())
        try:
            async for message in self.ws:
                if message.type is WSMsgType.BINARY or message.type is WSMsgType.TEXT:
                    self.connection.receive(message.data, time.time())
                    self.wake.set()
                elif message.type is WSMsgType.PING:
                    self._pong(message.data)
        finally:
            self.connection.connection_lost(time.time())
            writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await writer

    def _pong(self, data: bytes) -> None:
        if not self.pong_delay:
            task = asyncio.ensure_future(self.ws.pong(data))
        else:
            task = asyncio.ensure_future(self._late_pong(data))
        self._pongs.add(task)
        task.add_done_callback(self._pongs.discard)

    async def _late_pong(self, data: bytes) -> None:
        await asyncio.sleep(self.pong_delay)
        if not self.ws.closed:
            await self.ws.pong(data)

    async def _write(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            self.wake.clear()
            for action in self.connection.actions(time.time()):
                if isinstance(action, SendFrame):
                    await self.ws.send_bytes(action.data)
                elif isinstance(action, Close):
                    await self.ws.close(code=action.code, message=action.reason.encode())
                    return
                elif isinstance(action, Drop):
                    if self.transport is not None:
                        self.transport.abort()
                    return
                elif isinstance(action, SetPongDelay):
                    self.pong_delay = action.ms / 1000
            deadline = self.connection.next_deadline()
            if deadline is None:
                await self.wake.wait()
                continue
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout_at(loop.time() + max(0.0, deadline - time.time())):
                    await self.wake.wait()


class EmulatorServer:
    """A Gemini Live emulator listening on 127.0.0.1 (plain, and TLS when given a context).

    ``async with EmulatorServer(EmulatorConfig(...)) as emulator:`` then dial ``emulator.url``.
    """

    def __init__(
        self,
        config: EmulatorConfig | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        tls_port: int | None = None,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.state = EmulatorState(config or EmulatorConfig(), ids=_ids())
        self.host = host
        self.port = port
        self.tls_port = tls_port if tls_port is not None or ssl_context is None else 0
        self.ssl_context = ssl_context
        self._runner: web.AppRunner | None = None
        self._pumps: dict[Connection, _Pump] = {}
        self.app = web.Application(client_max_size=MAX_CLIENT_FRAME)
        self.app.router.add_post("/token", self._token)
        self.app.router.add_post(r"/{version:v1alpha|v1beta|v1}/auth_tokens", self._auth_tokens)
        self.app.router.add_get("/emulator/sessions", self._sessions)
        self.app.router.add_get("/emulator/sessions/{id}", self._session)
        self.app.router.add_get("/{tail:.*}", self._websocket)

    @property
    def config(self) -> EmulatorConfig:
        return self.state.config

    @property
    def url(self) -> str:
        return f"ws://{self.host}:{self.port}"

    @property
    def http_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def tls_url(self) -> str:
        return f"https://{self.host}:{self.tls_port}"

    async def start(self) -> None:
        self._runner = web.AppRunner(self.app, handle_signals=False, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port, reuse_address=True)
        await site.start()
        self.port = bound_port(site)
        if self.ssl_context is not None:
            tls = web.TCPSite(self._runner, self.host, self.tls_port or 0, ssl_context=self.ssl_context, reuse_address=True)
            await tls.start()
            self.tls_port = bound_port(tls)

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> EmulatorServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # ---- control, for tests and benchmarks ---------------------------------------------------

    def session(self, session_id: str | None = None) -> Session:
        """A session by id, or the only (or newest) one."""
        if session_id is not None:
            return self.state.sessions[session_id]
        return list(self.state.sessions.values())[-1]

    def inject(self, fault: Fault, session_id: str | None = None) -> bool:
        """Fire ``fault`` on the session's open connection now; False when none is open."""
        connection = self.session(session_id).open_connection
        if not isinstance(connection, Connection):
            return False
        connection.inject(fault, time.time())
        pump = self._pumps.get(connection)
        if pump is not None:
            pump.wake.set()
        return True

    def write_service_account(self, path: Path, *, project: str = "emulated-project", quota_project: str | None = None) -> dict[str, Any]:
        """Write a service-account key file whose ``token_uri`` is this emulator; its key is trusted here."""
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        email = f"livegate-test@{project}.iam.gserviceaccount.com"
        info: dict[str, Any] = {
            "type": "service_account",
            "project_id": project,
            "private_key_id": secrets.token_hex(20),
            "private_key": key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            ).decode(),
            "client_email": email,
            "client_id": str(secrets.randbits(64)),
            "token_uri": f"{self.http_url}/token",
        }
        if quota_project:
            info["quota_project_id"] = quota_project
        self.state.service_accounts[email] = key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        path.write_text(json.dumps(info))
        return info

    # ---- handlers ----------------------------------------------------------------------------

    async def _websocket(self, request: web.Request) -> web.StreamResponse:
        route = route_for_path(request.raw_path.partition("?")[0])
        if route is None:
            return _google_error(404, f"The requested URL {request.raw_path.partition('?')[0]} was not found on this server.", "NOT_FOUND")
        ws = web.WebSocketResponse(autoping=False, compress=False, max_msg_size=MAX_CLIENT_FRAME)
        if not ws.can_prepare(request).ok:
            return _google_error(400, "Expected a WebSocket upgrade.", "INVALID_ARGUMENT")
        await ws.prepare(request)
        headers = {k.lower(): v for k, v in request.headers.items()}
        connection = Connection(self.state, route, credentials_from(headers, request.query), time.time())
        pump = _Pump(ws, connection, request)
        self._pumps[connection] = pump
        try:
            await pump.run()
        finally:
            del self._pumps[connection]
        return ws

    async def _token(self, request: web.Request) -> web.Response:
        form = await request.post()
        status, body = oauth_token(self.state, {k: str(v) for k, v in form.items()}, time.time())
        return web.json_response(body, status=status)

    async def _auth_tokens(self, request: web.Request) -> web.Response:
        try:
            body = await request.json()
        except ValueError:
            return _google_error(400, "Invalid JSON payload received.", "INVALID_ARGUMENT")
        key = request.headers.get("x-goog-api-key") or request.query.get("key")
        status, reply = create_auth_token(self.state, key, body, time.time())
        return web.json_response(reply, status=status)

    async def _sessions(self, request: web.Request) -> web.Response:
        return web.json_response([s.snapshot() for s in self.state.sessions.values()])

    async def _session(self, request: web.Request) -> web.Response:
        session = self.state.sessions.get(request.match_info["id"])
        if session is None:
            return _google_error(404, "No such session.", "NOT_FOUND")
        return web.json_response(session.snapshot())


def _google_error(status: int, message: str, reason: str) -> web.Response:
    return web.json_response({"error": {"code": status, "message": message, "status": reason}}, status=status)
