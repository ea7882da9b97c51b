"""Usage of finished responses, written by one task in batches (issue 14): a session only appends to
a list, so the audio path never waits for the database, and a response's bill survives its client
hanging up (sessions wait for ``flush`` before they are recorded as ended). A batch gathers for up to
``BATCH_S``: one transaction for all the responses that end meanwhile, across sessions."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from livegate.keys import Accounts
from livegate.store import UsageRecord

__all__ = ["Ledger"]

log = logging.getLogger("livegate")

Stored = Callable[[UsageRecord], None]
BATCH_S = 0.5


class Ledger:
    def __init__(self, accounts: Accounts) -> None:
        self.accounts = accounts
        self._pending: list[tuple[UsageRecord, Stored]] = []
        self._wake = asyncio.Event()
        self._now = asyncio.Event()  # someone waits in flush: write without gathering more
        self._idle = asyncio.Event()
        self._idle.set()
        self._task = asyncio.get_running_loop().create_task(self._write())

    def add(self, record: UsageRecord, then: Stored) -> None:
        """Record ``record``; ``then`` gets it priced once it is stored."""
        self._pending.append((record, then))
        self._idle.clear()
        self._wake.set()

    async def flush(self) -> None:
        """Until everything added so far is written (or has failed and been logged)."""
        if not self._idle.is_set():
            self._now.set()
            await self._idle.wait()

    async def close(self) -> None:
        await self.flush()
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task

    async def _write(self) -> None:
        while True:
            await self._wake.wait()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._now.wait(), BATCH_S)
            self._wake.clear()
            self._now.clear()
            await self._write_batch()
            if not self._pending:
                self._idle.set()

    async def _write_batch(self) -> None:
        # A method of its own: the batch's callbacks hold their sessions, and die with this frame.
        batch, self._pending = self._pending, []
        try:
            stored = await self.accounts.record([record for record, _ in batch])
        except Exception as exc:  # the database went away: these responses are lost to billing, and said so
            log.error("usage of %d responses not recorded: %s: %s", len(batch), type(exc).__name__, exc)
            return
        for record, (_, then) in zip(stored, batch, strict=True):
            try:
                then(record)
            except Exception:
                log.exception("after recording the usage of %s", record.response_id)
