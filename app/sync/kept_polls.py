"""Answers to polls with nothing new, kept in memory to be given again.

A device polls again and again while the app is open, and almost every poll finds
nothing new. Such an answer is kept by the session's hash (never the cookie) and the
question as sent (the query string), and given again (ReplayKeptPolls, in
app/sync/direct_pull.py) until the database changes or the session is due for its daily
renewal. What tells of a change is the database's own: SqlitePolls asks SQLite's
data_version, and lets all the kept answers go at once; PostgresPolls listens for the
notifications that writes to the tables a pull reads send, each naming the account
written to, and lets go that account's answers.
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
    account: int


class KeptPolls:
    def __init__(self) -> None:
        self._answers: dict[PollKey, KeptPoll] = {}
        self._keys_of_account: dict[int, set[PollKey]] = {}

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
                       renewal_due_after(answer.session_expires_at, settings), session.user_id)

    def _keep(self, key: PollKey, body: bytes, fresh_until: datetime, account: int) -> None:
        # Let go first, so that a kept answer renewed goes to the end of the line.
        if not self._let_go(key) and len(self._answers) >= MAX_KEPT_ANSWERS:
            self._let_go(next(iter(self._answers)))
        self._answers[key] = KeptPoll(body, fresh_until.timestamp(), account)
        self._keys_of_account.setdefault(account, set()).add(key)

    def _let_go(self, key: PollKey) -> bool:
        kept = self._answers.pop(key, None)
        if kept is None:
            return False
        keys = self._keys_of_account[kept.account]
        keys.discard(key)
        if not keys:
            del self._keys_of_account[kept.account]
        return True

    def forget_account(self, account: int) -> None:
        """Let go the answers kept for the sessions of `account`."""
        for key in self._keys_of_account.pop(account, ()):
            del self._answers[key]

    def clear(self) -> None:
        self._answers.clear()
        self._keys_of_account.clear()
