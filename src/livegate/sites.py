"""Helpers for aiohttp sites shared by the gateway and the emulator."""

from __future__ import annotations

import asyncio

from aiohttp import web

__all__ = ["bound_port"]


def bound_port(site: web.TCPSite) -> int:
    """The port a site listens on, known only once bound when it was asked for port 0."""
    server = site._server  # aiohttp keeps the asyncio server here
    assert isinstance(server, asyncio.base_events.Server)
    return int(server.sockets[0].getsockname()[1])
