"""Who may open a session, and what it costs them: the master key, virtual keys (hashed in the store),
and the accounting of every response (issue 8)."""

from __future__ import annotations

import datetime
import hashlib
import hmac
import json
import logging
import secrets
import time
from collections import Counter
from dataclasses import dataclass

from livegate.accounting import DEFAULT_PRICES, Price, cost
from livegate.errors import HandshakeError
from livegate.gemini.tokens import NativeToken
from livegate.leases import Leases, LeaseStoreError
from livegate.secrets import NATIVE_KEY, SECRET_PREFIX, Minted, SecretRecord
from livegate.store import KeyRecord, Store, UsageRecord

__all__ = ["Accounts", "Grant", "hash_key", "new_key"]

log = logging.getLogger("livegate.keys")
KEY_PREFIX = "lg-"


def new_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(24)


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def shown(key: str) -> str:
    """How a key appears in logs and listings: its first ten characters."""
    return key[:10] + "…"


@dataclass(frozen=True)
class Grant:
    """The right to one session: by the master key (no record) or a virtual key."""

    key: KeyRecord | None
    secret: SecretRecord | None = None  # the ephemeral secret presented, claimed at the upgrade


class Accounts:
    def __init__(
        self, store: Store, *, master_key: str | None, prices: dict[str, Price | None] | None = None, leases: Leases | None = None
    ) -> None:
        self.store = store
        self.leases = leases  # Redis: limits across instances; None: this process's counts
        self.master_key = master_key
        self.prices = prices or {}
        self.live: Counter[str] = Counter()  # open sessions per virtual key, in this process
        self._warned: set[str] = set()

    @property
    def open_mode(self) -> bool:
        return self.master_key is None

    def _is_master(self, key: str | None) -> bool:
        return self.master_key is not None and bool(key) and hmac.compare_digest(str(key).encode(), self.master_key.encode())

    async def authorize(self, key: str | None, model: str | None, now: float, *, native: bool = False) -> Grant:
        """Decide before the upgrade (lessons-from-peers.md (d) 11): a grant, or a HandshakeError.
        ``model`` None: not known before the upgrade (the native front reads it from the setup, and
        checks it against the key's models there). ``native``: the native front, whose ephemeral
        tokens are its own (gemini.tokens)."""
        if self._is_master(key):
            return Grant(None)
        if key and key.startswith(SECRET_PREFIX):
            return await self._authorize_secret(key, model, now, native)
        if key and key.startswith(KEY_PREFIX):
            record = await self.store.key(hash_key(key))
            if record is not None:
                await self._check(record, model, now)
                return Grant(record)
        if self.open_mode:
            return Grant(None)  # loopback-only development mode: any key, or none
        if not key:
            raise HandshakeError(401, "Missing API key: send Authorization: Bearer <key>.", code="missing_api_key")
        raise HandshakeError(401, "Incorrect API key provided.", code="invalid_api_key")

    async def identify(self, key: str | None, now: float) -> KeyRecord | None:
        """Who is calling a REST endpoint (no model involved): a virtual key's record, None for the
        master key or development mode, else a 401."""
        if self._is_master(key):
            return None
        if key and key.startswith(KEY_PREFIX):
            record = await self.store.key(hash_key(key))
            if record is not None and _lapsed(record, now) is None:
                return record
        if self.open_mode:
            return None
        raise HandshakeError(401, "Incorrect API key provided." if key else "Missing API key: send Authorization: Bearer <key>.", code="invalid_api_key" if key else "missing_api_key")

    async def _authorize_secret(self, key: str, model: str | None, now: float, native: bool) -> Grant:
        secret = await self.store.secret(hash_key(key))
        if secret is None:
            raise HandshakeError(401, "Incorrect API key provided.", code="invalid_api_key")
        if secret.native != native:
            where = "Gemini Live sessions (BidiGenerateContentConstrained)" if secret.native else "OpenAI Realtime sessions (/v1/realtime)"
            raise HandshakeError(401, f"This ephemeral key opens {where}.", code="invalid_api_key")
        if secret.used:
            raise HandshakeError(401, "This ephemeral key has already been used to open a session.", code="invalid_api_key")
        if now >= secret.expires_at:
            raise HandshakeError(401, "This ephemeral key has expired.", code="invalid_api_key")
        if model is not None and model != secret.model:
            raise HandshakeError(403, f"This ephemeral key was issued for the model '{secret.model}', not '{model}'.", code="model_not_allowed")
        issuer = None
        if secret.key_id is not None:
            issuer = await self.store.key(secret.key_id)
            if issuer is None:
                raise HandshakeError(401, "The API key that issued this ephemeral key no longer exists.", code="invalid_api_key")
            await self._check(issuer, model, now)
        return Grant(issuer, secret)

    async def claim(self, grant: Grant, now: float) -> str:
        """Once the upgrade is certain: spend the grant's ephemeral secret (a lost race is a 401) and take
        a session slot of its key (none left is a 429). Returns the lease to give back at the end."""
        if grant.secret is not None and not await self.store.claim_secret(grant.secret.id, now):
            raise HandshakeError(401, "This ephemeral key has already been used to open a session.", code="invalid_api_key")
        lease = secrets.token_hex(8)
        key = grant.key
        if key is None:
            return lease
        if key.max_sessions is not None:
            if self.leases is None:
                taken = self.live[key.id] < key.max_sessions
            else:
                try:
                    taken = await self.leases.acquire(key.id, lease, key.max_sessions)
                except LeaseStoreError as exc:
                    raise _limits_unavailable(exc) from None
            if not taken:
                raise HandshakeError(429, f"This API key already has {key.max_sessions} open sessions.", code="rate_limit_exceeded")
        self.live[key.id] += 1
        return lease

    async def issue_secret(self, grant: Grant, minted: Minted) -> None:
        if grant.secret is not None:
            raise HandshakeError(401, "An ephemeral key cannot issue ephemeral keys.", code="invalid_api_key")
        record = SecretRecord(
            hash_key(minted.secret), grant.key.id if grant.key else None, minted.model, json.dumps(minted.session),
            minted.beta, minted.expires_at,
        )  # fmt: skip
        await self.store.add_secret(record)

    async def issue_token(self, grant: Grant, token: NativeToken, model: str) -> None:
        """A native front's ephemeral token (gemini.tokens), bound to the deployment ``model``."""
        if grant.secret is not None:
            raise HandshakeError(401, "An ephemeral key cannot issue ephemeral keys.", code="invalid_api_key")
        session = json.dumps({NATIVE_KEY: token.setup, "expires_at": token.expires_at})
        await self.store.add_secret(SecretRecord(hash_key(token.secret), grant.key.id if grant.key else None, model, session, False, token.start_by))

    async def _check(self, key: KeyRecord, model: str | None, now: float) -> None:
        lapsed = _lapsed(key, now)
        if lapsed is not None:
            raise HandshakeError(401, f"This API key has {lapsed}.", code="invalid_api_key")
        if key.models and model is not None and model not in key.models:
            raise HandshakeError(403, f"This API key may not use the model '{model}'.", code="model_not_allowed")
        if key.budget_usd is not None and await self.spent(key.id) >= key.budget_usd:
            raise HandshakeError(429, "This API key has used its budget.", code="insufficient_quota")
        if key.minutes_per_day is not None:
            day = datetime.datetime.fromtimestamp(now, datetime.UTC).replace(hour=0, minute=0, second=0, microsecond=0).timestamp()
            if await self.store.minutes_between(key.id, day, day + 86400, now) >= key.minutes_per_day:
                raise HandshakeError(429, "This API key has used its session minutes for today.", code="rate_limit_exceeded")
        if key.max_sessions is not None and self.leases is None and self.live[key.id] >= key.max_sessions:
            raise HandshakeError(429, f"This API key already has {key.max_sessions} open sessions.", code="rate_limit_exceeded")

    async def spent(self, key_id: str) -> float:
        if self.leases is None:
            return await self.store.spent(key_id)
        try:
            shared = await self.leases.spent(key_id)
            # The database is read only the first time Redis meets the key.
            return shared if shared is not None else await self.leases.seed(key_id, await self.store.spent(key_id))
        except LeaseStoreError as exc:
            raise _limits_unavailable(exc) from None

    async def begin(self, grant: Grant, session_id: str, model: str, now: float) -> None:
        await self.store.session_started(session_id, grant.key.id if grant.key else None, model, now)

    async def end(self, grant: Grant, lease: str, session_id: str, now: float) -> None:
        await self.release(grant, lease)
        await self.store.session_ended(session_id, now)

    async def release(self, grant: Grant, lease: str) -> None:
        key = grant.key
        if key is not None:
            self.live[key.id] -= 1
            if self.leases is not None and key.max_sessions is not None:
                try:
                    await self.leases.release(key.id, lease)
                except LeaseStoreError as exc:
                    log.warning("could not release a session lease (it expires by itself): %s", exc)

    async def renew(self, held: list[tuple[Grant, str]]) -> None:
        """Keep this instance's leases alive (called every third of the lease)."""
        if self.leases is not None:
            await self.leases.renew((grant.key.id, lease) for grant, lease in held if grant.key is not None and grant.key.max_sessions is not None)

    def price(self, model: str) -> Price | None:
        if model in self.prices:
            return self.prices[model]
        return DEFAULT_PRICES.get(model)

    async def record(self, records: list[UsageRecord]) -> list[UsageRecord]:
        """Responses' usage, priced and stored in one transaction; with Redis, each key's spend is shared."""
        stored = []
        for record in records:
            priced = cost(record.usage, self.price(record.upstream_model))
            if priced is None and record.upstream_model not in self._warned:
                self._warned.add(record.upstream_model)
                log.warning("model %s has no price: its usage is recorded as unpriced (set input_cost_per_token etc.)", record.upstream_model)
            stored.append(UsageRecord(**{**record.__dict__, "cost_usd": priced}))
        await self.store.add_usage(stored)
        if self.leases is not None:
            spends: dict[str, float] = {}
            for record in stored:
                if record.cost_usd and record.key_id is not None:
                    spends[record.key_id] = spends.get(record.key_id, 0.0) + record.cost_usd
            for key_id, spend in spends.items():
                try:
                    if not await self.leases.add_spend(key_id, spend):
                        await self.leases.seed(key_id, await self.store.spent(key_id))  # includes these responses
                except LeaseStoreError as exc:
                    log.warning("spend not shared through Redis (recorded in the database): %s", exc)
        return stored

    async def still_valid(self, key: KeyRecord, now: float) -> str | None:
        """Why a live session's key no longer holds, or None: checked every few seconds."""
        current = await self.store.key(key.id)
        lapsed = "been revoked" if current is None else _lapsed(current, now)
        if lapsed is None:
            return None
        return "The API key of this session was revoked." if lapsed == "been revoked" else "The API key of this session has expired."


def _lapsed(key: KeyRecord, now: float) -> str | None:
    """Why a key no longer works at all ("been revoked", "expired"), or None."""
    if key.revoked:
        return "been revoked"
    if key.expires_at is not None and now >= key.expires_at:
        return "expired"
    return None


def _limits_unavailable(exc: Exception) -> HandshakeError:
    log.warning("limits store unavailable: %s", exc)
    return HandshakeError(503, "The gateway cannot check this key's limits right now; try again shortly.", code="limits_unavailable")


def create_key_record(key: str, name: str, *, models: tuple[str, ...] = (), budget_usd: float | None = None,
                      expires_at: float | None = None, max_sessions: int | None = None,
                      minutes_per_day: float | None = None) -> KeyRecord:  # fmt: skip
    return KeyRecord(hash_key(key), shown(key), name, models, budget_usd, expires_at, max_sessions, minutes_per_day, False, time.time())
