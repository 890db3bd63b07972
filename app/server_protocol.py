"""The HTTP protocol the app is served with: uvicorn's httptools protocol, whose answers
go out at the end of the event loop's turn while other requests are in progress.

    uvicorn app.main:app --http app.server_protocol:TurnWritesProtocol

uvicorn writes each part of an answer (its head, its body) to the socket as it is sent:
two system calls per answer, each of which wakes a client that is waiting for it. A busy
server answers dozens of requests in one turn of its event loop. Held until the turn
ends, each connection's answers go out in one call, and a client waiting on several
connections wakes once for the lot (as Netty's FlushConsolidationHandler and Node's
cork() do). With fifty connections on one core (bench/api.py), the server's CPU time per
replayed read went from 38-45 us to 34-37 us; per fixed answer (the ceiling), it stayed
at 18-20 us. Most of the saving is in the kernel: fewer wake-ups of a waiting client.

Held writes wait only for what is already running: when no other request is in progress,
the answer goes out at once, with whatever is held, so a lone client never waits for a
turn to end. Large writes (a stretch of audio) go out at once too, after what is held, so
that the socket's own flow control sees them as they come.
"""

import asyncio
import logging
import weakref
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

log = logging.getLogger(__name__)

# A write this large is not held: its system call costs little next to its copy.
HOLD_AT_MOST_BYTES = 16 << 10


class TurnWrites:
    """The connections of one event loop with writes held until the end of the turn."""

    def __init__(self) -> None:
        self._holding: list[TurnWritesTransport] = []

    def hold(self, transport: "TurnWritesTransport") -> None:
        if not self._holding:
            # Runs after the callbacks already scheduled: the requests this turn is running.
            asyncio.get_running_loop().call_soon(self.flush)
        self._holding.append(transport)

    def flush(self) -> None:
        holding, self._holding = self._holding, []
        try:
            while holding:
                _flush_or_abort(holding.pop())
        finally:
            for transport in holding:  # after an error nothing should raise: next turn
                self.hold(transport)


def _flush_or_abort(transport: "TurnWritesTransport") -> None:
    try:
        transport.flush()
    except Exception:  # one broken connection must not keep the others' answers
        log.exception("Could not write a held answer; its connection is aborted.")
        transport.abort()


_turn_writes: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, TurnWrites]" = (
    weakref.WeakKeyDictionary())


def turn_writes_of(loop: asyncio.AbstractEventLoop) -> TurnWrites:
    turn_writes = _turn_writes.get(loop)
    if turn_writes is None:
        turn_writes = _turn_writes[loop] = TurnWrites()
    return turn_writes


class TurnWritesTransport:
    """A connection's transport whose writes are held while other requests are in
    progress (`in_progress`: the server's request tasks, this one's included)."""

    def __init__(self, transport: asyncio.Transport, turn_writes: TurnWrites,
                 in_progress: set[Any]) -> None:
        self._transport = transport
        self._turn_writes = turn_writes
        self._in_progress = in_progress
        self._held: list[bytes] = []
        self._held_bytes = 0

    def write(self, data: bytes) -> None:
        if len(self._in_progress) <= 1:
            self._turn_writes.flush()  # nobody else is about to write: everything goes
            self._transport.write(data)
        elif len(data) + self._held_bytes > HOLD_AT_MOST_BYTES:
            self.flush()
            self._transport.write(data)
        elif data:
            if not self._held:
                self._turn_writes.hold(self)
            self._held.append(bytes(data))
            self._held_bytes += len(data)

    def writelines(self, chunks: Any) -> None:
        for chunk in chunks:
            self.write(chunk)

    def flush(self) -> None:
        held, self._held, self._held_bytes = self._held, [], 0
        if not held or self._transport.is_closing():
            return  # the connection is gone: its answers can no longer be delivered
        if len(held) == 1:
            self._transport.write(held[0])
        else:
            self._transport.writelines(held)  # one system call

    def get_write_buffer_size(self) -> int:
        return self._transport.get_write_buffer_size() + self._held_bytes

    def write_eof(self) -> None:
        self.flush()
        self._transport.write_eof()

    def close(self) -> None:
        self.flush()  # an answer sent before closing is delivered, as by the transport
        self._transport.close()

    def abort(self) -> None:
        self._held, self._held_bytes = [], 0
        self._transport.abort()

    def is_closing(self) -> bool:  # asked after every answer: spared __getattr__
        return self._transport.is_closing()

    def __getattr__(self, name: str) -> Any:
        # Everything else (get_extra_info, pause_reading, set_protocol, ...) as it is.
        return getattr(self._transport, name)


class TurnWritesProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, writing through a TurnWritesTransport."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        # After the flow control, which pauses and resumes reading on the socket itself.
        self.transport = TurnWritesTransport(  # type: ignore[assignment]
            transport, turn_writes_of(self.loop), self.tasks)

    def eof_received(self) -> None:
        # The client has sent all it will (a half-close): uvloop closes the socket as soon
        # as this returns, and what is held would never go out.
        self.transport.flush()  # type: ignore[attr-defined]
        super().eof_received()


# As uvicorn's --http takes it.
SERVER_PROTOCOL = f"{__name__}:{TurnWritesProtocol.__name__}"
