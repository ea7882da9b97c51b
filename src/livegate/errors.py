"""Every error livegate raises, split by who misbehaved and how it is reported.

    LivegateError
    ├── ClientError        an OpenAI Realtime client sent something wrong: an ``error`` event, the session goes on
    ├── HandshakeError     refused before the WebSocket upgrade: an HTTP status with a JSON body
    ├── UpstreamError      Gemini Live closed or failed: a close code and Google's reason
    ├── ConfigError        bad configuration or command line: a message naming the culprit, exit code 2
    └── GeminiClientError  (emulator) a Gemini Live client broke the protocol: the emulator closes with
                           the real service's close code and a reason cut to 123 bytes
"""

from __future__ import annotations

__all__ = [
    "ClientError",
    "ConfigError",
    "GeminiClientError",
    "HandshakeError",
    "LivegateError",
    "UpstreamError",
    "close_reason",
]

# RFC 6455 §5.5: a control frame carries at most 125 bytes, two of them the close code.
MAX_CLOSE_REASON_BYTES = 123


def close_reason(text: str) -> str:
    """Cut ``text`` to a close reason the way Google does: at 123 bytes, never inside a character."""
    data = text.encode()
    if len(data) <= MAX_CLOSE_REASON_BYTES:
        return text
    return data[:MAX_CLOSE_REASON_BYTES].decode(errors="ignore")


class LivegateError(Exception):
    """Base of every error raised on purpose by livegate."""


class ClientError(LivegateError):
    """An OpenAI Realtime client event that cannot be honoured; reported as an ``error`` event."""

    def __init__(
        self,
        message: str,
        *,
        code: str = "invalid_request_error",
        error_type: str = "invalid_request_error",
        param: str | None = None,
        event_id: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.error_type = error_type
        self.param = param
        self.event_id = event_id


class HandshakeError(LivegateError):
    """A connection refused before the upgrade; reported as an HTTP status with a JSON body."""

    def __init__(self, status: int, message: str, *, code: str = "invalid_request_error") -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code


class UpstreamError(LivegateError):
    """Gemini Live closed the connection or could not be reached."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(f"{code} {reason}")
        self.code = code
        self.reason = reason


class ConfigError(LivegateError):
    """Bad configuration or command-line input; the command exits with status 2."""

    exit_code = 2


class GeminiClientError(LivegateError):
    """A Gemini Live client broke the protocol; the emulator closes the socket with ``code``."""

    def __init__(self, code: int, reason: str) -> None:
        self.code = code
        self.reason = close_reason(reason)
        super().__init__(f"{code} {self.reason}")
