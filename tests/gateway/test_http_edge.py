"""The HTTP edge on a real process: a malformed request gets a fixed 400 that echoes nothing, and no log
line carries a header value, at any log level (issue 13)."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import os
import secrets
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import websockets
from aiohttp.http_exceptions import BadHttpMessage

from livegate.gateway.edge import guard_aiohttp_logs
from livegate.keys import create_key_record, new_key, shown
from livegate.logs import JsonFormatter, TextFormatter
from livegate.store import open_store
from tests.net import free_port, wait_for_port

PATH = "/v1/realtime?model=gpt-realtime"
LIMIT = 8190  # aiohttp's max_line_size and max_field_size
SHOWN = len(shown(new_key())) - 1  # how much of a key `keys list` and the logs show: its first characters
# The same bytes for every malformed request, in OpenAI's error shape.
FIXED_ERROR = {
    "error": {
        "message": "Malformed HTTP request: the request line or a header is invalid or longer than 8190 bytes.",
        "type": "invalid_request_error",
        "code": "malformed_request",
        "param": None,
    }
}


def request(*headers: bytes, target: bytes = PATH.encode(), line: bytes | None = None) -> bytes:
    start = line if line is not None else b"GET " + target + b" HTTP/1.1"
    return start + b"\r\nHost: 127.0.0.1\r\n" + b"".join(h + b"\r\n" for h in headers) + b"\r\n"


def _split(key: str, byte: bytes) -> bytes:
    middle = len(key) // 2
    return key[:middle].encode() + byte + key[middle:].encode()


# Each case puts the key where aiohttp's parser stops and quotes what it read.
MALFORMED: dict[str, Callable[[str], bytes]] = {
    "bare CR in the key": lambda key: request(b"Authorization: Bearer " + _split(key, b"\r")),
    "obs-fold carrying the key": lambda key: request(b"Authorization: Bearer", b" " + key.encode()),
    "NUL in the key": lambda key: request(b"Authorization: Bearer " + _split(key, b"\x00")),
    "header over 8190 bytes": lambda key: request(b"Authorization: Bearer " + key.encode() + b"A" * LIMIT),
    "bad request line": lambda key: request(line=b"GET /v1/realtime?key=" + key.encode() + b" HTTP/1.1 junk"),
    "URL over 8190 bytes": lambda key: request(target=b"/v1/realtime?key=" + key.encode() + b"&pad=" + b"a" * LIMIT),
}


def pieces(key: str, size: int) -> list[bytes]:
    """Every run of ``size`` characters of the key: finds it even when a CR or NUL split it in two."""
    return [key[i : i + size].encode() for i in range(len(key) - size + 1)]


def leaked(data: bytes, key: str, size: int) -> bytes | None:
    return next((piece for piece in pieces(key, size) if piece in data), None)


async def exchange(port: int, data: bytes) -> bytes:
    """Raw bytes in; everything the gateway writes until it closes the connection."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    received = b""
    try:
        writer.write(data)
        await writer.drain()
        async with asyncio.timeout(5):
            while chunk := await reader.read(65536):
                received += chunk
    except ConnectionResetError:  # the gateway closed with our unread bytes still queued: it answered first
        pass
    finally:
        writer.close()
    return received


def status_and_body(response: bytes) -> tuple[int, bytes]:
    head, _, body = response.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), body


def as_json(body: bytes) -> object:
    try:
        return json.loads(body)
    except ValueError:
        return None


