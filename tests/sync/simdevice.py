"""A device in Python that follows the same algorithm as web/js/sync.js.

Local store + numbered outbox; push the oldest unacknowledged mutations, drop what the
server acknowledges; pull after the cookie and rebase: a pulled record never overwrites
a record with a pending local mutation, but a tombstone always wins.
The transport is injected, so tests can drop, duplicate and reorder requests.
"""

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tests.sync.factories import make_rest


class Dropped(Exception):
    """The request or its response was lost; the device does not know which."""


# send(method, path, json_body, params) -> parsed JSON body; raises Dropped.
Send = Callable[[str, str, Any, dict[str, Any] | None], dict[str, Any]]


@dataclass
class Device:
    name: str
    send: Send
    batch_size: int = 50
    client_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    rests: dict[str, dict[str, Any]] = field(default_factory=dict)
    outbox: list[dict[str, Any]] = field(default_factory=list)
    next_seq: int = 1
    cookie: int = 0
    # What this device last did to each id: ("put", note) or ("delete", None).
    last_write: dict[str, tuple[str, str | None]] = field(default_factory=dict)
    sent_batches: list[dict[str, Any]] = field(default_factory=list)

    # -- local changes (one "transaction": store + outbox) --------------------------------
    def _record(self, op: str, rest_id: str, rest: dict[str, Any] | None) -> None:
        mutation: dict[str, Any] = {"seq": self.next_seq, "op": op, "id": rest_id}
        if rest is not None:
            mutation["rest"] = dict(rest)
            self.rests[rest_id] = dict(rest)
        else:
            self.rests.pop(rest_id, None)
        self.outbox.append(mutation)
        self.next_seq += 1
        self.last_write[rest_id] = (op, rest["note"] if rest else None)

    def create(self, note: str) -> str:
        rest = make_rest(note=note)
        self._record("put", rest["id"], rest)
        return str(rest["id"])

    def edit(self, rest_id: str, note: str) -> None:
        self._record("put", rest_id, {**self.rests[rest_id], "note": note})

    def delete(self, rest_id: str) -> None:
        self._record("delete", rest_id, None)

    # -- sync ------------------------------------------------------------------------------
    def pending_ids(self) -> set[str]:
        return {m["id"] for m in self.outbox}

    def acknowledge(self, last_applied_seq: int) -> None:
        self.outbox = [m for m in self.outbox if m["seq"] > last_applied_seq]

    def push_body(self) -> dict[str, Any] | None:
        if not self.outbox:
            return None
        return {"client_id": self.client_id, "mutations": self.outbox[: self.batch_size]}

    def push_once(self, body: dict[str, Any] | None = None) -> bool:
        """Send one batch (the given one, or the head of the outbox) and take its answer."""
        body = body or self.push_body()
        if body is None:
            return True
        self.sent_batches.append(body)
        answer = self.send("POST", "/api/sync/push", body, None)
        self.acknowledge(int(answer["last_applied_seq"]))
        return True

    def apply_pull(self, answer: dict[str, Any]) -> None:
        # Acknowledge first: what remains pending has no effect in this snapshot yet.
        self.acknowledge(int(answer["last_applied_seq"]))
        pending = self.pending_ids()
        for change in answer["changes"]:
            if change["deleted"]:
                self.rests.pop(change["id"], None)  # tombstones win, even over pending edits
            elif change["id"] not in pending:
                self.rests[change["id"]] = change["rest"]
        self.cookie = int(answer["cookie"])

    def pull_once(self) -> bool:
        """One page; True when there is nothing more to pull."""
        answer = self.send("GET", "/api/sync/pull", None,
                           {"since": self.cookie, "client_id": self.client_id})
        self.apply_pull(answer)
        return not answer["has_more"]

    def sync(self, max_rounds: int = 1000) -> None:
        """Push everything, then pull everything (raises Dropped on a lost request)."""
        for _ in range(max_rounds):
            if not self.outbox:
                break
            self.push_once()
        for _ in range(max_rounds):
            if self.pull_once():
                break
