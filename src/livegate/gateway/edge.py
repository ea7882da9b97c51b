"""The HTTP edge: what a request gets before it reaches a handler, and what aiohttp may log about it.

aiohttp's parser rejects a malformed request (a bare CR, an obs-fold or a NUL in a header, a line over
8190 bytes, a bad request line) with an exception whose text quotes the bytes it read, an
``Authorization`` header or a ``?key=`` included. Its ``RequestHandler.handle_error`` sends that text
as the 400 page and logs it with a traceback on ``aiohttp.server``. Here a malformed request gets one
fixed body instead, and aiohttp's loggers keep an exception's type and frames but never its text.
"""

from __future__ import annotations

import json
import logging
import traceback

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.web_request import BaseRequest

__all__ = ["MALFORMED_BODY", "EdgeRunner", "guard_aiohttp_logs"]

log = logging.getLogger("livegate.http")

# OpenAI's error shape, as every other refusal of the gateway; fixed, so it can echo nothing.
MALFORMED_BODY = json.dumps(
    {
        "error": {
            "message": "Malformed HTTP request: the request line or a header is invalid or longer than 8190 bytes.",
            "type": "invalid_request_error",
            "code": "malformed_request",
            "param": None,
        }
    }
).encode()


class EdgeRequestHandler(web.RequestHandler):
    __slots__ = ()

    def handle_error(
        self, request: BaseRequest, status: int = 500, exc: BaseException | None = None, message: str | None = None
    ) -> web.StreamResponse:
        if not isinstance(exc, HttpProcessingError):
            return super().handle_error(request, status, exc, message)  # a handler's 500 or 504: a fixed page
        # Clients and scanners send these all day: a debug line with the parser's verdict, not its text.
        log.debug("malformed HTTP request from %s: %s", request.remote, type(exc).__name__)
        if request.writer.output_size > 0:
            raise ConnectionError("Response is sent already, cannot send another response with the error message")
        response = web.Response(status=400, body=MALFORMED_BODY, content_type="application/json")
        response.force_close()
        return response


class EdgeServer(web.Server):
    """aiohttp's Server with livegate's request handler: ``Server.__call__`` is the protocol factory,
    and aiohttp offers no argument naming another handler class."""

    def __init__(self, server: web.Server) -> None:
        super().__init__(
            server.request_handler, request_factory=server.request_factory, handler_cancellation=server.handler_cancellation,
            **server._kwargs,
        )  # fmt: skip

    def __call__(self) -> web.RequestHandler:
        return EdgeRequestHandler(self, loop=self._loop, **self._kwargs)


class EdgeRunner(web.AppRunner):
    async def _make_server(self) -> web.Server:
        guard_aiohttp_logs()
        return EdgeServer(await super()._make_server())


class WithholdRequestData(logging.Filter):
    """aiohttp's server loggers: exceptions keep their type and frames, lose their message (a parser
    error's message quotes the request). Access lines quote the request line, ``?key=`` included, and
    the one ``aiohttp.websocket`` line with arguments quotes the client's ``Sec-WebSocket-Protocol``,
    where browsers put their key (``openai-insecure-api-key.<key>``): both are dropped."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name == "aiohttp.access" or (record.name == "aiohttp.websocket" and record.args):
            return False
        if record.exc_info and record.exc_info[1] is not None:
            record.exc_text = withheld(record.exc_info[1])
            record.exc_info = None
        return True


def withheld(exc: BaseException) -> str:
    """A traceback as Python prints it, with every exception of the chain reduced to its type."""
    blocks: list[str] = []
    seen: set[int] = set()
    current = exc
    while True:
        seen.add(id(current))
        kind = type(current)
        name = kind.__qualname__ if kind.__module__ == "builtins" else f"{kind.__module__}.{kind.__qualname__}"
        frames = "".join(traceback.format_tb(current.__traceback__))
        blocks.append(f"Traceback (most recent call last):\n{frames}{name}: (message withheld: it may quote the request)")
        cause: BaseException | None = current.__cause__
        link = "The above exception was the direct cause of the following exception:"
        if cause is None and not current.__suppress_context__:
            cause, link = current.__context__, "During handling of the above exception, another exception occurred:"
        if cause is None or id(cause) in seen:
            return "".join(reversed(blocks))
        blocks.append(f"\n\n{link}\n\n")
        current = cause


GUARD = WithholdRequestData()


def guard_aiohttp_logs() -> None:
    # A filter on the loggers themselves, so it holds whatever handlers an embedding application has.
    for name in ("aiohttp.server", "aiohttp.web", "aiohttp.access", "aiohttp.websocket"):
        logger = logging.getLogger(name)
        if GUARD not in logger.filters:
            logger.addFilter(GUARD)