@pytest.mark.parametrize(
    "log_options", [[], ["--log-level", "debug"], ["--log-level", "debug", "--log-format", "json"]], ids=["default", "debug", "debug-json"]
)
async def test_malformed_requests_get_a_fixed_400_and_no_log_carries_a_key(tmp_path: Path, log_options: list[str]) -> None:
    database = f"sqlite:///{tmp_path}/edge.db"
    store = await open_store(database)
    try:
        keys = {name: new_key() for name in [*MALFORMED, "subprotocol"]}  # one virtual key per case: a leak names its case
        for name, key in keys.items():
            await store.add_key(create_key_record(key, name))
    finally:
        await store.close()
    master = "sk-master-" + secrets.token_urlsafe(24)
    port = free_port()
    env = dict(os.environ, LIVEGATE_DATABASE_URL=database)
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "livegate", "serve", "--port", str(port), "--master-key", master, *log_options,
        env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    responses: dict[str, bytes] = {}
    try:
        await wait_for_port(port)
        for name, build in MALFORMED.items():
            responses[name] = await exchange(port, build(keys[name]))
            responses[f"{name}, master key"] = await exchange(port, build(master))
        # Sanity: well-formed requests still reach livegate, which answers them as before.
        wrong = new_key()
        responses["wrong key"] = await exchange(port, request(b"Authorization: Bearer " + wrong.encode(), b"Connection: close", target=b"/v1/models"))
        right = await exchange(port, request(b"Authorization: Bearer " + keys["NUL in the key"].encode(), b"Connection: close", target=b"/v1/models"))
        # The key in the browser subprotocol alone: no protocol to select, which aiohttp would log with the key.
        protocols = [websockets.Subprotocol(f"openai-insecure-api-key.{keys['subprotocol']}")]
        async with websockets.connect(f"ws://127.0.0.1:{port}{PATH}", subprotocols=protocols) as ws:
            assert json.loads(await ws.recv())["type"] == "session.created"
    finally:
        process.terminate()
        output, _ = await asyncio.wait_for(process.communicate(), 10)

    problems: list[str] = []  # every leak at once, so a failure shows the whole picture
    for name in MALFORMED:
        for case in (name, f"{name}, master key"):
            status, body = status_and_body(responses[case])
            for secret in (keys[name], master):
                if piece := leaked(responses[case], secret, 8):
                    problems.append(f"{case}: the response echoes {piece!r}")
            if status != 400 or as_json(body) != FIXED_ERROR:
                problems.append(f"{case}: got {status} {body[:80]!r}")
    for name, key in [*keys.items(), ("master key", master)]:
        if piece := leaked(output, key, SHOWN + 1):  # a display prefix is fine, more is not
            problems.append(f"{name}: the log carries {piece!r}")
    lines = output.decode(errors="replace").count("malformed HTTP request from 127.0.0.1")
    if "debug" in log_options and lines != 2 * len(MALFORMED):  # at debug, one line per malformed request, naming nothing of it
        problems.append(f"{lines} debug lines for {2 * len(MALFORMED)} malformed requests")
    assert not problems, "\n".join(problems)

    status, body = status_and_body(responses["wrong key"])
    assert status == 401
    assert json.loads(body)["error"]["code"] == "invalid_api_key"
    assert leaked(responses["wrong key"], wrong, 8) is None
    assert leaked(output, wrong, SHOWN + 1) is None
    assert status_and_body(right)[0] == 200


@pytest.mark.parametrize("formatter", [TextFormatter(), JsonFormatter()], ids=["text", "json"])
def test_aiohttp_records_keep_their_traceback_but_never_an_exception_message(formatter: logging.Formatter) -> None:
    """What aiohttp's own loggers might still write (a handler's 500, an unhandled exception) goes
    through the same guard: exception types and frames, never their text."""
    guard_aiohttp_logs()
    key = new_key()
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter)
    for name in ("aiohttp.server", "aiohttp.web", "aiohttp.access", "aiohttp.websocket"):
        logger = logging.getLogger(name)
        logger.addHandler(handler)
        try:
            try:
                try:
                    raise BadHttpMessage(f"Invalid header value char: b'Authorization: Bearer {key}'")
                except BadHttpMessage as exc:
                    raise RuntimeError(f"while reading {key}") from exc
            except RuntimeError:
                logger.exception("Error handling request from %s", "127.0.0.1")
            if name == "aiohttp.websocket":  # its one line with arguments, as web_ws writes it
                logger.warning("%s: Client protocols %r don't overlap server-known ones %r", "127.0.0.1", [f"openai-insecure-api-key.{key}"], ())
        finally:
            logger.removeHandler(handler)
    text = stream.getvalue()
    assert leaked(text.encode(), key, SHOWN + 1) is None
    # Both exceptions of the chain, from aiohttp.server and aiohttp.web; access lines and websocket lines
    # with arguments are dropped.
    assert text.count("aiohttp.http_exceptions.BadHttpMessage: (message withheld") == 2
    assert text.count("RuntimeError: (message withheld") == 2
    assert "raise RuntimeError" in text  # the frames are kept
    assert "aiohttp.access" not in text
    assert "overlap" not in text  # the subprotocol warning quotes the header
