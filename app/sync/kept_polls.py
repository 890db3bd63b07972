"""Answers to polls with nothing new, kept in memory to be given again.

A device polls every few seconds, and almost every poll finds nothing new. Such an answer
is kept by the session's hash (never the cookie) and the question as sent (the query
string), and given again (ReplayKeptPolls, in app/sync/direct_pull.py) until the
database changes or the session is due for its daily renewal. What tells of a change is
the database's own: SqlitePolls asks SQLite's data_version, PostgresPolls listens for
the notifications that writes to the tables a pull reads send; either one lets all the
kept answers go at once.
"""

from dataclasses import dataclass
from datetime import datetime
from time import time as unix_time

from app.auth.sessions import LiveSession, renewal_due_after
from app.config import Settings
from app.sync.service import Pulled

# Up to this many answers are kept (about one per device that polls); past it, the one
# kept or renewed longest ago is let go first.
MAX_KEPT_ANSWERS = 20_000

# The session's hash, and the question (the query string as sent).
PollKey = tuple[str, bytes]


@dataclass(frozen=True, slots=True)
class KeptPoll:
    body: bytes
    fresh_until: float  # a Unix time: from then on, the session is due for renewal


class KeptPolls:
    def __init__(self) -> None:
        self._answers: dict[PollKey, KeptPoll] = {}

    def __contains__(self, key: PollKey) -> bool:
        return key in self._answers

    def get(self, key: PollKey) -> bytes | None:
        """The body kept for `key`, while its session needs no renewal."""
        kept = self._answers.get(key)
        return kept.body if kept is not None and unix_time() < kept.fresh_until else None

    def offer(self, question: bytes | None, session: LiveSession, answer: Pulled | None,
              body: bytes, settings: Settings) -> None:
        """Keep the answer to `question` (the query string as sent; None keeps nothing) if
        it has nothing new and its session needs no renewal, which the whole path does."""
        if (question is not None and answer is not None and not answer.answer["changes"]
                and session.renew_until is None):
            self._keep((session.token_hash, question), body,
                       renewal_due_after(answer.session_expires_at, settings))

    def _keep(self, key: PollKey, body: bytes, fresh_until: datetime) -> None:
        # Popped first, so that a kept answer renewed goes to the end of the line.
        if self._answers.pop(key, None) is None and len(self._answers) >= MAX_KEPT_ANSWERS:
            del self._answers[next(iter(self._answers))]
        self._answers[key] = KeptPoll(body, fresh_until.timestamp())

    def clear(self) -> None:
        self._answers.clear()
