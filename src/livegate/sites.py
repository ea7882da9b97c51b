"""Helpers for aiohttp sites shared by the gateway and the emulator."""

from __future__ import annotations

from aiohttp import web

__all__ = ["bound_port"]


def bound_port(site: web.TCPSite) -> int:
    """The port a site listens on, known only once bound when it was asked for port 0."""
    server = site._server  # aiohttp keeps the event loop's server here (asyncio's or uvloop's)
    sockets = getattr(server, "sockets", None)
    assert sockets, "the site is not listening"
    return int(sockets[0].getsockname()[1])
