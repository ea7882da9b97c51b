"""Limits that hold across gateway instances, kept in Redis (issue 8).

Each open session holds a lease: a member of the key's sorted set whose score is its expiry, renewed
by its instance every third of the lease. An instance that dies stops renewing, and its sessions stop
counting once their leases run out (lessons-from-peers.md (d) 15). Expiry uses Redis's clock, so the
instances' clocks need not agree. Spend per key is a Redis float, seeded from the database the first
time a key is seen. Every operation fails closed: no Redis, no new session.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

__all__ = ["LeaseStoreError", "Leases"]

PREFIX = "livegate:"

# KEYS[1] the key's leases; ARGV: lease seconds, the member, the limit. 1 when a lease was taken.
_ACQUIRE = """
local now = redis.call('TIME')
local t = tonumber(now[1]) + tonumber(now[2]) / 1e6
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', t)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[3]) then
  return 0
end
redis.call('ZADD', KEYS[1], t + tonumber(ARGV[1]), ARGV[2])
redis.call('EXPIRE', KEYS[1], math.ceil(tonumber(ARGV[1])) + 1)
return 1
"""

# KEYS: the leases' sets; ARGV[1] lease seconds, then one member per key. Only leases still held are renewed.
_RENEW = """
local now = redis.call('TIME')
local t = tonumber(now[1]) + tonumber(now[2]) / 1e6
for i, key in ipairs(KEYS) do
  redis.call('ZADD', key, 'XX', t + tonumber(ARGV[1]), ARGV[i + 1])
  redis.call('EXPIRE', key, math.ceil(tonumber(ARGV[1])) + 1)
end
return #KEYS
"""


# KEYS[1] the key's spend; ARGV[1] this cost. 0 when Redis has no count yet (the caller seeds it).
_ADD_SPEND = """
if redis.call('EXISTS', KEYS[1]) == 1 then
  redis.call('INCRBYFLOAT', KEYS[1], ARGV[1])
  return 1
end
return 0
"""


class LeaseStoreError(Exception):
    """Redis did not answer: limits cannot be checked."""


class Leases:
    def __init__(self, url: str, lease_s: float = 30.0) -> None:
        import redis.asyncio as redis  # only when Redis is configured: it adds a tenth of a second to the start

        self.lease_s = lease_s
        self._redis: Any = redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
        self._acquire = self._redis.register_script(_ACQUIRE)
        self._renew = self._redis.register_script(_RENEW)
        self._add_spend = self._redis.register_script(_ADD_SPEND)

    async def close(self) -> None:
        await self._redis.aclose()

    async def ping(self) -> None:
        await self._call(self._redis.ping())

    async def acquire(self, key_id: str, member: str, limit: int) -> bool:
        return bool(await self._call(self._acquire(keys=[f"{PREFIX}leases:{key_id}"], args=[self.lease_s, member, limit])))

    async def renew(self, held: Iterable[tuple[str, str]]) -> None:
        held = list(held)
        if held:
            keys = [f"{PREFIX}leases:{key_id}" for key_id, _ in held]
            await self._call(self._renew(keys=keys, args=[self.lease_s, *(member for _, member in held)]))

    async def release(self, key_id: str, member: str) -> None:
        await self._call(self._redis.zrem(f"{PREFIX}leases:{key_id}", member))

    async def spent(self, key_id: str) -> float | None:
        """The key's spend across instances, or None before anything has counted it."""
        value = await self._call(self._redis.get(f"{PREFIX}spent:{key_id}"))
        return None if value is None else float(value)

    async def seed(self, key_id: str, total: float) -> float:
        """Start the key's count from ``total`` (the database's figure) unless another instance did."""
        name = f"{PREFIX}spent:{key_id}"
        await self._call(self._redis.set(name, repr(total), nx=True))
        return float(await self._call(self._redis.get(name)) or 0)

    async def add_spend(self, key_id: str, cost: float) -> bool:
        """Add to the key's count; False when there is none yet to add to."""
        return bool(await self._call(self._add_spend(keys=[f"{PREFIX}spent:{key_id}"], args=[repr(cost)])))

    @staticmethod
    async def _call(awaitable: Any) -> Any:
        from redis import RedisError

        try:
            return await awaitable
        except (RedisError, OSError) as exc:
            raise LeaseStoreError(str(exc) or type(exc).__name__) from exc
