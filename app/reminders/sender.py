"""Sends the reminders that are due, every REMINDER_CHECK_S, from every instance.

A reminder is claimed (moved on to its next time) and committed before it is sent: when
a send fails, the device misses one reminder, and never gets two. Instances may all look
at once; each due reminder is claimed by one of them (service.claim_due).
"""

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Concatenate, ParamSpec, TypeVar
from urllib.parse import urlsplit

import anyio
import httpx
from sqlalchemy.engine import Engine
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool

from app.db import session_scope
from app.observability.metrics import record_push_send
from app.reminders import service
from app.reminders.webpush import VapidKey, b64url_decode, encrypt

log = logging.getLogger(__name__)

BATCH = 200  # reminders claimed per transaction; a full batch is followed by another
SENDS_AT_ONCE = 8
STOP_WAIT_S = 15  # on shutdown, a look under way may finish its sends for this long
# A reminder that cannot reach the phone within the hour is not worth delivering later;
# the topic lets a newer reminder replace one still waiting at the push service.
PUSH_HEADERS = {"Content-Encoding": "aes128gcm", "Content-Type": "application/octet-stream",
                "TTL": "3600", "Urgency": "normal", "Topic": "daily-reminder"}
REMINDER = {
    "title": "Time for a constructive rest",
    "body": "Lie back, knees bent, feet on the floor, and give your back a few quiet minutes.",
    "url": "/",
    "tag": "crg-reminder",
}

P = ParamSpec("P")
T = TypeVar("T")


class ReminderSender:
    def __init__(self, engine: Engine, key: VapidKey, subject: str, check_s: float,
                 session_slots: anyio.Semaphore) -> None:
        self._engine = engine
        self._key = key
        self._subject = subject
        self._check_s = check_s
        self._slots = session_slots  # the requests' own: the sender takes its turn
        # No redirects: a push service answers, it does not send us elsewhere.
        self._client = httpx.AsyncClient(timeout=10, follow_redirects=False)
        self._sends = anyio.Semaphore(SENDS_AT_ONCE)
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Look for due reminders in the background, from now until close()."""
        self._task = asyncio.create_task(self.run())

    async def close(self) -> None:
        """Stop looking. A look under way finishes first (for up to STOP_WAIT_S): what it
        claimed is sent, not lost to a restart."""
        self._stop.set()
        if self._task is not None:
            try:
                await asyncio.wait_for(self._task, STOP_WAIT_S)
            except TimeoutError:
                log.warning("reminders: shut down in the middle of sending")
        await self._client.aclose()

    async def run(self) -> None:
        """Look every `check_s` until close(); a failed look is logged and tried again."""
        while not self._stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), self._check_s)
                return  # stopped while waiting
            try:
                while len(await self.send_due()) == BATCH and not self._stop.is_set():
                    pass  # more are due: the next batch at once
            except Exception:  # noqa: BLE001  (the database may be away; look again later)
                log.warning("reminders: could not look for due reminders", exc_info=True)

    async def send_due(self, now: datetime | None = None) -> list[str]:
        """Claim the reminders due at `now` and send them; the outcome of each."""
        now = now or datetime.now(UTC)
        due = await self._in_transaction(service.claim_due, now, BATCH)
        outcomes = await asyncio.gather(*(self._send(reminder) for reminder in due))
        gone = [reminder.id for reminder, outcome in zip(due, outcomes, strict=True)
                if outcome == "gone"]
        if gone:
            await self._in_transaction(service.forget, gone)
        for outcome in outcomes:
            record_push_send(outcome)
        return list(outcomes)

    async def _in_transaction(self, work: Callable[Concatenate[Session, P], T],
                              *args: P.args, **kwargs: P.kwargs) -> T:
        def run() -> T:
            with session_scope(self._engine) as db:
                return work(db, *args, **kwargs)

        async with self._slots:
            return await run_in_threadpool(run)

    async def _send(self, reminder: service.DueReminder) -> str:
        if reminder.late:
            return "missed"
        host = urlsplit(reminder.endpoint).hostname  # the endpoint itself is a secret URL
        async with self._sends:
            try:
                body = encrypt(json.dumps(REMINDER).encode(), b64url_decode(reminder.p256dh),
                               b64url_decode(reminder.auth))
                headers = {**PUSH_HEADERS, "Authorization": self._key.authorization(
                    reminder.endpoint, self._subject)}
                answer = await self._client.post(reminder.endpoint, content=body,
                                                 headers=headers)
            except Exception as error:  # noqa: BLE001  (one reminder's failure is its own)
                log.warning("reminders: sending to %s failed (%s)", host, type(error).__name__)
                return "failed"
        if answer.status_code in (200, 201, 202):
            return "sent"
        if answer.status_code in (404, 410):
            return "gone"  # unsubscribed, or expired: forgotten
        log.warning("reminders: %s answered %d", host, answer.status_code)
        return "failed"
