"""Where a call's ICE host candidates live (issue 16): a UDP port range, the addresses to bind, and
the address to advertise behind a one-to-one NAT (a container's published ports, a cloud VM's public
IP), none of which aiortc exposes.

aiortc creates its ICE agents (aioice's ``Connection``) itself, so livegate's subclass stands in for
aioice's in aiortc's module, and applies only inside a call that livegate sets up (``ICE`` holds the
settings in that context; any other peer connection in the process, a test's client included, is
aioice's own). A server needs host candidates only (RFC 8445 §5.1.1.1): STUN and TURN are the
browser's business.
"""

from __future__ import annotations

import asyncio
import contextvars
import socket

import aiortc.rtcicetransport
from aioice import Candidate, Connection
from aioice.candidate import candidate_foundation, candidate_priority
from aioice.ice import StunProtocol, get_host_addresses

from livegate.config import IceSettings

__all__ = ["ICE", "HostConnection"]

ICE: contextvars.ContextVar[IceSettings | None] = contextvars.ContextVar("livegate_ice", default=None)


class HostConnection(Connection):
    """aioice's agent, with livegate's host candidates when ``ICE`` is set where it is created."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.settings = ICE.get()

    async def get_component_candidates(self, component: int, addresses: list[str], timeout: int = 5) -> list[Candidate]:  # noqa: ASYNC109 (aioice's signature)
        settings = self.settings
        if settings is None or settings.default:
            return await super().get_component_candidates(component, addresses, timeout)
        loop = asyncio.get_running_loop()
        candidates = []
        for address in settings.addresses or tuple(get_host_addresses(use_ipv4=True, use_ipv6=False)):
            bound = await self._bind(loop, address, settings.ports)
            if bound is None:
                continue
            transport, protocol = bound
            host, port = transport.get_extra_info("sockname")[:2]
            shown = settings.advertised or host
            protocol.local_candidate = Candidate(
                foundation=candidate_foundation("host", "udp", shown), component=component, transport="udp",
                priority=candidate_priority(component, "host"), host=shown, port=port, type="host",
            )  # fmt: skip
            self._protocols.append(protocol)
            candidates.append(protocol.local_candidate)
        return candidates

    async def _bind(
        self, loop: asyncio.AbstractEventLoop, address: str, ports: tuple[int, int] | None
    ) -> tuple[asyncio.DatagramTransport, StunProtocol] | None:
        """A UDP socket on ``address``, on the first free port of the range (any port without one)."""
        for port in range(ports[0], ports[1] + 1) if ports else (0,):
            try:
                transport, protocol = await loop.create_datagram_endpoint(lambda: StunProtocol(self), local_addr=(address, port))
            except OSError:
                continue
            sock = transport.get_extra_info("socket")
            if sock is not None:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
            return transport, protocol
        return None


aiortc.rtcicetransport.Connection = HostConnection  # type: ignore[attr-defined]
